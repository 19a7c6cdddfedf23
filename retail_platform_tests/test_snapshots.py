"""Publishing the marts for readers: deltas of what builds rewrote, equal to the tables."""

from __future__ import annotations

import json

import duckdb
import pytest

from retail_platform import snapshots
from retail_platform.snapshots import Mart

CUSTOMERS = Mart("dim_customers", key="customer_id")
FACT = Mart(
    "fact_daily_sales",
    key="order_date",
    stamped_by="intermediate.int_daily_sales",
    deletes_by="staging.base_orders_classified",
)


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema marts; create schema intermediate; create schema staging")
    con.execute(
        "create table marts.dim_customers as select range as customer_id, "
        "'c' || range as city, timestamp '2026-01-01' as _stamp from range(1000)"
    )
    # The fact: a view of a table stamped by day, and the orders whose stamps name the
    # days a build touched (as int_daily_sales and base_orders_classified).
    con.execute(
        "create table intermediate.int_daily_sales as select date '2026-01-01' + cast(d as int) as order_date, "
        "p as product_id, d * 10 + p as revenue, timestamp '2026-01-01' as _stamp "
        "from range(100) t(d), range(20) u(p)"
    )
    con.execute(
        "create table staging.base_orders_classified as select distinct order_date, _stamp "
        "from intermediate.int_daily_sales"
    )
    con.execute(
        "create view marts.fact_daily_sales as "
        "select order_date, product_id, revenue from intermediate.int_daily_sales"
    )
    yield con
    con.close()


def published(folder, table: str, order_by: str) -> list[tuple]:
    return snapshots.query(f"select * from marts.{table} order by {order_by}", folder)[1]


def parts(folder, table: str) -> list[dict]:
    return json.loads((folder / f"{table}.json").read_text())["parts"]


def test_a_build_publishes_the_rows_it_rewrote_not_the_table(con, tmp_path):
    folder = tmp_path / "marts"
    snapshots.publish(con, [CUSTOMERS, FACT], folder)
    assert [p["rows"] for p in parts(folder, "dim_customers")] == [1000]

    # A batch: 30 customers change, 5 are new; day 3 is rewritten without product 7,
    # day 4 loses all its rows (every order cancelled).
    con.execute(
        "update marts.dim_customers set city = 'moved', _stamp = timestamp '2026-01-02' "
        "where customer_id < 30"
    )
    con.execute(
        "insert into marts.dim_customers select range, 'new', timestamp '2026-01-02' from range(1000, 1005)"
    )
    con.execute(
        "delete from intermediate.int_daily_sales where order_date in (date '2026-01-04', date '2026-01-05')"
    )
    con.execute(
        "insert into intermediate.int_daily_sales select date '2026-01-04', range, 1, timestamp '2026-01-02' "
        "from range(20) where range <> 7"
    )
    con.execute(
        "insert into staging.base_orders_classified values "
        "(date '2026-01-04', timestamp '2026-01-02'), (date '2026-01-05', timestamp '2026-01-02')"
    )
    snapshots.publish(con, [CUSTOMERS, FACT], folder)

    # Only what changed was written: 35 customers; day 3's 19 rows and a tombstone.
    assert [p["rows"] for p in parts(folder, "dim_customers")] == [1000, 35]
    assert [p["rows"] for p in parts(folder, "fact_daily_sales")] == [2000, 20]
    assert (
        published(folder, "dim_customers", "customer_id")
        == con.execute("select * from marts.dim_customers order by customer_id").fetchall()
    )
    fact = con.execute(
        "select * from marts.fact_daily_sales order by order_date, product_id"
    ).fetchall()
    assert len(fact) == 2000 - 40 + 19
    assert published(folder, "fact_daily_sales", "order_date, product_id") == fact

    # A build that rewrote nothing publishes nothing new.
    snapshots.publish(con, [CUSTOMERS], folder)
    assert len(parts(folder, "dim_customers")) == 2


def test_deltas_worth_a_quarter_of_the_base_become_a_new_base(con, tmp_path):
    folder = tmp_path / "marts"
    snapshots.publish(con, [CUSTOMERS], folder)
    first = parts(folder, "dim_customers")
    for batch in range(1, 6):  # 100 customers rewritten per batch: the 3rd tips it over 250
        con.execute(
            f"update marts.dim_customers set city = 'b{batch}', "
            f"_stamp = timestamp '2026-01-01' + interval {batch} hour "
            f"where customer_id between {batch * 100} and {batch * 100 + 99}"
        )
        snapshots.publish(con, [CUSTOMERS], folder)
        assert (
            published(folder, "dim_customers", "customer_id")
            == con.execute("select * from marts.dim_customers order by customer_id").fetchall()
        )
    assert [p["rows"] for p in parts(folder, "dim_customers")] == [1000, 100, 100]
    # The files of the publications before the new base are gone.
    assert not (folder / first[0]["file"]).exists()
    assert sorted(f.name for f in folder.glob("dim_customers.*.parquet")) == sorted(
        p["file"] for p in parts(folder, "dim_customers")
    )


def test_a_full_rebuild_of_the_mart_replaces_the_base(con, tmp_path):
    folder = tmp_path / "marts"
    snapshots.publish(con, [CUSTOMERS], folder)
    con.execute(
        "create or replace table marts.dim_customers as select range as customer_id, "
        "'x' as city, 42 as score, timestamp '2026-02-01' as _stamp from range(10)"
    )
    snapshots.publish(con, [CUSTOMERS], folder)
    assert [p["rows"] for p in parts(folder, "dim_customers")] == [10]
    assert (
        published(folder, "dim_customers", "customer_id")
        == con.execute("select * from marts.dim_customers order by customer_id").fetchall()
    )
