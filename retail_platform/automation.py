"""Jobs, schedules and sensors: how data moves with no click.

A run is a process that imports dagster, dagster-dbt and these definitions (about
2 CPU-s on a 2-core laptop before any work), so the platform starts as few as it can:

- `generate` (a schedule) runs `generate_job`: one simulator batch, then the dbt models
  and checks downstream of it, in one run.
- `check_sources_every_minute` (a sensor) looks at the raw tables every minute, in the
  code server that is already running, and starts `check_sources_job` only for the
  tables whose rows differ from what Dagster last observed: rows from another writer
  (`retail-sim`, a user's loader) are noticed within a minute, and an idle platform
  starts no run.
- `retail_automation` (the automation sensor) keeps the dbt models eager (`eager()`
  below): whatever updates a raw table (that observation, a hand-made materialization)
  leads to a run of exactly the models downstream of it.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    AutomationContext,
    AutomationResult,
    BetaWarning,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    ResourceParam,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from retail_platform.assets.keys import RAW_KEYS
from retail_platform.assets.raw import raw_tables
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

# How long the minute look waits for the DuckDB file while a build holds it: the next
# look comes a minute later anyway.
LOOK_LOCK_SECONDS = 5.0


@sensor(
    name="check_sources_every_minute",
    job=check_sources_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every minute: observe the raw tables whose rows changed since Dagster last observed them.",
)
def check_sources_sensor(context: SensorEvaluationContext, warehouse: ResourceParam[Warehouse]):
    changed = []
    try:
        for table, key in RAW_KEYS.items():
            state = warehouse.observe(table, lock_timeout_seconds=LOOK_LOCK_SECONDS)
            last = context.instance.fetch_observations(key, limit=1).records
            known = last[0].asset_observation.data_version if last else None
            if state.data_version != known:
                changed.append((key, state.data_version))
    except WarehouseError as exc:
        return SkipReason(f"raw tables not readable now, next look in a minute: {exc}")
    if not changed:
        return SkipReason("no raw table changed since its last observation")
    return RunRequest(
        # The same unseen rows never start two runs.
        run_key="|".join(f"{key.to_user_string()}={version}" for key, version in changed),
        asset_selection=[key for key, _ in changed],
        asset_check_keys=[
            check.key for check in raw_payloads_parse.check_specs
            if check.asset_key in {key for key, _ in changed}
        ],
    )  # fmt: skip


# How far back to look for when a raw table's current data version first appeared: the
# minute look observes only changed tables, so a repeat is a hand-made observation.
OBSERVATIONS_LOOKED_AT = 20


class UpstreamNewerThanBuild(AutomationCondition):
    """True while a dependency holds an update that the asset's latest build cannot have
    read: logged by another run, after the run that built the asset started.

    Dagster's eager condition decides from what happened between two ticks: "a
    dependency updated" since "this asset was requested or updated". When both happen
    between the same two ticks the reset wins, so rows observed while a build of their
    models was running (it started before they arrived and landed after their
    observation, within the sensor's minute) were never built, until the next writer's
    rows (issue 20). This condition compares the events themselves, whenever they
    happened: an update from the same run (a `generate_job` batch observes raw, then
    builds) or from before the build started (the build read it) is built.
    """

    @property
    def name(self) -> str:
        return "upstream_newer_than_build"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        instance = context.asset_graph_view.instance
        built = instance.get_latest_materialization_event(context.key)
        newer = False
        if built is not None:
            run = instance.get_run_record_by_id(built.run_id) if built.run_id else None
            read_from = run.start_time if run and run.start_time else built.timestamp
            for parent in context.asset_graph.get(context.key).parent_keys:
                update = latest_update(instance, parent)
                if update and update.run_id != built.run_id and update.timestamp > read_from:
                    newer = True
                    break
        return AutomationResult(
            context, context.candidate_subset if newer else context.get_empty_subset()
        )


def latest_update(instance, key: AssetKey) -> EventLogEntry | None:
    """The newest materialization of `key`, or the observation where its current data
    version first appeared (observing unchanged rows again is no update), if newer."""
    materialized = instance.get_latest_materialization_event(key)
    observed = None
    for record in instance.fetch_observations(key, limit=OBSERVATIONS_LOOKED_AT).records:
        version = record.asset_observation.data_version if record.asset_observation else None
        if observed is not None and version != observed.asset_observation.data_version:
            break
        observed = record
    events = [materialized, observed.event_log_entry if observed else None]
    return max((e for e in events if e is not None), key=lambda e: e.timestamp, default=None)


def eager() -> AutomationCondition:
    """The dbt models' condition: Dagster's eager, or new upstream data their latest build
    has not read (`UpstreamNewerThanBuild`), once nothing of theirs is running and their
    latest build did not fail (a failure waits for the next update, as in eager)."""
    not_yet_built = (
        # (and what is downstream of it, in the same run, as eager does)
        (
            UpstreamNewerThanBuild()
            | AutomationCondition.any_deps_match(AutomationCondition.will_be_requested())
        )
        & ~AutomationCondition.in_progress()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.execution_failed()
    ).with_label("upstream data not yet built")
    return (AutomationCondition.eager() | not_yet_built).with_label("eager")


# `use_user_code_server` is beta; its warning at every process start is nothing a user
# can act on. Only that one is silenced.
warnings.filterwarnings("ignore", message=".*use_user_code_server.*", category=BetaWarning)

# The built-in automation sensor is stopped by default; this one runs from the start.
# Every 60 s, as the minute look: batches of the schedule are built in their own run, so
# this sensor only serves other writers, whose rows the minute look finds first. Each
# evaluation costs the daemon about 0.45 CPU-s (measured idle), more than any other loop.
automation_sensor = AutomationConditionSensorDefinition(
    "retail_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    run_tags=MAX_RUNTIME,
    # Evaluated in the code server, which can run the project's own condition (eager()).
    use_user_code_server=True,
)
