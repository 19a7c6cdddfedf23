"""Incremental dbt builds give what a full rebuild gives, row for row.

Each test builds its own DuckDB file (conftest.py): simulator batches (with updates
and faults) or hand-made loads, `dbt build` after each, then the same raw rows
rebuilt with `--full-refresh`; every staging, quarantine and mart table must match.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from retail_platform.assets.dbt_metadata import report_in
from retail_platform.project import dbt_argv
from retail_platform.settings import DBT_PROJECT_DIR
from retail_platform.simulator.runner import BatchSizes, run_batch
from retail_platform.warehouse.duckdb import DuckDBWarehouse

# The contract's tables (docs/data_contract.md): what must not depend on how we got there.
CONTRACT_TABLES = (
    "staging.stg_customers",
    "staging.stg_products",
    "staging.stg_orders",
    "staging.stg_order_items",
    "staging.quarantine_customers",
    "staging.quarantine_products",
    "staging.quarantine_orders",
    "marts.dim_customers",
    "marts.dim_products",
    "marts.fact_daily_sales",
)


def dbt_env(db: Path) -> dict[str, str]:
    """The environment of a dbt command on the DuckDB file `db`."""
    return {
        **os.environ,
        "RETAIL_WAREHOUSE": "duckdb",
        "RETAIL_DUCKDB_PATH": str(db),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_build(db: Path, work: Path, *extra: str) -> str:
    result = subprocess.run(
        # No manifest/run_results JSON: nothing here reads them (nor in the platform's builds).
        dbt_argv("build", work, "--no-write-json", *extra),
        env=dbt_env(db),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr}"
    return result.stdout


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every contract table, all rows in a fixed order; not `_stamp` (the dimensions'),
    which says which run wrote a row, so differs by design."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(
                f"select columns(lambda c: c <> '_stamp') from {table} order by all"
            ).fetchall()
            for table in CONTRACT_TABLES
        }


def full_refresh_of(db: Path, work: Path) -> dict[str, list[tuple]]:
    """The same raw rows, rebuilt from scratch. In the same file, once the incremental
    result has been taken (a copy elsewhere would be another dbt profile: a full parse)."""
    dbt_build(db, work, "--full-refresh")
    return snapshot(db)


def assert_same(incremental: dict[str, list[tuple]], full: dict[str, list[tuple]]) -> None:
    for table in CONTRACT_TABLES:
        got, want = incremental[table], full[table]
        assert len(got) == len(want), f"{table}: {len(got)} rows incrementally, {len(want)} in full"
        diff = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
        assert not diff, f"{table}: first differing rows {diff[:3]}"


def reports(stdout: str) -> dict[str, dict]:
    """What a build run as Dagster runs it (`--log-format json`) reported, by model name."""
    found: dict[str, dict] = {}
    for line in stdout.splitlines():
        report = report_in(json.loads(line)) if line.startswith("{") else None
        if report is not None:
            found.setdefault(report.pop("unique_id").split(".")[-1], {}).update(report)
    return found


def assert_reports_count_the_views(stdout: str, db: Path) -> None:
    """The row counts and fact figures a build reported (kept as running totals,
    macros/running_totals.sql) are those of the views as they are."""
    built = reports(stdout)
    with duckdb.connect(str(db), read_only=True) as con:
        for table in CONTRACT_TABLES:
            ((rows,),) = con.execute(f"select count(*) from {table}").fetchall()
            assert built[table.split(".")[1]]["row_count"] == rows, table
        ((days, revenue),) = con.execute(
            "select count(distinct order_date), sum(revenue) from marts.fact_daily_sales"
        ).fetchall()
    newest = built["fact_daily_sales"]["days"][0]
    assert (newest[3], newest[4]) == (days, float(revenue))


def test_incremental_builds_equal_a_full_refresh(warehouse: DuckDBWarehouse, dbt_work: Path):
    db = warehouse.file
    for _ in range(5):
        run_batch(
            warehouse, sizes=BatchSizes(customers=150, products=15, orders=800), dirty_rate=0.08
        )
        assert_reports_count_the_views(dbt_build(db, dbt_work, "--log-format", "json"), db)

    incremental = snapshot(db)
    # The sequence exercised what it is meant to: updates and every kind of fault.
    ((versions, orders),) = warehouse.query(
        "select count(*), count(distinct order_id) from staging.base_orders_classified where reason is null"
    )
    assert versions > orders, "no order was updated across batches"
    reasons = {
        r for (r,) in warehouse.query("select distinct reason from staging.quarantine_orders")
    }
    assert {"malformed_json", "missing_id", "duplicate", "invalid_quantity"} <= reasons
    assert {"unknown_customer", "unknown_product"} & reasons
    # ... and the last build read its orders in every part of their scope
    # (macros/incremental.sql, static_key_parts): the range of the newest ids, the
    # older ones below it, and the orders re-judged by a late reference.
    compiled = dbt_work / "target" / "compiled" / "retail" / "models"
    classified = (compiled / "staging" / "base" / "base_orders_classified.sql").read_text()
    assert re.search(r"parsed\.order_id >= \d+ union all", " ".join(classified.split()))
    # (constant lists as `= any([...])`, which DuckDB applies in the scan: cross_db/filters.sql)
    assert re.search(
        r"parsed\.order_id = any\(\[[\d, ]+\]\) and parsed\.order_id < \d+", classified
    )
    assert re.search(r"parsed\.order_id = any\(\[[\d, ]+\]\) and not \(\(", classified)
    lines = (compiled / "staging" / "base" / "base_order_lines.sql").read_text()
    assert re.search(r"items\.order_id >= \d+\s+union all", lines)
    assert took_in_by_changes(dbt_work)

    assert_same(incremental, full_refresh_of(db, dbt_work))


def took_in_by_changes(work: Path) -> bool:
    """Whether the latest build of int_daily_sales took its input in by changes, not by
    whole days (the model's header)."""
    compiled = work / "target" / "compiled" / "retail" / "models" / "intermediate"
    sales = (compiled / "int_daily_sales.sql").read_text()
    by_changes = "right join changes" in sales
    assert by_changes != ('"base_order_lines"' in sales), "one way or the other"
    return by_changes


def test_daily_sales_left_out_of_a_build_catch_up_by_whole_days(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    # int_daily_sales takes in what base_orders_classified re-judged as changes only
    # when it took in the run before: left out of one build, the next recomputes the
    # days touched since, and the one after goes back to changes.
    db = warehouse.file
    ways = []
    for selection in ([], ["--exclude", "int_daily_sales+"], [], []):
        run_batch(
            warehouse, sizes=BatchSizes(customers=150, products=15, orders=800), dirty_rate=0.08
        )
        dbt_build(db, dbt_work, *selection)
        if not selection:
            ways.append(took_in_by_changes(dbt_work))
    assert ways == [False, False, True]  # first build; catching up; in step again
    assert_same(snapshot(db), full_refresh_of(db, dbt_work))


def test_a_build_without_new_raw_rows_changes_nothing(warehouse: DuckDBWarehouse, dbt_work: Path):
    db = warehouse.file
    for _ in range(2):
        run_batch(
            warehouse, sizes=BatchSizes(customers=100, products=10, orders=300), dirty_rate=0.05
        )
    dbt_build(db, dbt_work)
    before = snapshot(db)
    dbt_build(db, dbt_work)
    assert snapshot(db) == before


# Hand-made loads for what the simulator does not do on purpose: loads that commit late
# with an earlier loaded_at, an older version arriving after a newer one, a reference
# that resolves later, an order that moves day or gets cancelled.
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ts(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def customer(cid: int, city: str, updated: float) -> bytes:
    return json.dumps(
        {
            "customer_id": cid,
            "first_name": " Ada ",
            "last_name": "Lovelace",
            "email": f" C{cid}@Example.com ",
            "city": city,
            "country": "FR",
            "signup_ts": _ts(-100),
            "updated_at": _ts(updated),
        }
    ).encode()


def product(pid: int, price: float, updated: float) -> bytes:
    return json.dumps(
        {
            "product_id": pid,
            "name": f"p{pid}",
            "category": "c",
            "unit_price": price,
            "updated_at": _ts(updated),
        }
    ).encode()


def order(
    oid: int, cid: int, status: str, day: float, updated: float, items: list[tuple[int, int]]
) -> bytes:
    return json.dumps(
        {
            "order_id": oid,
            "customer_id": cid,
            "status": status,
            "order_ts": _ts(day * 24),
            "updated_at": _ts(updated),
            "items": [{"product_id": p, "quantity": q, "unit_price": 2.5} for p, q in items],
        }
    ).encode()


def test_dimension_reports_count_the_rows_the_upsert_adds_and_changes(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    """A dimension reports how many rows its build adds and changes (the dimension's
    pre-hook, macros/dagster_metadata.sql): in step with base_customers_classified,
    read off the versions that model rewrote; left out of a build, from its own rows.
    Both against the dimension's rows before and after each build."""
    db = warehouse.file

    def rows() -> dict[str, dict]:
        with duckdb.connect(str(db), read_only=True) as con:
            return {
                name: {
                    row[0]: row[1:]
                    for row in con.execute(
                        f"select columns(lambda c: c <> '_stamp') from marts.{name}"
                    ).fetchall()
                }
                for name in ("dim_customers", "dim_products")
            }

    held: dict[str, dict] = {}  # the dimensions' rows after the last build

    def build(label: str, customers: list[bytes], at_hours: float, *extra: str) -> None:
        at = T0 + timedelta(hours=at_hours)
        warehouse.load_batch("raw_customers", label, customers, loaded_at=at)
        warehouse.load_batch("raw_products", label, [product(10, 2.5, at_hours)], loaded_at=at)
        built = reports(dbt_build(db, dbt_work, "--log-format", "json", *extra))
        for name, now in rows().items():
            was = held.get(name, {})
            if name in built:  # not when left out of the build
                new = len(now.keys() - was.keys())
                changed = sum(1 for key in now.keys() & was.keys() if now[key] != was[key])
                figures = (built[name]["new_rows"], built[name]["changed_rows"])
                assert figures == (new, changed), (label, name)
            held[name] = now

    build("c1", [customer(1, "Lyon", 1), customer(2, "Oslo", 1)], 1)
    # 1 moves, 3 arrives, 2 is sent again as it was (a duplicate: re-judged, unchanged)
    build("c2", [customer(1, "Paris", 5), customer(3, "Rome", 5), customer(2, "Oslo", 1)], 5)
    # the dimensions are left out of a build in which 5 arrives ...
    build("c3", [customer(5, "Bern", 7)], 7, "--exclude", "dim_customers+", "dim_products+")
    # ... so the next does not follow the versions' rewrite: 5 is new to them, not changed
    build("c4", [customer(5, "Riga", 9), customer(4, "Kyiv", 9)], 9)
    # and in step again
    build("c5", [customer(4, "Lima", 11), customer(6, "Oslo", 11)], 11)
    assert set(rows()["dim_customers"]) == {1, 2, 3, 4, 5, 6}


def test_late_out_of_order_loads_and_late_references(warehouse: DuckDBWarehouse, dbt_work: Path):
    db = warehouse.file

    def build() -> None:
        assert_reports_count_the_views(dbt_build(db, dbt_work, "--log-format", "json"), db)

    def load(table: str, label: str, rows: list[bytes], at_hours: float) -> None:
        warehouse.load_batch(table, label, rows, loaded_at=T0 + timedelta(hours=at_hours))

    # Run 1: customers 1-2, products 10-11; orders, one of them for customer 3 (unknown yet)
    load("raw_customers", "c1", [customer(1, "Lyon", 1), customer(2, "Oslo", 1)], 1)
    load("raw_products", "p1", [product(10, 2.5, 1), product(11, 3.0, 1)], 1)
    load(
        "raw_orders",
        "o1",
        [
            order(100, 1, "placed", 0, 2, [(10, 1), (11, 2)]),
            order(101, 2, "placed", 0, 2, [(10, 5)]),
            order(102, 3, "placed", 1, 2, [(11, 1)]),  # unknown_customer for now
            # unknown_product for now; its customer (2) gets no new version when the
            # product arrives, so only the product can bring it back
            order(103, 2, "placed", 2, 2, [(99, 1)]),
        ],
        2,
    )
    build()

    # Run 2: customer 3 and product 99 arrive; order 100 is updated (moves a day, loses a
    # line); order 101 is cancelled, emptying its day for product 10 ...
    load("raw_customers", "c2", [customer(3, "Rome", 5), customer(1, "Paris", 5)], 5)
    load("raw_products", "p2", [product(99, 1.0, 5)], 5)
    load(
        "raw_orders",
        "o2",
        [order(100, 1, "paid", 3, 6, [(10, 1)]), order(101, 2, "cancelled", 0, 6, [(10, 5)])],
        6,
    )
    build()

    # Run 3: loads that commit now with EARLIER loaded_at than what was processed:
    # an older version of order 100 (must not win), an older customer 1 version, and a
    # copy of order 101's first payload (makes the copy loaded before it the original).
    load(
        "raw_orders",
        "o_late",
        [order(100, 1, "placed", 5, 4, [(11, 9)]), order(101, 2, "placed", 0, 2, [(10, 5)])],
        1.5,
    )
    load("raw_customers", "c_late", [customer(1, "Nice", 3)], 0.5)
    # ... and a malformed row and a duplicate within one load
    load(
        "raw_orders",
        "o3",
        [json.dumps('{"order_id": 1').encode(), order(104, 2, "placed", 4, 7, [(10, 1)])] * 2,
        7,
    )
    build()

    incremental = snapshot(db)
    stg_orders = {row[0]: row for row in incremental["staging.stg_orders"]}
    assert stg_orders[100][2] == "paid"  # the late older version did not win
    assert 102 in stg_orders and 103 in stg_orders  # late references resolved
    assert dict((r[0], r[4]) for r in incremental["staging.stg_customers"])[1] == "Paris"
    fact_days = {(r[0].isoformat(), r[1]) for r in incremental["marts.fact_daily_sales"]}
    assert ("2026-03-01", 10) not in fact_days  # order 101 cancelled, order 100 moved away
    assert took_in_by_changes(dbt_work)
    assert_same(incremental, full_refresh_of(db, dbt_work))


def test_only_the_first_build_of_a_vacuum_period_lets_duckdb_vacuum(
    warehouse: DuckDBWarehouse, dbt_work: Path, monkeypatch
):
    """macros/vacuum.sql: a build in the same period as the previous one checkpoints
    without vacuum; the first build of a period, and every build with a period of 0,
    vacuum as DuckDB does by default. Read off the statements dbt ran."""
    db = warehouse.file
    log = dbt_work / "logs" / "dbt.log"
    turned_off = "set global max_vacuum_tasks = 0"

    def build_with_period(minutes: int) -> bool:
        """Build; whether vacuum was turned off."""
        monkeypatch.setenv("RETAIL_DUCKDB_VACUUM_MINUTES", str(minutes))
        log.unlink(missing_ok=True)
        dbt_build(db, dbt_work, "--log-level-file", "debug")
        return turned_off in log.read_text()

    sizes = BatchSizes(customers=50, products=5, orders=100)
    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    assert not build_with_period(10_000_000)  # the first build: nothing stamped before it
    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    assert build_with_period(10_000_000)  # the previous build's stamp: the same period
    assert not build_with_period(0)  # 0: every build vacuums
    # The previous build in an earlier period (its stamps moved back to 2000): vacuum.
    for entity in ("customers", "products", "orders"):
        warehouse.query(
            f"update staging.base_{entity}_parsed set _stamp = timestamp '2000-01-01 00:00:00'"
        )
    assert not build_with_period(10_000_000)


def test_a_full_build_may_use_the_full_build_memory_limit(
    warehouse: DuckDBWarehouse, dbt_work: Path, monkeypatch
):
    """macros/memory.sql: the first build (no tables yet) and `--full-refresh` raise
    DuckDB's memory limit to RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT; an incremental
    build keeps the profile's. Read off the statements dbt ran."""
    monkeypatch.setenv("RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT", "3GB")
    log = dbt_work / "logs" / "dbt.log"
    raised = "set global memory_limit = '3GB'"

    def build(*extra: str) -> bool:
        """Build; whether the limit was raised."""
        log.unlink(missing_ok=True)
        stdout = dbt_build(warehouse.file, dbt_work, "--log-level-file", "debug", *extra)
        said = "DuckDB may use 3GB of memory" in stdout
        assert said == (raised in log.read_text()), "the log line and the statement disagree"
        return said

    sizes = BatchSizes(customers=50, products=5, orders=100)
    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    assert build()  # the first build: every incremental model created whole
    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    assert not build()
    assert build("--full-refresh")
    warehouse.query("drop table intermediate.int_daily_sales")
    assert build()  # one model to create whole


def test_the_newest_stamp_is_found_when_its_rows_were_deleted(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    """macros/incremental.sql, duckdb__newest_stamp_value: the newest stamp is read from
    the rows at or above the stamp column's statistics, which a delete does not lower;
    when the rows at that bound were deleted, it is the greatest stamp left, not none
    (which would take every input in again) nor the bound (which would skip rows)."""
    db = warehouse.file
    with duckdb.connect(str(db)) as con:
        con.execute("create table main.stamped (_stamp timestamp, n integer)")
        for day in (1, 2, 3):
            con.execute(f"insert into main.stamped values (timestamp '2026-01-0{day}', {day})")
    # A project of its own named `retail`, so the macros dispatch as they do in ours.
    project = dbt_work / "probe"
    (project / "probe").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: retail\nversion: '1.0'\nprofile: retail\n"
        f"macro-paths: ['{DBT_PROJECT_DIR / 'macros'}', probe]\n"
    )
    (project / "probe" / "probe.sql").write_text(
        "{% macro probe() %}{{ print('newest: ' ~ newest_stamp_value('main.stamped')) }}{% endmacro %}"
    )

    def newest() -> str:
        argv = dbt_argv("run-operation", dbt_work, "probe")
        argv[argv.index("--project-dir") + 1] = str(project)
        result = subprocess.run(argv, env=dbt_env(db), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:]
        return re.search(r"newest: (.*)", result.stdout).group(1)

    assert newest() == "2026-01-03 00:00:00"
    with duckdb.connect(str(db)) as con:
        con.execute("delete from main.stamped where n = 3")
        # the case looked at: the statistics still bound the stamps at the deleted row's
        bound = con.execute("select stats(_stamp).max::timestamp from main.stamped limit 1")
        assert bound.fetchone()[0] == datetime(2026, 1, 3)
    assert newest() == "2026-01-02 00:00:00"
    with duckdb.connect(str(db)) as con:
        con.execute("delete from main.stamped")
    assert newest() == "None"


def test_new_loads_are_looked_up_among_the_recent_rows_first(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    """macros/incremental.sql, loads_not_in_this: a load stamped after everything taken
    in is found by reading the rows from the newest loaded_at on; one stamped up to an
    hour earlier, from an hour before it; an older one, by the lookup over the whole
    table. Each is taken in, and the build equals a full refresh. Read off the lookups
    dbt ran: the windows each parsed model tried, in order ("all" = the whole table)."""
    db = warehouse.file
    log = dbt_work / "logs" / "dbt.log"

    def load(label: str, order_id: int, at_hours: float) -> None:
        row = order(order_id, 1, "placed", 0, at_hours, [(10, 1)])
        warehouse.load_batch("raw_orders", label, [row], loaded_at=T0 + timedelta(hours=at_hours))

    def windows_tried() -> list[str]:
        log.unlink(missing_ok=True)
        dbt_build(db, dbt_work, "--log-level-file", "debug")
        lookups = [
            " ".join(sql.split("group by")[0].split())
            for sql in log.read_text().split("select load_label, count(*), min(loaded_at), null")[
                1:
            ]
            if '"raw"."raw_orders"' in sql.split("group by")[0]
        ]
        return [
            lookup.split("loaded_at >= cast('")[1][11:16] if "loaded_at >=" in lookup else "all"
            for lookup in lookups
        ]

    warehouse.load_batch("raw_customers", "c1", [customer(1, "Lyon", 1)], loaded_at=T0)
    warehouse.load_batch("raw_products", "p1", [product(10, 2.5, 1)], loaded_at=T0)
    load("o1", 100, 10)
    dbt_build(db, dbt_work)

    load("o2", 101, 11)  # after everything taken in
    assert windows_tried() == ["22:00"]  # from o1's loaded_at (T0 is 12:00)
    load("o3", 102, 10.5)  # before the newest (o2, 23:00), within the hour
    assert windows_tried() == ["23:00", "22:00"]
    load("o4", 103, 2)  # long before
    assert windows_tried() == ["23:00", "22:00", "all"]
    assert windows_tried() == ["23:00"]  # nothing new: the counts add up at once

    incremental = snapshot(db)
    assert {row[0] for row in incremental["staging.stg_orders"]} == {100, 101, 102, 103}
    assert_same(incremental, full_refresh_of(db, dbt_work))


def test_an_order_waiting_for_two_products_is_cleared_by_the_second(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    """base_orders_classified keeps the first product an order set aside waits for
    (missing_product_id) and is judged again when that one arrives: then it waits for
    the next, and the arrival of that one clears it."""
    db = warehouse.file

    def load(table: str, label: str, rows: list[bytes], at_hours: float) -> None:
        warehouse.load_batch(table, label, rows, loaded_at=T0 + timedelta(hours=at_hours))

    def stg_orders() -> set[int]:
        return {row[0] for row in snapshot(db)["staging.stg_orders"]}

    load("raw_customers", "c1", [customer(1, "Lyon", 1)], 1)
    load("raw_products", "p1", [product(10, 2.5, 1)], 1)
    load("raw_orders", "o1", [order(200, 1, "placed", 0, 2, [(10, 1), (98, 1), (97, 2)])], 2)
    dbt_build(db, dbt_work)
    assert 200 not in stg_orders()

    load("raw_products", "p2", [product(97, 1.0, 3)], 3)  # the first it waits for
    dbt_build(db, dbt_work)
    assert 200 not in stg_orders()
    ((waits,),) = warehouse.query(
        "select missing_product_id from staging.base_orders_classified where order_id = 200"
    )
    assert waits == 98

    load("raw_products", "p3", [product(98, 1.0, 4)], 4)  # the last
    dbt_build(db, dbt_work)
    assert 200 in stg_orders()
    assert_same(snapshot(db), full_refresh_of(db, dbt_work))


def test_a_load_with_an_empty_label_is_taken_in(warehouse: DuckDBWarehouse, dbt_work: Path):
    """Another writer's label outside the load-label charset, even an empty one, keeps
    the lookup's subquery form (macros/incremental.sql, loads_not_in_this): its rows
    are taken in all the same."""
    db = warehouse.file
    warehouse.load_batch("raw_customers", "c1", [customer(1, "Lyon", 1)], loaded_at=T0)
    warehouse.load_batch("raw_products", "p1", [product(10, 2.5, 1)], loaded_at=T0)
    warehouse.load_batch(
        "raw_orders",
        "o1",
        [order(100, 1, "placed", 0, 10, [(10, 1)])],
        loaded_at=T0 + timedelta(hours=10),
    )
    dbt_build(db, dbt_work)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into raw.raw_orders (load_label, loaded_at, payload) values ('', ?, ?)",
            [T0 + timedelta(hours=11), order(101, 1, "placed", 0, 11, [(10, 1)]).decode()],
        )
    dbt_build(db, dbt_work)
    assert {row[0] for row in snapshot(db)["staging.stg_orders"]} == {100, 101}


def test_the_reports_carry_their_row_counts_from_build_to_build(
    warehouse: DuckDBWarehouse, dbt_work: Path
):
    """macros/running_totals.sql: a build's reports take the views' counts from the
    totals the previous build left, corrected by what this build replaced and wrote;
    they do not count the views. A total the chain cannot vouch for (a build dbt ran
    without reports since) is counted again."""
    db = warehouse.file

    def batch() -> None:
        run_batch(warehouse, sizes=BatchSizes(customers=50, products=5, orders=200), dirty_rate=0.1)

    def reported_build(*extra: str) -> dict[str, dict]:
        stdout = dbt_build(db, dbt_work, "--log-format", "json", *extra)
        return reports(stdout)

    def count(table: str) -> int:
        ((rows,),) = warehouse.query(f"select count(*) from {table}")
        return rows

    batch()
    reported_build()
    # A total that is off by 1000 stays off by 1000: it is carried, not counted.
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update staging.report_totals set value = value + 1000 where kind = 'total' and"
            " (model, figure) in (('base_orders_classified', 'latest_versions'), ('int_daily_sales', 'fact_rows'))"
        )
    batch()
    built = reported_build()
    assert built["stg_orders"]["row_count"] == count("staging.stg_orders") + 1000
    assert built["fact_daily_sales"]["row_count"] == count("marts.fact_daily_sales") + 1000
    assert built["quarantine_orders"]["row_count"] == count("staging.quarantine_orders")
    # A build without reports (dbt by hand) breaks the chain: counted again.
    batch()
    dbt_build(db, dbt_work)
    batch()
    built = reported_build()
    assert built["stg_orders"]["row_count"] == count("staging.stg_orders")
    assert_reports_count_the_views(dbt_build(db, dbt_work, "--log-format", "json"), db)
