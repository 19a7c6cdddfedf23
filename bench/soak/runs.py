"""The soak's runs as the instance recorded them, and what their events say: errors,
check evaluations, freshness latency and where its seconds go, each job's phases."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

FACT_KEY = ("marts", "fact_daily_sales")
DIM_KEYS = (("marts", "dim_customers"), ("marts", "dim_products"))
SIM_DONE_KEY = ("simulator", "orders")  # logged after all loads of a batch committed


@dataclass
class RunInfo:
    run_id: str
    job: str
    status: str
    created: float
    events: list = field(default_factory=list)

    def first(self, event_type: str, step: str | None = None) -> float | None:
        for e in self.events:
            if e.dagster_event and e.dagster_event.event_type.name == event_type:
                if step is None or e.step_key == step:
                    return e.timestamp
        return None

    def last(self, event_type: str, before: float | None = None) -> float | None:
        found = None
        for e in self.events:
            if e.dagster_event and e.dagster_event.event_type.name == event_type:
                if before is None or e.timestamp <= before:
                    found = e.timestamp
        return found

    def materializations(self, key: tuple[str, ...]) -> list[float]:
        out = []
        for e in self.events:
            de = e.dagster_event
            if (
                de
                and de.event_type.name == "ASSET_MATERIALIZATION"
                and tuple(de.asset_key.path) == key
            ):
                out.append(e.timestamp)
        return out


def load_runs(instance) -> list[RunInfo]:
    runs = []
    for record in instance.get_run_records():
        run = record.dagster_run
        info = RunInfo(
            run.run_id,
            run.job_name,
            run.status.value,
            record.create_timestamp.timestamp(),
        )
        info.events = list(instance.all_logs(run.run_id))
        runs.append(info)
    runs.sort(key=lambda r: r.created)
    return runs


def run_errors(run: RunInfo) -> list[str]:
    messages = []
    for e in run.events:
        de = e.dagster_event
        if de and de.event_type.name in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT"):
            data = de.event_specific_data
            error = getattr(data, "error", None)
            if de.event_type.name == "ENGINE_EVENT" and error is None:
                continue
            text = error.message.strip() if error else (de.message or e.user_message or "")
            messages.append(f"{de.event_type.name}: {text.splitlines()[0] if text else ''}")
    return messages


def check_failures(runs: list[RunInfo]) -> tuple[Counter, Counter, int]:
    failed_warn, failed_error, total = Counter(), Counter(), 0
    for run in runs:
        for e in run.events:
            de = e.dagster_event
            if de and de.event_type.name == "ASSET_CHECK_EVALUATION":
                total += 1
                ev = de.event_specific_data
                if not ev.passed:
                    name = f"{'/'.join(ev.asset_key.path)}:{ev.check_name}"
                    (failed_error if ev.severity.value == "ERROR" else failed_warn)[name] += 1
    return failed_warn, failed_error, total


def fact_builds(
    runs: list[RunInfo], key: tuple[str, ...] = FACT_KEY
) -> list[tuple[float, float, RunInfo]]:
    """Every materialization of `key` (fact_daily_sales) with the start of the dbt step that
    built it (what the build read was there by then), in order of materialization."""
    builds = [
        (start, mat, run)
        for run in runs
        for mat in run.materializations(key)
        if (start := run.last("STEP_START", before=mat)) is not None
    ]
    return sorted(builds, key=lambda t: t[1])


def freshness(runs: list[RunInfo]) -> tuple[list[dict], list[str]]:
    """Per successful simulator run: latency to the fact materialization holding its rows."""
    dbt_steps = fact_builds(runs)
    samples, unresolved = [], []
    for run in runs:
        if run.job != "generate_job" or run.status != "SUCCESS":
            continue
        committed = run.materializations(SIM_DONE_KEY)
        if not committed:
            continue
        committed_at = committed[-1]
        run_start = run.first("RUN_START")
        match = next(((s, m, r) for s, m, r in dbt_steps if s >= committed_at), None)
        if match is None:
            unresolved.append(run.run_id[:8])
            continue
        step_start, mat, dbt_run = match
        dbt_starting = dbt_run.first("RUN_STARTING") or dbt_run.created
        dbt_run_start = dbt_run.first("RUN_START") or dbt_starting
        samples.append(
            {
                "sim_run": run.run_id[:8],
                "same_run": dbt_run is run,
                "handover": step_start - committed_at,
                "dbt_run": dbt_run.run_id[:8],
                "latency": mat - run_start,
                "latency_from_tick": mat - run.created,
                # simulator run
                "sim_queue": (run.first("RUN_STARTING") or run.created) - run.created,
                "sim_process": run_start - (run.first("RUN_STARTING") or run.created),
                "sim_step": committed_at - run_start,
                # hand-over to automation: commit -> dbt run requested by the sensor
                # (negative when the dbt run existed already, waiting for the pool)
                "sensor": dbt_run.created - committed_at,
                "dbt_queue": dbt_starting - dbt_run.created,
                "dbt_process": dbt_run_start - dbt_starting,
                "dbt_to_step": step_start - dbt_run_start,
                "dbt_step_to_fact": mat - step_start,
            }
        )
    return samples, unresolved


# A load not built into the fact within this long counts as missed.
MISS_AFTER_SECONDS = 300


def external_latency(
    runs: list[RunInfo], loads: list[dict]
) -> tuple[list[float], list[str], list[str]]:
    """Per load of the outside writer: seconds from its end to the first fact_daily_sales
    materialization of a dbt step that started after it (so read it); missed loads (none
    within MISS_AFTER_SECONDS); partial ones (that fact built while a dimension of the
    load was not: orders shown without their customers or products)."""
    dbt_steps = fact_builds(runs)
    dims = [fact_builds(runs, key) for key in DIM_KEYS]
    latencies, missed, partial = [], [], []
    for load in loads:
        at = time.strftime("%H:%M:%S", time.localtime(load["end"]))
        mat, run = next(((m, r) for start, m, r in dbt_steps if start >= load["end"]), (None, None))
        if mat is None or mat - load["end"] > MISS_AFTER_SECONDS:
            missed.append(at)
            continue
        latencies.append(mat - load["end"])
        # (in the fact's own run, a dimension may be logged a moment after it)
        if not all(
            any(s >= load["end"] and (m <= mat or r is run) for s, m, r in dim) for dim in dims
        ):
            partial.append(at)
    return latencies, missed, partial


def dbt_run_phases(runs: list[RunInfo]) -> dict[str, list[float]]:
    """For every dbt run: queue, process start + definitions load, step start, build."""
    phases = defaultdict(list)
    for run in runs:
        if run.job != "__ASSET_JOB" or run.status != "SUCCESS":
            continue
        fact = run.materializations(FACT_KEY)
        starting, start = run.first("RUN_STARTING"), run.first("RUN_START")
        step_start, step_end = run.first("STEP_START"), run.first("STEP_SUCCESS")
        first_mat = next(
            (
                e.timestamp
                for e in run.events
                if e.dagster_event and e.dagster_event.event_type.name == "ASSET_MATERIALIZATION"
            ),
            None,
        )
        end = run.first("RUN_SUCCESS")
        if not (starting and start and step_start and step_end and end):
            continue
        phases["queue (created -> RUN_STARTING)"].append(starting - run.created)
        phases["process + defs (RUN_STARTING -> RUN_START)"].append(start - starting)
        phases["to step (RUN_START -> STEP_START: pool, resources)"].append(step_start - start)
        if first_mat:
            phases["dbt start-up (STEP_START -> first materialization)"].append(
                first_mat - step_start
            )
        if fact:
            phases["STEP_START -> fact_daily_sales"].append(fact[0] - step_start)
        phases["step total (STEP_START -> STEP_SUCCESS)"].append(step_end - step_start)
        phases["after step (STEP_SUCCESS -> RUN_SUCCESS)"].append(end - step_end)
        phases["run total (created -> RUN_SUCCESS)"].append(end - run.created)
    return phases


def job_phases(runs: list[RunInfo], job: str) -> dict[str, list[float]]:
    phases = defaultdict(list)
    for run in runs:
        if run.job != job or run.status != "SUCCESS":
            continue
        starting, start = run.first("RUN_STARTING"), run.first("RUN_START")
        step_start, step_end, end = (
            run.first("STEP_START"),
            run.first("STEP_SUCCESS"),
            run.first("RUN_SUCCESS"),
        )
        if not (starting and start and step_start and step_end and end):
            continue
        phases["queue"].append(starting - run.created)
        phases["process + defs"].append(start - starting)
        phases["to step"].append(step_start - start)
        phases["first step"].append(step_end - step_start)
        phases["total"].append(end - run.created)
    return phases
