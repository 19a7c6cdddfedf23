"""New raw rows, from any writer, lead the automation sensor to request the dbt assets."""

from dagster import AssetCheckKey, AssetKey, AssetMaterialization, evaluate_automation_conditions

from retail_platform.simulator.runner import BatchSizes, run_batch


def observe(defs, instance):
    result = defs.resolve_job_def("check_sources_job").execute_in_process(instance=instance)
    assert result.success


def requested(result, defs) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in graph.get_all_asset_keys() if result.get_num_requested(k)}


def test_new_raw_rows_request_the_dbt_assets(warehouse, instance):
    from retail_platform.definitions import defs as load

    defs = load()
    dbt_keys = {
        k.to_user_string()
        for k in defs.resolve_asset_graph().get_all_asset_keys()
        if k.path[0] in ("staging", "marts")
    }
    # The sensor's first tick, on an empty warehouse: nothing to do.
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(start, defs) == set()

    run_batch(warehouse, sizes=BatchSizes(50, 10, 100), dirty_rate=0)
    observe(defs, instance)
    first = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    # All three raw tables got rows: every dbt asset is requested.
    assert requested(first, defs) == dbt_keys

    # Pretend that run happened, then nothing new: nothing is requested.
    for key in dbt_keys:
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(key.split("/"))))
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert requested(quiet, defs) == set()

    # Another writer (the CLI path) appends orders only; the minute observation notices.
    run_batch(warehouse, sizes=BatchSizes(0, 0, 100), dirty_rate=0, entities=["orders"])
    observe(defs, instance)
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    got = requested(after, defs)
    assert "staging/stg_orders" in got and "marts/fact_daily_sales" in got
    # Customers and products did not change: their staging models are not requested.
    assert "staging/stg_customers" not in got and "marts/dim_products" not in got


def test_quarantine_checks_follow_the_dbt_build(warehouse, instance):
    from retail_platform.definitions import defs as load

    defs = load()
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(
        AssetMaterialization(AssetKey(["staging", "quarantine_orders"]))
    )
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    # (get_num_requested does not count check keys: read the results)
    checks = {
        r.key
        for r in after.results
        if isinstance(r.key, AssetCheckKey) and not r.true_subset.is_empty
    }
    assert AssetCheckKey(AssetKey(["staging", "quarantine_orders"]), "quarantine_share") in checks
    assert (
        AssetCheckKey(AssetKey(["staging", "quarantine_customers"]), "quarantine_share")
        not in checks
    )


def test_simulator_runs_trigger_dbt_without_waiting_for_the_poll(warehouse, instance):
    from dagster import materialize

    from retail_platform.assets.simulator import simulator_batches
    from retail_platform.definitions import defs as load

    defs = load()
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    result = materialize([simulator_batches], resources={"warehouse": warehouse}, instance=instance)
    assert result.success
    # No check_sources_job run: the simulator's own observations are enough.
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    assert {"staging/stg_orders", "marts/fact_daily_sales", "marts/dim_customers"} <= requested(
        after, defs
    )
