"""The marts equal an independent pandas computation from the raw payloads."""

import logging
from collections import Counter
from decimal import Decimal

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetSelection, Definitions, define_asset_job, materialize

from retail_platform.assets.dbt import retail_dbt_models
from retail_platform.assets.simulator import simulator_batches
from retail_platform.checks import quarantine_share
from retail_platform.resources import dbt_resource
from retail_platform_tests import truth

# Plain SQL that both warehouses read the same way.
RAW_SQL = "select load_label, loaded_at, cast(payload as varchar) from raw.{table}"


def run_simulator(warehouse, instance, **config) -> None:
    result = materialize(
        [simulator_batches],
        resources={"warehouse": warehouse},
        instance=instance,
        run_config={"ops": {"simulator_batches": {"config": config}}},
    )
    assert result.success


def run_dbt(warehouse, instance) -> dict[str, dict]:
    """Build every dbt model; the metadata of each materialization, by model name."""
    result = materialize(
        [retail_dbt_models],
        resources={"warehouse": warehouse, "dbt": dbt_resource()},
        instance=instance,
    )
    assert result.success
    return {
        m.asset_key.path[-1]: {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("retail_dbt_models")
    }


def run_quarantine_checks(warehouse, instance) -> dict:
    job = define_asset_job("quarantine_checks", selection=AssetSelection.checks(quarantine_share))
    defs = Definitions(
        assets=[retail_dbt_models],
        asset_checks=[quarantine_share],
        jobs=[job],
        resources={"warehouse": warehouse, "dbt": dbt_resource()},
    )
    result = defs.resolve_job_def("quarantine_checks").execute_in_process(instance=instance)
    return {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}


def expected(warehouse) -> truth.Truth:
    frames = {
        t: truth.raw_frame(warehouse.query(RAW_SQL.format(table=f"raw_{t}")))
        for t in ("customers", "products", "orders")
    }
    return truth.compute(frames["customers"], frames["products"], frames["orders"])


def actual(warehouse, table: str, columns: list[str], order_by: str) -> pd.DataFrame:
    rows = warehouse.query(f"select {', '.join(columns)} from {table} order by {order_by}")
    return pd.DataFrame(rows, columns=columns)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    for column in want.columns:
        g, w = got[column].tolist(), want[column].tolist()
        if w and isinstance(w[0], Decimal):
            g = [Decimal(str(v)).quantize(truth.CENT) for v in g]
        elif column.endswith(("_ts", "_at")):
            g = [pd.Timestamp(v).to_pydatetime() for v in g]
            w = [pd.Timestamp(v).to_pydatetime() for v in w]
        elif column == "order_date":
            g = [pd.Timestamp(v).date() for v in g]
        mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(g, w, strict=True)) if a != b]
        assert not mismatches, f"{column}: first mismatches (row, got, expected) {mismatches[:3]}"


def compare_marts(warehouse) -> truth.Truth:
    want = expected(warehouse)
    for table, frame, order_by in (
        ("marts.dim_customers", want.dim_customers, "customer_id"),
        ("marts.dim_products", want.dim_products, "product_id"),
        ("marts.fact_daily_sales", want.fact_daily_sales, "order_date, product_id"),
        ("staging.stg_order_items", want.stg_order_items, "order_id, line_number"),
    ):
        assert_same(actual(warehouse, table, list(frame.columns), order_by), frame)
    return want


def changes(now: pd.DataFrame, before: pd.DataFrame | None, key: str) -> tuple[int, int]:
    """(new, changed) rows of a dimension between two truths, by key and then by value."""
    if before is None:
        return len(now), 0
    both = now.merge(before, on=key, how="left", suffixes=("", "_b"), indicator=True)
    new = int((both._merge == "left_only").sum())
    old = both[both._merge == "both"]
    differs = pd.Series(False, index=old.index)
    for column in now.columns.drop(key):
        differs |= old[column].astype(str) != old[f"{column}_b"].astype(str)
    return new, int(differs.sum())


def assert_data_metadata(built: dict, want: truth.Truth, previous: truth.Truth | None) -> None:
    """What the UI shows of a build (dbt_metadata.py) against the pandas truth."""
    frames = {
        "dim_customers": want.dim_customers,
        "dim_products": want.dim_products,
        "fact_daily_sales": want.fact_daily_sales,
    }
    for name, frame in frames.items():
        assert built[name]["dagster/row_count"] == len(frame), name
        schema = built[name]["dagster/column_schema"]
        # The contract's columns, then (incremental tables: macros/incremental.sql) _stamp.
        names = [c.name for c in schema.columns]
        assert names in (list(frame.columns), [*frame.columns, "_stamp"]), name
        assert all(c.type for c in schema.columns), f"{name}: a column without a type"
    assert {c.name: c.type for c in built["fact_daily_sales"]["dagster/column_schema"].columns}[
        "revenue"
    ].startswith("decimal")
    # Every model carries a row count and typed columns, staging included.
    assert built["stg_orders"]["dagster/row_count"] == len(want.stg_orders)
    assert all(c.type for c in built["stg_orders"]["dagster/column_schema"].columns)
    # ... and the descriptions of the model's yml.
    documented = {
        c.name: c.description for c in built["stg_customers"]["dagster/column_schema"].columns
    }
    assert documented["email"] == "Trimmed, lower-case." and documented["customer_id"] is None

    for name, key in (("dim_customers", "customer_id"), ("dim_products", "product_id")):
        before = getattr(previous, name) if previous else None
        new, changed = changes(getattr(want, name), before, key)
        assert (built[name]["new_rows"], built[name]["changed_rows"]) == (new, changed), name
    if previous is not None:
        assert built["dim_customers"]["changed_rows"] > 0, "no customer changed between builds"

    fact = want.fact_daily_sales
    daily = fact.groupby("order_date").agg(revenue=("revenue", "sum"), units=("units_sold", "sum"))
    figures = built["fact_daily_sales"]
    assert figures["days"] == len(daily)
    assert figures["revenue_total"] == pytest.approx(float(fact.revenue.sum()))
    assert figures["latest_day"] == str(daily.index[-1])
    assert figures["latest_day_revenue"] == pytest.approx(float(daily.revenue.iloc[-1]))
    if len(daily) < 2:  # the first batch covers less than a day
        assert "complete_day" not in figures
        return
    day = daily.index[-2]
    assert figures["complete_day"] == str(day)
    assert figures["complete_day_revenue"] == pytest.approx(float(daily.revenue.iloc[-2]))
    assert figures["complete_day_units"] == daily.units.iloc[-2]
    assert figures["complete_day_orders"] == want.orders_per_day[day]


def assert_published_marts_equal(warehouse, want: truth.Truth) -> None:
    """`retail-sim query` reads the published copies, not the warehouse file, and they are current."""
    from retail_platform import snapshots

    for name, frame, order_by in (
        ("dim_customers", want.dim_customers, "customer_id"),
        ("fact_daily_sales", want.fact_daily_sales, "order_date, product_id"),
    ):
        columns, rows = snapshots.query(
            f"select {', '.join(frame.columns)} from marts.{name} order by {order_by}",
            warehouse.snapshot_dir,
        )
        assert_same(pd.DataFrame(rows, columns=columns), frame)


@pytest.mark.parametrize("dirty_rate", [0.0, 0.02])
def test_marts_match_pandas_with_updates_in_later_batches(warehouse, instance, dirty_rate):
    small = {
        "customers": 120,
        "products": 15,
        "orders": 600,
        "dirty_rate": dirty_rate,
        "step_minutes": 720,
    }
    run_simulator(warehouse, instance, **small)
    built = run_dbt(warehouse, instance)
    first = compare_marts(warehouse)
    assert_data_metadata(built, first, previous=None)

    # Later batches update earlier customers (moves) and orders (lifecycle).
    for _ in range(3):
        run_simulator(warehouse, instance, **small)
    built = run_dbt(warehouse, instance)
    want = compare_marts(warehouse)
    assert_data_metadata(built, want, previous=first)
    assert_published_marts_equal(warehouse, want)

    moved = want.dim_customers.merge(
        first.dim_customers, on="customer_id", suffixes=("", "_before")
    )
    assert (moved.city != moved.city_before).any(), "no customer update reached dim_customers"
    assert (moved.updated_at > moved.updated_at_before).any()
    statuses = want.stg_orders.merge(first.stg_orders, on="order_id", suffixes=("", "_before"))
    assert (statuses.status != statuses.status_before).any(), "no order moved through its lifecycle"
    assert len(want.fact_daily_sales.order_date.unique()) > len(
        first.fact_daily_sales.order_date.unique()
    )


def test_high_dirty_rate_marts_stay_clean_and_faults_are_quarantined(warehouse, instance):
    config = {
        "customers": 150,
        "products": 20,
        "orders": 800,
        "dirty_rate": 0.3,
        "step_minutes": 1440,
    }
    for _ in range(2):
        run_simulator(warehouse, instance, **config)
    run_dbt(warehouse, instance)  # dbt tests (asset checks) on the marts must pass too
    want = compare_marts(warehouse)

    for entity in ("customers", "products", "orders"):
        rows = warehouse.query(
            f"select reason, count(*) from staging.quarantine_{entity} group by reason"
        )
        assert dict(rows) == want.quarantine_counts[entity], entity
        # each with the text its writer sent
        rows = warehouse.query(f"select reason, payload_text from staging.quarantine_{entity}")
        got = Counter((reason, truth.payload_key(text)) for reason, text in rows)
        assert got == want.quarantined[entity], entity
    # The quarantine checks show the counts by reason and warn above the share limit.
    evaluations = run_quarantine_checks(warehouse, instance)
    for entity in ("customers", "products", "orders"):
        evaluation = evaluations[f"quarantine_{entity}"]
        counts = {
            k.removeprefix("reason/"): v.value
            for k, v in evaluation.metadata.items()
            if k.startswith("reason/")
        }
        assert counts == want.quarantine_counts[entity]
        assert evaluation.severity == AssetCheckSeverity.WARN
        assert evaluation.passed == (evaluation.metadata["quarantined_share"].value <= 0.05)
    assert not evaluations["quarantine_orders"].passed  # 30% dirty: well above the limit

    reasons = set(want.quarantine_counts["orders"])
    assert reasons >= {
        "malformed_json",
        "missing_id",
        "invalid_quantity",
        "unknown_customer",
        "unknown_product",
        "duplicate",
    }


def test_a_build_of_one_side_of_a_relationship_logs_no_warning(warehouse, instance):
    """A run that builds the referenced model alone (a hand materialization, a partial
    automation run) does not run the relationships test of the model referring to it,
    which dagster-dbt could only log with a warning: the test runs with both sides."""
    run_simulator(warehouse, instance, customers=20, products=10, orders=30)
    run_dbt(warehouse, instance)
    for side in ("stg_products", "stg_order_items"):
        result = materialize(
            [retail_dbt_models],
            resources={"warehouse": warehouse, "dbt": dbt_resource()},
            instance=instance,
            selection=f"staging/{side}",
        )
        assert result.success
        warnings = [
            e.user_message for e in instance.all_logs(result.run_id) if e.level >= logging.WARNING
        ]
        assert warnings == [], (side, warnings)
