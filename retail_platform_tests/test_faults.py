"""Faults: an unreachable warehouse gives one clear, retried failure; odd payloads don't break staging."""

import json
import os
import subprocess

from dagster import DagsterEventType, materialize

from retail_platform.assets.simulator import simulator_batches
from retail_platform.project import dbt_argv
from retail_platform.warehouse.duckdb import DuckDBWarehouse
from retail_platform.warehouse.starrocks import StarRocksWarehouse


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failures
    error, messages = failures[-1].event_specific_data.error, []
    while error:  # after retries the step error wraps the original one
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_unreachable_starrocks_fails_clearly_after_retries(instance, closed_port):
    wh = StarRocksWarehouse(
        host="127.0.0.1", port=closed_port, http_port=closed_port, password="hunter2-secret"
    )
    result = materialize(
        [simulator_batches], resources={"warehouse": wh}, instance=instance, raise_on_error=False
    )
    assert not result.success
    message = failure_message(result)
    assert f"127.0.0.1:{closed_port}" in message
    assert "hunter2-secret" not in message
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 3


def test_unusable_duckdb_file_names_the_file(instance, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a folder should be")
    wh = DuckDBWarehouse(path=str(blocker / "warehouse.duckdb"))
    result = materialize(
        [simulator_batches], resources={"warehouse": wh}, instance=instance, raise_on_error=False
    )
    assert not result.success
    assert str(blocker) in failure_message(result)


def test_unknown_payload_fields_do_not_break_staging(warehouse, instance):
    from retail_platform_tests.test_marts import compare_marts, run_dbt, run_simulator

    run_simulator(warehouse, instance, customers=30, products=5, orders=100, dirty_rate=0.0)
    extra = (
        b'{"customer_id": 9001, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",'
        b' "city": "London", "country": "United Kingdom", "signup_ts": "2026-01-01T10:00:00Z",'
        b' "updated_at": "2026-01-01T10:00:00Z", "loyalty_tier": "gold", "preferences": {"newsletter": true}}'
    )
    warehouse.load_batch("raw_customers", "other_writer_batch_1", [extra])
    run_dbt(warehouse, instance)
    want = compare_marts(warehouse)
    assert 9001 in set(want.dim_customers.customer_id)


def test_dbt_failure_mid_build_is_recovered_by_the_next_run(warehouse, instance, dbt_work):
    from retail_platform_tests.test_marts import compare_marts, run_dbt, run_simulator

    batch = {"customers": 60, "products": 10, "orders": 300, "dirty_rate": 0.05}
    run_simulator(warehouse, instance, **batch)
    run_dbt(warehouse, instance)
    run_simulator(warehouse, instance, **batch)

    # The orders half of the build fails (its source is gone); customers and products
    # models build. A plain `dbt build`, as a user or a crashed run would leave things.
    warehouse.query("alter table raw.raw_orders rename to raw_orders_away")
    env = {**os.environ, **warehouse.dbt_env()}
    failed = subprocess.run(
        dbt_argv("build", dbt_work), env=env, capture_output=True, text=True, timeout=600
    )
    assert failed.returncode != 0
    assert "PASS" in failed.stdout  # some nodes did build before the failure
    warehouse.query("alter table raw.raw_orders_away rename to raw_orders")

    run_simulator(warehouse, instance, **batch)
    run_dbt(warehouse, instance)  # the next run catches up
    compare_marts(warehouse)


def test_foreign_labels_never_become_sql(warehouse, instance):
    from retail_platform_tests.test_marts import compare_marts, run_dbt, run_simulator

    run_simulator(warehouse, instance, customers=20, products=5, orders=50, dirty_rate=0.0)
    run_dbt(warehouse, instance)
    # Another writer, not our loader, with a label our loaders would refuse.
    payload = (
        '{"customer_id": 7001, "first_name": "Bob", "last_name": "Tables", "email": "bob@example.com",'
        ' "city": "Oslo", "country": "Norway", "signup_ts": "2026-01-01T10:00:00Z", "updated_at": "2026-01-01T10:00:00Z"}'
    )
    with warehouse.connect() as con:
        con.execute(
            "insert into raw.raw_customers values (?, now(), ?::json)",
            ["x'); drop table marts.dim_products; --", payload],
        )
    run_dbt(warehouse, instance)
    want = compare_marts(warehouse)  # dim_products still there and right
    assert 7001 in set(want.dim_customers.customer_id)


def test_primary_key_checks_catch_duplicate_and_null_keys(warehouse, instance, dbt_work):
    from retail_platform_tests.test_marts import run_dbt, run_simulator

    run_simulator(warehouse, instance, customers=30, products=5, orders=100, dirty_rate=0.0)
    run_dbt(warehouse, instance)
    # What a wrong model would write: a repeated customer, an item line without a number
    # (in the table that staging.stg_order_items is a view of).
    warehouse.query("insert into marts.dim_customers select * from marts.dim_customers limit 1")
    warehouse.query(
        "insert into staging.base_order_lines select * replace (null as line_number) "
        "from staging.base_order_lines limit 1"
    )
    env = {**os.environ, **warehouse.dbt_env()}
    tested = subprocess.run(
        dbt_argv("test", dbt_work, "--select", "dim_customers", "stg_order_items", "stg_products"),
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert tested.returncode != 0
    results = json.loads((dbt_work / "target" / "run_results.json").read_text())["results"]
    status = {r["unique_id"].split(".")[2]: r["status"] for r in results}
    assert status["primary_key_dim_customers_customer_id"] == "fail"
    assert status["primary_key_stg_order_items_order_id__line_number"] == "fail"
    assert status["primary_key_stg_products_product_id"] == "pass"


def test_key_checks_look_at_the_keys_of_the_latest_build(warehouse, instance, dbt_work):
    """Data tests see the keys the latest build touched (macros/batch_scope.sql), all
    their rows, old ones included: a key of this batch duplicated by an old row fails
    its check; a duplicate among keys no build since has touched is not looked at."""
    from retail_platform_tests.test_marts import run_dbt, run_simulator

    for _ in range(2):  # the second batch updates orders of the first
        run_simulator(warehouse, instance, customers=30, products=5, orders=100, dirty_rate=0.0)
        run_dbt(warehouse, instance)
    ((newest, oldest),) = warehouse.query(
        "select max(_stamp), min(_stamp) from staging.base_order_lines"
    )
    assert newest > oldest
    ((touched,),) = warehouse.query(
        "select min(order_id) from staging.base_order_lines where _stamp = ?", [newest]
    )
    ((untouched,),) = warehouse.query(
        "select min(order_id) from staging.base_order_lines where _stamp = ?", [oldest]
    )

    def duplicate_a_line(order_id: int) -> None:  # as an old row: the oldest stamp
        warehouse.query(
            "insert into staging.base_order_lines select * replace (cast(? as timestamp) as _stamp) "
            "from staging.base_order_lines where order_id = ? limit 1",
            [oldest, order_id],
        )

    def check_order_lines() -> str:
        return check_status(warehouse, dbt_work, "stg_order_items", "primary_key_stg_order_items")

    duplicate_a_line(untouched)
    assert check_order_lines() == "pass"  # not a key of the latest build
    duplicate_a_line(touched)
    assert check_order_lines() == "fail"


def check_status(warehouse, dbt_work, select: str, check: str) -> str:
    """`dbt test --select select` (models, space-separated): the status of the one check
    whose id holds `check` (a check runs only when all the models it reads are selected)."""
    env = {**os.environ, **warehouse.dbt_env()}
    subprocess.run(
        dbt_argv("test", dbt_work, "--select", *select.split()),
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    results = json.loads((dbt_work / "target" / "run_results.json").read_text())["results"]
    (status,) = [r["status"] for r in results if check in r["unique_id"]]
    return status


def test_an_item_whose_order_is_gone_fails_its_relationships_check(warehouse, instance, dbt_work):
    """The relationships check looks up only the orders the batch's items refer to
    (macros/batch_scope.sql), by the same two static parts as the items (over 256 keys:
    a range of the recent ones, the older ones as constants): it finds every one of them
    (no false failure), and an order gone from stg_orders fails it, in either part."""
    from retail_platform_tests.test_marts import run_dbt, run_simulator

    run_simulator(warehouse, instance, customers=30, products=5, orders=300, dirty_rate=0.0)
    run_dbt(warehouse, instance)
    # updates of the first batch's orders (the constants) and 300 new ones (the range)
    run_simulator(warehouse, instance, customers=30, products=5, orders=300, dirty_rate=0.0)
    run_dbt(warehouse, instance)
    ((oldest, newest, keys),) = warehouse.query(
        "select min(order_id), max(order_id), count(*) from staging.base_order_lines "
        "where _stamp = (select max(_stamp) from staging.base_order_lines)"
    )
    assert keys > 256

    def check() -> str:
        return check_status(
            warehouse,
            dbt_work,
            "stg_order_items stg_orders",
            "relationships_stg_order_items_order_id",
        )

    assert check() == "pass"
    for order_id in (oldest, newest):
        latest = "order_id = ? and is_latest_version"
        ((row_key,),) = warehouse.query(
            f"select row_key from staging.base_orders_classified where {latest}", [order_id]
        )
        warehouse.query(
            "update staging.base_orders_classified set is_latest_version = false "
            "where row_key = ?", [row_key]
        )  # fmt: skip
        assert check() == "fail", order_id
        warehouse.query(
            "update staging.base_orders_classified set is_latest_version = true "
            "where row_key = ?", [row_key]
        )  # fmt: skip
