"""Jobs, schedules and sensors: how data moves with no click.

A run is a process that imports dagster, dagster-dbt and these definitions before any
work, so the platform starts as few as it can:

- `generate` (a schedule) runs `generate_job`: one simulator batch, then the dbt models
  and checks downstream of it, in one run.
- `check_sources` (a sensor) looks at the raw tables every few seconds, in the code
  server that is already running, and reports an observation (no run) of each table
  whose rows differ from what Dagster last observed: rows from another writer
  (`retail-sim`, a user's loader) are noticed in seconds. A writer may report the same
  observation itself (retail_platform/report.py).
- `retail_automation` (the automation sensor) keeps the dbt models eager (`eager()`
  in conditions.py): whatever updates a raw table (an observation, a hand-made materialization)
  leads to one run of exactly the models downstream of it, with the raw tables' checks.
- `check_sources_job` observes the raw tables and runs their checks, by hand.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    BetaWarning,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    build_resources,
    define_asset_job,
    sensor,
)

from retail_platform.assets.keys import RAW_KEYS
from retail_platform.assets.raw import observation, raw_tables
from retail_platform.assets.simulator import simulator_batches
from retail_platform.checks import raw_payloads_parse
from retail_platform.warehouse.base import Warehouse, WarehouseError

# Run monitoring (instance/dagster.yaml) fails a run still STARTED after this long: the only way
# to end runs whose whole `dagster dev` died with them. A default batch with its dbt
# build takes 10-40 s (3x that under load); change the tag in the launchpad for a much bigger one.
MAX_RUNTIME = {"dagster/max_runtime": "120"}

# The batch and everything it feeds, in one process: the simulator loads, the raw
# tables are observed (a count: the step that orders dbt after the loads), dbt builds
# the models and runs their tests, then the Python checks on raw and the quarantines.
generate_job = define_asset_job(
    "generate_job",
    selection=AssetSelection.assets(simulator_batches).downstream(),
    tags=MAX_RUNTIME,
    description="Generate one batch of customers, products and orders, load it into raw, and build the models downstream.",
)

# Observable sources are left out by AssetSelection.groups(): select the assets directly.
check_sources_job = define_asset_job(
    "check_sources_job",
    selection=AssetSelection.assets(raw_tables) | AssetSelection.checks(raw_payloads_parse),
    tags=MAX_RUNTIME,
    description="Observe the raw tables (and run their checks) so new rows from any writer are noticed.",
)

generate_schedule = ScheduleDefinition(
    name="generate",
    job=generate_job,
    cron_schedule="* * * * *",
    default_status=DefaultScheduleStatus.STOPPED,  # a user turns the business on in the UI
    description="One simulator batch a minute, built through the marts.",
)

# The look ticks at every loop of the sensor daemon, which comes every 5 s: an interval
# of 5 s itself would skip the loops that come a moment early, and tick every 10 s. The
# look costs a stat of the warehouse file while nothing was written (see
# `Warehouse.change_token`).
TICK_SECONDS = 3
SENSOR_DAEMON_LOOP_SECONDS = 5  # dagster/_daemon/sensor.py MIN_INTERVAL_LOOP_TIME
# The automation sensor at every second loop (10 s), with the same margin: its
# evaluation is most of what an idle platform costs; a writer's rows wait 2.5 s more on
# average (docs/freshness.md).
AUTOMATION_TICK_SECONDS = TICK_SECONDS + SENSOR_DAEMON_LOOP_SECONDS
# How long the look waits for the DuckDB file while a build holds it: the next look
# comes a few seconds later anyway.
LOOK_LOCK_SECONDS = 2.0


# The look's warehouse: the location's `warehouse` resource, built once per code-server
# process. Dagster builds a sensor's resources anew at every tick, and with them its
# instance from storage (about 0.08 CPU-s on SQLite: two alembic revision checks); a
# sensor that declares none gets its instance only when it asks (dagster-io/dagster#14335).
# The look asks only when the warehouse changed.
_built_warehouses: dict[int, tuple[object, Warehouse]] = {}


def location_warehouse(context: SensorEvaluationContext) -> Warehouse:
    resource = context.repository_def.get_top_level_resources()["warehouse"]
    built = _built_warehouses.get(id(resource))
    if built is None:
        # Both warehouse resources return a plain object, with no teardown to run.
        with build_resources({"warehouse": resource}) as resources:
            # The resource is kept with it, so its id is never reused for another.
            built = _built_warehouses[id(resource)] = (resource, resources.warehouse)
    return built[1]


@sensor(
    name="check_sources",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        f"Every {SENSOR_DAEMON_LOOP_SECONDS} s: observe the raw tables whose rows changed since Dagster "
        "last observed them, with no run (their checks run in the automation's build)."
    ),
)
def check_sources_sensor(context: SensorEvaluationContext):
    warehouse = location_warehouse(context)
    # Taken before the look: a write during it changes the token again, so it is looked at next time.
    token = warehouse.change_token()
    if token is not None and token == context.cursor:
        return SkipReason("nothing written to the warehouse since the last look")
    events = []
    try:
        for table, key in RAW_KEYS.items():
            state = warehouse.observe(table, lock_timeout_seconds=LOOK_LOCK_SECONDS)
            last = context.instance.fetch_observations(key, limit=1).records
            known = last[0].asset_observation.data_version if last else None
            if state.data_version != known:
                events.append(observation(key, state))
    except WarehouseError as exc:
        # The cursor stays: the next look tries again.
        return SkipReason(f"raw tables not readable now, looking again shortly: {exc}")
    # A run would add only its start-up (seconds, ~2 CPU-s) before the automation sensor
    # could see the rows: the observations are reported from here.
    if not events:
        return SensorResult(cursor=token, skip_reason="no raw table changed")
    return SensorResult(asset_events=events, cursor=token)


# `use_user_code_server` is beta; its warning at every process start is nothing a user
# can act on. Only that one is silenced.
warnings.filterwarnings("ignore", message=".*use_user_code_server.*", category=BetaWarning)

# The built-in automation sensor is stopped by default; this one runs from the start.
# Rows another writer loads are requested at its first tick after they are observed
# (batches of the schedule are built in their own run).
automation_sensor = AutomationConditionSensorDefinition(
    "retail_automation",
    # AssetSelection.all() leaves out observable sources and so the raw tables' checks.
    target=AssetSelection.all() | AssetSelection.all_asset_checks(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_TICK_SECONDS,
    run_tags=MAX_RUNTIME,
    # Evaluated in the code server, which can run the project's own condition (eager()).
    use_user_code_server=True,
)
