"""The soak's summary of what the instance and the warehouse hold once the platform has
stopped: runs, retries, warnings, check failures, duplicates, the outside writer's
loads, freshness latency and run phases."""

from __future__ import annotations

import logging
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from bench.duplicates import mart_duplicates, raw_duplicates
from bench.soak.runs import (
    MISS_AFTER_SECONDS,
    check_failures,
    dbt_run_phases,
    external_latency,
    freshness,
    job_phases,
    load_runs,
    run_errors,
)
from devtools.live import TERMINAL


def lock_mentions(home: Path) -> int:
    """Lines mentioning a DuckDB lock in the runs' captured stdout/stderr (waits, retries)."""
    count = 0
    for path in (home / "storage").rglob("*"):
        if path.is_file() and path.suffix in (".out", ".err"):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            count += sum(
                1
                for line in text.splitlines()
                if "lock" in line.lower() and "duckdb" in line.lower()
            )
    return count


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def dist(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"n={len(values)} min={min(values):.1f} median={statistics.median(values):.1f} "
        f"p90={pct(values, 0.9):.1f} max={max(values):.1f}"
    )


def report(home: Path, warehouse: Path, minutes: float, loads: list[dict] | None = None) -> int:
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterInstance

    problems = []
    with DagsterInstance.from_config(str(home)) as instance:
        runs = load_runs(instance)

    print()
    print("=" * 78)
    print(f"SOAK SUMMARY  ({minutes:g} min of the generate schedule, DAGSTER_HOME={home})")
    print("=" * 78)
    by_job = Counter(r.job for r in runs)
    status = defaultdict(Counter)
    for r in runs:
        status[r.job][r.status] += 1
    print(f"runs launched: {len(runs)}")
    for job, n in sorted(by_job.items()):
        states = ", ".join(f"{s.lower()} {c}" for s, c in sorted(status[job].items()))
        print(f"  {job:<22} {n:>4}  ({states})")
    failed = [r for r in runs if r.status == "FAILURE"]
    unfinished = [r for r in runs if r.status not in TERMINAL]
    print(f"runs failed: {len(failed)}")
    for r in failed:
        print(f"  {r.run_id[:8]} {r.job}")
        for message in run_errors(r)[:4]:
            print(f"      {message[:200]}")
    if failed:
        problems.append(f"{len(failed)} failed runs")
    if unfinished:
        print(
            f"runs not finished at shutdown: {len(unfinished)} "
            + ", ".join(f"{r.run_id[:8]} {r.job} {r.status}" for r in unfinished)
        )
    retries = [
        (r, e)
        for r in runs
        for e in r.events
        if e.dagster_event and e.dagster_event.event_type.name == "STEP_UP_FOR_RETRY"
    ]
    print(f"step retries: {len(retries)}")
    for r, e in retries[:5]:
        err = getattr(e.dagster_event.event_specific_data, "error", None)
        print(f"  {r.run_id[:8]} {r.job}: {(err.message.splitlines()[0] if err else '')[:200]}")
    print(f"lines mentioning a DuckDB lock in run logs: {lock_mentions(home)}")
    warned = Counter(
        (e.user_message or "").splitlines()[0][:160]
        for r in runs
        for e in r.events
        if e.level == logging.WARNING
    )
    print(f"warnings in run logs: {sum(warned.values())}")
    for message, n in warned.most_common(5):
        print(f"  {n} x {message}")
    if warned:
        problems.append(f"{sum(warned.values())} warnings in run logs")

    warn, error, total = check_failures(runs)
    print(
        f"asset check evaluations: {total}; failed ERROR: {sum(error.values())}, failed WARN: {sum(warn.values())}"
    )
    for name, n in sorted(error.items()):
        print(f"  ERROR {name}: {n}")
    for name, n in sorted(warn.items()):
        print(f"  WARN  {name}: {n}")
    if error:
        problems.append(f"{sum(error.values())} failed ERROR checks")

    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        raw = raw_duplicates(con)
        marts = mart_duplicates(con)
        (raw_rows,) = con.execute(
            "select (select count(*) from raw.raw_customers) + (select count(*) from raw.raw_products) + (select count(*) from raw.raw_orders)"
        ).fetchone()
        (batches,) = con.execute("select count(*) from raw.sim_batches").fetchone()
    finally:
        con.close()
    dup_raw = sum(v for k, v in raw.items() if not k.endswith("injected_in_load"))
    print(f"duplicate rows in raw: {dup_raw}  ({raw_rows} raw rows, {batches} simulator batches)")
    for k, v in raw.items():
        if v and not k.endswith("injected_in_load"):
            print(f"  {k}: {v}")
    injected = sum(v for k, v in raw.items() if k.endswith("injected_in_load"))
    print(f"  (repeated payloads inside one load, injected dirt, not duplicates: {injected})")
    dup_marts = sum(extra for extra, _ in marts.values())
    print(
        f"duplicate rows in marts: {dup_marts}  "
        + ", ".join(f"{t.split('.')[1]} {extra}/{rows}" for t, (extra, rows) in marts.items())
    )
    if dup_raw or dup_marts:
        problems.append("duplicates")

    if loads:
        ok = [load for load in loads if load["rc"] == 0]
        latencies, missed, partial = external_latency(runs, ok)
        print()
        print(
            f"outside writer (retail-sim generate): {len(loads)} loads, {len(loads) - len(ok)} failed"
        )
        for load in loads:
            if load["rc"]:
                print(f"  failed: {load['error'][:200]}")
        print(
            f"  load end -> fact_daily_sales built from a dbt step started after it (s): {dist(latencies)}"
        )
        print(
            f"  missed (not built within {MISS_AFTER_SECONDS} s): {len(missed)} {' '.join(missed)}"
        )
        print(
            f"  partial (fact built before a dimension of the load): {len(partial)} {' '.join(partial)}"
        )
        if missed or partial or len(ok) < len(loads):
            problems.append(
                f"{len(missed)} missed, {len(partial)} partial and {len(loads) - len(ok)} failed outside loads"
            )
    samples, unresolved = freshness(runs)
    print()
    print(
        "freshness latency, simulator run start -> fact_daily_sales materialization holding its rows (s):"
    )
    print(f"  {dist([s['latency'] for s in samples])}")
    print(
        f"  from the schedule tick (run created): {dist([s['latency_from_tick'] for s in samples])}"
    )
    if unresolved:
        print(
            f"  simulator runs whose rows never reached fact_daily_sales before shutdown: {', '.join(unresolved)}"
        )
    if samples:
        same = [s for s in samples if s["same_run"]]
        other = [s for s in samples if not s["same_run"]]
        med = lambda rows, part: statistics.median(r[part] for r in rows)  # noqa: E731
        print("  where the seconds go (median s over samples, max in brackets):")
        print(
            f"    simulator run, before RUN_START: queue {med(samples, 'sim_queue'):.1f}, "
            f"process + definitions {med(samples, 'sim_process'):.1f}"
        )
        print(
            f"    {'simulator: RUN_START -> loads committed':<58} {med(samples, 'sim_step'):6.1f}"
        )
        if same:
            print(f"    built in the simulator's own run (generate_job): {len(same)} samples")
            for part, label in (
                ("handover", "loads committed -> dbt STEP_START (raw observation step)"),
                ("dbt_step_to_fact", "dbt step: STEP_START -> fact_daily_sales"),
            ):
                values = [r[part] for r in same]
                print(f"      {label:<56} {statistics.median(values):6.1f}  ({max(values):.1f})")
        if other:
            print(f"    built by a run of the automation sensor: {len(other)} samples")
            for part, label in (
                ("sensor", "loads committed -> dbt run requested (sensor tick)"),
                ("dbt_queue", "dbt run: queued -> RUN_STARTING (dequeue)"),
                ("dbt_process", "dbt run: RUN_STARTING -> RUN_START (process, defs)"),
                ("dbt_to_step", "dbt run: RUN_START -> STEP_START (pool, resources)"),
                ("dbt_step_to_fact", "dbt step: STEP_START -> fact_daily_sales"),
            ):
                values = [r[part] for r in other]
                print(f"      {label:<56} {statistics.median(values):6.1f}  ({max(values):.1f})")
    elif not loads:  # (an outside writer's soak has no simulator runs)
        problems.append("no freshness sample")
    print()
    print("run phases by job (median / max s):")
    for job, phases in (
        ("dbt (automation)", dbt_run_phases(runs)),
        ("generate_job", job_phases(runs, "generate_job")),
        ("check_sources_job", job_phases(runs, "check_sources_job")),
    ):
        print(f"  {job}" + ("" if phases else ": no runs"))
        for name, values in phases.items():
            print(f"    {name:<58} {statistics.median(values):6.1f} / {max(values):.1f}")
    print()
    if problems:
        print("SOAK FAILED: " + "; ".join(problems))
        return 1
    print("SOAK PASSED: no failed run, no failed ERROR check, no duplicate")
    return 0
