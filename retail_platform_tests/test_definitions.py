"""The lineage graph as a reader would draw it: simulator -> raw -> staging -> marts."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, AutomationCondition, DefaultScheduleStatus, DefaultSensorStatus
from dagster_dbt import DbtProject

ENTITIES = ("customers", "products", "orders")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def defs(warehouse_path):
    from retail_platform.definitions import defs as load

    return load()


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_one_graph_from_simulator_to_marts(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected = (
        {f"simulator/{e}" for e in ENTITIES}
        | {f"raw/raw_{e}" for e in ENTITIES}
        | {
            "staging/stg_customers",
            "staging/stg_products",
            "staging/stg_orders",
            "staging/stg_order_items",
        }
        | {"marts/dim_customers", "marts/dim_products", "marts/fact_daily_sales"}
    )
    assert expected <= keys
    # Nothing outside the five layers.
    assert {k.split("/")[0] for k in keys} == {
        "simulator",
        "raw",
        "staging",
        "intermediate",
        "marts",
    }

    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    for e in ENTITIES:
        assert parents[f"raw/raw_{e}"] == {f"simulator/{e}"}
    assert parents["simulator/orders"] == {"simulator/customers", "simulator/products"}
    # Every raw table feeds staging; marts read staging and intermediate only.
    for e in ENTITIES:
        assert any(f"raw/raw_{e}" in ps for k, ps in parents.items() if k.startswith("staging/"))
    for mart in ("dim_customers", "dim_products", "fact_daily_sales"):
        assert parents[f"marts/{mart}"] and all(
            p.startswith(("staging/", "intermediate/")) for p in parents[f"marts/{mart}"]
        )
    assert "staging/stg_customers" in parents["marts/dim_customers"]
    assert "staging/stg_products" in parents["marts/dim_products"]
    # fact_daily_sales reaches raw_orders through staging.
    seen, todo = set(), ["marts/fact_daily_sales"]
    while todo:
        node = todo.pop()
        for parent in parents.get(node, ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    assert {"raw/raw_orders", "simulator/orders"} <= seen


def test_dbt_layers_flow_one_way():
    """sources -> staging (its base models, then the stg_ and quarantine_ views of
    them) -> intermediate -> marts: no model reads a later layer, as dbt's own graph
    says."""
    from retail_platform.project import dbt_project

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    order = {"staging/base": 1, "staging": 2, "intermediate": 3, "marts": 4}

    def layer(unique_id: str) -> str:
        folders = nodes[unique_id]["fqn"][1:-1]
        return "/".join(folders[:2]) if folders[1:2] == ["base"] else folders[0]

    models = [uid for uid, node in nodes.items() if node["resource_type"] == "model"]
    backwards = [
        (uid, parent)
        for uid in models
        for parent in nodes[uid]["depends_on"]["nodes"]
        if parent in nodes and order[layer(parent)] > order[layer(uid)]
    ]
    assert not backwards, f"models reading a later layer: {backwards}"
    assert {layer(uid) for uid in models} == set(order)


def test_groups_and_automation(defs):
    graph = defs.resolve_asset_graph()
    for k in graph.get_all_asset_keys():
        node, layer = graph.get(k), k.path[0]
        assert node.group_name == layer, k
        if layer in ("staging", "intermediate", "marts"):
            # Eager, with the unread-upstream comparison (automation.py) and eager's guards
            condition = node.automation_condition
            assert condition.get_label() == "eager", k
            assert ~AutomationCondition.in_progress() in condition.children, k
            assert ~AutomationCondition.any_deps_missing() in condition.children, k
        else:
            assert node.automation_condition is None, k
    raw = graph.get(key("raw/raw_orders"))
    assert raw.is_observable and not raw.is_materializable


def test_dbt_tests_and_raw_checks_are_asset_checks(defs):
    checks = {
        (c.asset_key.to_user_string(), c.name) for c in defs.resolve_asset_graph().asset_check_keys
    }
    for asset, column in [
        ("marts/dim_customers", "customer_id"),
        ("marts/dim_products", "product_id"),
        ("staging/stg_orders", "order_id"),
        ("staging/stg_customers", "customer_id"),
    ]:
        table = asset.split("/")[1]
        assert (asset, f"primary_key_{table}_{column}") in checks
    names = {name for _, name in checks}
    assert any(n.startswith("accepted_values_stg_orders_status") for n in names)
    assert any(n.startswith("relationships_fact_daily_sales_product_id") for n in names)
    for e in ENTITIES:
        assert (f"raw/raw_{e}", "payloads_parse") in checks
        # Freshness is a policy the daemon evaluates, not a check that needs a run.
        assert (f"raw/raw_{e}", "freshness_check") not in checks


def test_marts_carry_a_freshness_policy_from_dbt_meta(defs):
    graph = defs.resolve_asset_graph()
    for mart in ("dim_customers", "dim_products", "fact_daily_sales"):
        policy = graph.get(key(f"marts/{mart}")).freshness_policy
        assert policy.warn_window.to_timedelta() == timedelta(minutes=5), mart
        assert policy.fail_window.to_timedelta() == timedelta(minutes=15), mart
    # Observed sources cannot be evaluated (materializations only): none promised there.
    assert graph.get(key("raw/raw_orders")).freshness_policy is None
    # The DbtProject object is not shown as "(unserializable)" metadata.
    metadata = graph.get(key("marts/fact_daily_sales")).metadata
    assert not any(isinstance(v, DbtProject) for v in metadata.values())


def test_jobs_schedules_and_sensor_defaults(defs):
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"generate"}
    assert schedules["generate"].default_status == DefaultScheduleStatus.STOPPED
    assert schedules["generate"].cron_schedule == "* * * * *"
    sensors = {s.name: s for s in defs.sensors}
    for name in ("retail_automation", "check_sources", "prune_history"):
        assert sensors[name].default_status == DefaultSensorStatus.RUNNING, name
    # The automation sensor targets every check with a condition, the raw tables' too
    # (AssetSelection.all() leaves out observable sources and their checks).
    automation = sensors["retail_automation"]
    targeted = automation.asset_selection.resolve_checks(defs.resolve_asset_graph())
    raw_checks = {k for k in targeted if k.asset_key.path[0] == "raw"}
    assert {k.name for k in raw_checks} == {"payloads_parse"} and len(raw_checks) == 3
    # The look ticks at every loop of the sensor daemon (5 s), the automation sensor at
    # every second one (10 s): a writer's rows wait for both.
    assert sensors["check_sources"].minimum_interval_seconds < 5
    assert 5 < sensors["retail_automation"].minimum_interval_seconds < 10
    # The trap: a job built from AssetSelection.groups("raw") would run no steps.
    job = defs.resolve_job_def("check_sources_job")
    assert "raw_tables" in [n.name for n in job.nodes]
    # Every job's runs are failed by run monitoring past a bound (a dead dagster dev).
    for name in ("generate_job", "check_sources_job"):
        assert int(defs.resolve_job_def(name).tags["dagster/max_runtime"]) <= 300


def test_generate_job_builds_the_batch_through_the_marts(defs):
    job = defs.resolve_job_def("generate_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    graph = defs.resolve_asset_graph()
    dbt_keys = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if k.path[0] in ("staging", "intermediate", "marts")
    }
    raw_keys = {f"raw/raw_{e}" for e in ENTITIES}
    assert {f"simulator/{e}" for e in ENTITIES} | raw_keys | dbt_keys == keys
    # dbt must run after the loads: the raw observation step sits between them.
    node_names = [n.name for n in job.nodes]
    assert {
        "simulator_batches",
        "raw_tables",
        "retail_dbt_models",
        "raw_payloads_parse",
        "quarantine_share",
    } <= set(node_names)
    deps = job.graph.dependency_structure
    assert {h.node_name for h in deps.all_upstream_outputs_from_node("retail_dbt_models")} >= {
        "raw_tables"
    }
    assert {h.node_name for h in deps.all_upstream_outputs_from_node("raw_tables")} == {
        "simulator_batches"
    }
    # The raw payload check warns and gates nothing: its step goes after the dbt build
    # (a run starts its ready steps by `dagster/priority`, then by name).
    priority = {n.name: int(n.definition.tags.get("dagster/priority", 0)) for n in job.nodes}
    assert priority["raw_payloads_parse"] < priority["retail_dbt_models"]


def test_observations_carry_the_tag_dagster_reads_data_versions_from():
    # The code uses the documented tag name, not Dagster's private constant: if Dagster
    # ever renamed it, logged observations would silently stop versioning raw.
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    from retail_platform.assets.raw import DATA_VERSION_TAG as used

    assert used == DATA_VERSION_TAG


def test_dbt_is_never_pointed_elsewhere_than_the_warehouse_resource(warehouse_path, tmp_path):
    from dagster import Failure

    from retail_platform.assets.dbt import check_dbt_sees
    from retail_platform.warehouse.duckdb import DuckDBWarehouse

    # The environment names the resource's file: dbt inherits it, nothing is written.
    assert check_dbt_sees(DuckDBWarehouse(path=str(warehouse_path)))["RETAIL_DUCKDB_PATH"] == str(
        warehouse_path
    )
    other = DuckDBWarehouse(path=str(tmp_path / "other.duckdb"))
    with pytest.raises(Failure, match="set RETAIL_DUCKDB_PATH"):
        check_dbt_sees(other)


def test_every_asset_describes_itself_in_a_line(defs):
    """The catalog shows each asset's own description, never dagster-dbt's fallback
    (the model's raw SQL under "#### Raw SQL")."""
    graph = defs.resolve_asset_graph()
    for asset_key in graph.get_all_asset_keys():
        description = graph.get(asset_key).description or ""
        assert description.strip(), asset_key
        assert "Raw SQL" not in description and "```" not in description, asset_key


def test_the_readmes_lineage_picture_shows_todays_graph(defs):
    """docs/images/lineage.png was taken (`make screenshots`) of the asset graph the
    code location defines now: the browser test records beside it what it showed."""
    shown = json.loads((ROOT / "docs" / "images" / "lineage.png.json").read_text())
    keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    assert shown["assets"] == keys, (
        "assets changed: retake the README's pictures (make screenshots)"
    )
