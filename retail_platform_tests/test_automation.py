"""New raw rows, from any writer, lead the automation sensor to request the dbt assets."""

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetMaterialization,
    Definitions,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from retail_platform.assets.raw import observation
from retail_platform.automation import check_sources_sensor
from retail_platform.simulator.runner import BatchSizes, run_batch


def observe(warehouse, instance):
    """One look of the `check_sources` sensor, its observations logged as the daemon logs them."""
    result = check_sources_sensor(
        build_sensor_context(
            instance=instance, definitions=Definitions(resources={"warehouse": warehouse})
        )
    )
    assert isinstance(result, SensorResult) and result.asset_events
    for event in result.asset_events:
        instance.report_runless_asset_event(event)


def build(defs, instance) -> None:
    """A run of every dbt model and Python check, as the automation sensor's runs build
    them (with an observation of raw that finds the rows already observed)."""
    keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] != "simulator"]
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=instance, asset_selection=keys).success


def requested(result, defs) -> set[str]:
    """Assets and checks requested (`get_num_requested` counts assets only)."""
    return {r.key.to_user_string() for r in result.results if not r.true_subset.is_empty}


RAW_CHECKS = {f"raw/raw_{entity}:payloads_parse" for entity in ("customers", "products", "orders")}


def built_and_quiet(defs, warehouse, instance):
    """A first batch, observed, requested and built: the evaluation after that build
    requests nothing. Returns it (its cursor is the next tick's)."""
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    run_batch(warehouse, sizes=BatchSizes(50, 10, 100), dirty_rate=0)
    observe(warehouse, instance)
    first = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    build(defs, instance)
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert requested(quiet, defs) == set()
    return quiet


def test_new_raw_rows_request_the_dbt_assets(warehouse, instance):
    from retail_platform.definitions import defs as load

    defs = load()
    graph = defs.resolve_asset_graph()
    dbt_keys = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] != "raw"}
    dbt_keys -= {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "simulator"}
    quarantine_checks = {
        f"staging/quarantine_{e}:quarantine_share" for e in ("customers", "products", "orders")
    }
    # The sensor's first tick, on an empty warehouse: nothing to do.
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(start, defs) == set()

    run_batch(warehouse, sizes=BatchSizes(50, 10, 100), dirty_rate=0)
    observe(warehouse, instance)
    first = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    # All three raw tables got rows: every dbt asset is requested, with the raw checks.
    assert requested(first, defs) == dbt_keys | RAW_CHECKS | quarantine_checks

    # That run, then nothing new: nothing is requested.
    build(defs, instance)
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert requested(quiet, defs) == set()

    # Another writer (the CLI path) appends orders only; the look notices.
    run_batch(warehouse, sizes=BatchSizes(0, 0, 100), dirty_rate=0, entities=["orders"])
    observe(warehouse, instance)
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


def test_rows_observed_in_the_tick_a_build_lands_are_built_after_it(warehouse, instance):
    """Dagster's eager miss: between two ticks of the automation sensor, a build of the models
    lands (it started before the rows below existed) and another writer's rows are
    observed. Dagster's eager condition takes the new rows as handled by that build and
    never requests them; here they are requested, once, and nothing after."""
    from retail_platform.definitions import defs as load

    defs = load()
    quiet = built_and_quiet(defs, warehouse, instance)

    build(defs, instance)  # a build (by hand, or for other rows) ...
    run_batch(warehouse, sizes=BatchSizes(0, 0, 100), dirty_rate=0, entities=["orders"])
    observe(warehouse, instance)  # ... and orders it never read, observed in the same tick
    race = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert {"staging/base_orders_parsed", "marts/fact_daily_sales"} <= requested(race, defs)
    assert "staging/stg_customers" not in requested(race, defs)

    build(defs, instance)  # the requested run
    settled = evaluate_automation_conditions(defs=defs, instance=instance, cursor=race.cursor)
    again = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert requested(settled, defs) == set() and requested(again, defs) == set()


def test_rows_observed_while_a_build_runs_are_built_after_it(warehouse, instance):
    """The live miss: rows committed after a build's dbt read raw and observed before
    that build's materializations were logged (it lasts seconds). Their observation is
    older than the build's materializations but newer than the start of its run: they
    are requested. (A condition reading the build's time from its materialization, as
    Dagster's planned-run field is empty on SQLite, would take them as built.)"""
    from dagster._core.test_utils import freeze_time

    from retail_platform.assets.keys import RAW_KEYS
    from retail_platform.definitions import defs as load

    defs = load()
    quiet = built_and_quiet(defs, warehouse, instance)
    built = instance.get_latest_materialization_event(AssetKey(["staging", "base_orders_parsed"]))
    run = instance.get_run_record_by_id(built.run_id)

    run_batch(warehouse, sizes=BatchSizes(0, 0, 100), dirty_rate=0, entities=["orders"])
    during = run.start_time + (built.timestamp - run.start_time) / 2
    with freeze_time(during):  # observed while the build was still running
        instance.report_runless_asset_event(
            observation(RAW_KEYS["raw_orders"], warehouse.observe("raw_orders"))
        )
    race = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert {"staging/base_orders_parsed", "marts/fact_daily_sales"} <= requested(race, defs)


def test_a_scheduled_batch_starts_no_second_run(warehouse, instance):
    """generate_job loads, observes and builds downstream in one run: the automation
    sensor finds nothing left to do."""
    from retail_platform.definitions import defs as load

    defs = load()
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    first = defs.resolve_job_def("generate_job").execute_in_process(instance=instance)
    assert first.success
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    assert requested(after, defs) == set()
    second = defs.resolve_job_def("generate_job").execute_in_process(instance=instance)
    assert second.success
    later = evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert requested(later, defs) == set()
