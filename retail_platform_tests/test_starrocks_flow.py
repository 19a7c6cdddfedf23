"""The whole flow on a live StarRocks (`make up`, then `make test-starrocks`).

Generate, observe, dbt build with its tests as asset checks, and the mart comparison
against the independent pandas computation. Skipped, with the reason, when no server
answers. It empties staging and marts of that server first: use a throwaway one.
"""

import time

import pytest
from dagster import materialize

from retail_platform.assets.dbt import retail_dbt_models
from retail_platform.assets.raw import raw_tables
from retail_platform.assets.simulator import simulator_batches
from retail_platform.resources import dbt_resource
from retail_platform_tests.test_marts import compare_marts

pytestmark = pytest.mark.starrocks


def test_whole_flow_matches_pandas_on_starrocks(live, instance, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE", "starrocks")
    for table in ("raw_customers", "raw_products", "raw_orders", "sim_batches"):
        live.query(f"truncate table raw.{table}")
    for database in ("staging", "marts"):
        live.query(f"drop database if exists {database} force")
    live.setup()
    # Stream Load keeps labels for days: a fresh seed gives this run labels of its own.
    seed = int(time.time()) % 1_000_000
    resources = {"warehouse": live, "dbt": dbt_resource()}
    for _ in range(3):
        config = {"customers": 150, "products": 20, "orders": 800, "dirty_rate": 0.05, "seed": seed}
        result = materialize(
            [simulator_batches],
            resources=resources,
            instance=instance,
            run_config={"ops": {"simulator_batches": {"config": config}}},
        )
        assert result.success
    assert materialize([raw_tables], resources=resources, instance=instance).success
    result = materialize([retail_dbt_models], resources=resources, instance=instance)
    assert result.success  # dbt tests are blocking asset checks: a failing one fails the run
    assert all(e.passed for e in result.get_asset_check_evaluations())
    compare_marts(live)
