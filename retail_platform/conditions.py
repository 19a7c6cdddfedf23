"""The dbt models' and Python checks' automation condition (`eager()`), as the
automation sensor evaluates it in the code server.

Dagster's eager condition decides from what happened between two ticks; this one from
the events themselves, so rows observed while a build of their models was running are
built next (the reset wins when both land between two ticks: dagster-io/dagster#33587, #24650).
"""

from __future__ import annotations

from dagster import (
    AssetCheckKey,
    AssetKey,
    AutomationCondition,
    AutomationContext,
    AutomationResult,
    EventLogEntry,
    RunsFilter,
)

# How far back to look for when a raw table's current data version first appeared: the
# look observes only changed tables, so a repeat is a hand-made observation.
OBSERVATIONS_LOOKED_AT = 20


class UpstreamNewerThanBuild(AutomationCondition):
    """True while a dependency holds an update that the asset's latest build cannot have
    read: logged by another run, after the start of the latest run that set out to build
    the asset (whether it succeeded or failed: a failure waits for the next update). True
    as well for an asset no run has built yet.

    Dagster's eager condition decides from what happened between two ticks: "a
    dependency updated" since "this asset was requested or updated". When both happen
    between the same two ticks the reset wins, so rows observed while a build of their
    models was running (it started before they arrived and landed after their
    observation) were never built, until the next writer's rows. This
    condition compares the events themselves, whenever they happened: an update from the
    same run (a `generate_job` batch observes raw, then builds) or from before the build
    started (the build read it) is built; it keeps no state between ticks.
    """

    @property
    def name(self) -> str:
        return "upstream_newer_than_build"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        events = TickEvents.of(context)
        build_run, read_from = events.latest_build(context.key)
        newer = read_from is None
        for parent in context.asset_graph.get(context.key).parent_entity_keys:
            if newer:
                break
            update = events.latest_update(parent)
            newer = bool(update and update.run_id != build_run and update.timestamp > read_from)
        return AutomationResult(
            context, context.candidate_subset if newer else context.get_empty_subset()
        )


class TickEvents:
    """The event-log lookups of `UpstreamNewerThanBuild`, made once per tick for all
    assets (their records in one query): asked per asset and parent, they cost the
    sensor more than Dagster's own conditions together."""

    _current: TickEvents | None = None

    def __init__(self, context: AutomationContext, tick: object) -> None:
        instance, graph = context.asset_graph_view.instance, context.asset_graph
        self.instance, self.tick, self.graph = instance, tick, graph
        records = instance.get_asset_records(list(graph.get_all_asset_keys()))
        self.entries = {record.asset_entry.asset_key: record.asset_entry for record in records}
        # A check's latest execution (planned, running or done), as an asset's latest plan.
        self.checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            list(graph.asset_check_keys)
        )
        runs = {e.last_run_id for e in self.entries.values()}
        runs = (runs | {c.run_id for c in self.checks.values()}) - {None, ""}
        self.run_starts = {
            r.dagster_run.run_id: r.start_time or r.create_timestamp.timestamp()
            for r in instance.get_run_records(RunsFilter(run_ids=list(runs)))
        } if runs else {}  # fmt: skip
        self.updates: dict[AssetKey, EventLogEntry | None] = {}

    @classmethod
    def of(cls, context: AutomationContext) -> TickEvents:
        instance = context.asset_graph_view.instance
        # Every asset's evaluation in a tick shares its evaluation time.
        tick = (id(instance), context.evaluation_time)
        if cls._current is None or cls._current.tick != tick:
            cls._current = cls(context, tick)
        return cls._current

    def latest_build(self, key: AssetKey | AssetCheckKey) -> tuple[str | None, float | None]:
        """(run, when what it read was there) of the latest build of `key`: the start of
        the latest run that planned it, or a materialization reported with no run."""
        if isinstance(key, AssetCheckKey):
            check = self.checks.get(key)
            if check is None:
                return None, None
            return check.run_id, self.run_starts.get(check.run_id, check.create_timestamp)
        entry = self.entries.get(key)
        if entry is None:
            return None, None
        # last_run_id: the latest run that planned or materialized it. (Dagster's
        # last_planned_materialization_run_id stays empty on SQLite storage.)
        run_id = entry.last_run_id
        read_from = self.run_starts.get(run_id) if run_id else None
        built = entry.last_materialization
        # A materialization reported with no run, or one whose run retention has deleted.
        if built is not None and (not built.run_id or read_from is None):
            read_from = max(read_from or 0.0, built.timestamp)
        return run_id, read_from

    def latest_update(self, key: AssetKey) -> EventLogEntry | None:
        """The newest materialization of `key`, or the observation where its current data
        version first appeared (observing unchanged rows again is no update), if newer."""
        if key not in self.updates:
            entry = self.entries.get(key)
            observed = None
            if self.graph.get(key).is_observable:
                records = self.instance.fetch_observations(key, limit=OBSERVATIONS_LOOKED_AT)
                for record in records.records:
                    version = record.asset_observation.data_version
                    if observed is not None and version != observed.asset_observation.data_version:
                        break
                    observed = record
            events = [
                entry.last_materialization if entry else None,
                observed.event_log_entry if observed else None,
            ]
            self.updates[key] = max(
                (e for e in events if e is not None), key=lambda e: e.timestamp, default=None
            )
        return self.updates[key]


def eager() -> AutomationCondition:
    """The dbt models' and Python checks' condition: upstream data their latest build has not read
    (`UpstreamNewerThanBuild`), or a dependency about to be built in the same run, once
    nothing of theirs or of their dependencies is running and every dependency exists.
    Dagster's `AutomationCondition.eager()` with its "since the previous tick" part
    replaced by a comparison of the events themselves."""
    return (
        (
            UpstreamNewerThanBuild()
            | AutomationCondition.any_deps_match(AutomationCondition.will_be_requested())
        )
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("eager")
