"""Chaos: faults done for real against a live `dagster dev`, and how the platform heals.

Starts `dagster dev` (instance/dagster.yaml, a temporary DAGSTER_HOME and DuckDB file)
with the `generate` schedule on (a batch a minute), waits for the first batch to reach
the marts, then, one after the other:

  a  SIGKILL of the run worker while its dbt build runs (dbt, its child, must not
     live on holding the file: the time it outlived the worker is reported);
  b  SIGKILL of the run worker inside the simulator step, mid-load (a bigger batch is
     launched by hand so the load lasts seconds);
  c  SIGKILL of the whole dagster dev process tree during a run, then dagster dev
     started again on the same instance and warehouse;
  d  the warehouse unavailable past the retry budget: another process holds the DuckDB
     file open read-write for --lock-minutes (3).

After each fault it waits for the platform to heal by itself, then pauses the schedule,
lets the runs finish and reports: time to heal (fault -> the first batch loaded after
the fault is in fact_daily_sales; for d, also from the end of the outage), runs failed,
runs stuck (not finished when the platform is quiet), pool slots still claimed by runs
not in progress, duplicate rows in raw and marts, and marts == an independent pandas
recomputation from the raw payloads. Exit status 1 when any fault did not heal within
--heal-bound (300 s) or any of those checks fails.

    .venv/bin/python -m bench.chaos [--faults abcd] [--lock-minutes 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.duplicates import mart_duplicates, raw_duplicates
from devtools.cputree import processes
from devtools.live import TERMINAL, Dev, free_port, init_warehouse, logger
from retail_platform import dbt_server
from retail_platform.instance import prepare_home

log = logger("chaos")
FACT = "marts/fact_daily_sales"
QUIET_SECONDS = 30  # looks and automation ticks (every 5-10 s) with nothing new


@dataclass
class Outcome:
    fault: str
    heal_seconds: float | None = None
    heal_after_outage: float | None = None
    runs_failed: int = 0
    runs_stuck: list[str] = field(default_factory=list)
    slots_held: list[str] = field(default_factory=list)
    duplicates: int = 0
    marts_equal_truth: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def healed(self) -> bool:
        return self.heal_seconds is not None


def alive(pid: int) -> bool:
    """`pid` is a process that has not exited (a zombie has)."""
    found = processes().get(pid)
    return found is not None and found.state != "Z"


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def dbt_build() -> tuple[set[int], int] | None:
    """(the pids that run the dbt build, the run worker that asked for it) while one runs.
    The run worker starts `retail-dbt`, which either becomes dbt or hands the command to
    a fork of the warm dbt (retail_platform/dbt_server.py, the forks named `retail-dbt`);
    one build at a time here."""
    procs = {pid: p for pid, p in processes().items() if p.state != "Z"}
    callers = [
        p for p in procs.values()
        if ("retail-dbt" in p.cmdline or "/bin/dbt " in p.cmdline)
        and "spawn_main" in getattr(procs.get(p.ppid), "cmdline", "")
    ]  # fmt: skip
    builds = {
        p.pid for p in procs.values()
        if "/bin/dbt " in p.cmdline
        or ("dbt_server.py" in p.cmdline and comm(p.pid) == dbt_server.CHILD_NAME.decode())
    }  # fmt: skip
    if len(callers) != 1 or not builds:
        return None
    return builds, callers[0].ppid


class Platform:
    def __init__(self, tmp: Path, port: int):
        self.tmp, self.port = tmp, port
        self.home, self.warehouse = tmp / "dagster_home", tmp / "warehouse.duckdb"
        self.dev: Dev | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.dev = Dev(
            self.home, self.warehouse, self.port, self.tmp / f"dagster_dev_{self.starts}.log"
        )
        self.dev.wait_loaded(timeout=240)

    def instance(self):
        from dagster import DagsterInstance

        return DagsterInstance.from_config(str(self.home))

    def runs(self) -> list:
        with self.instance() as instance:
            return list(instance.get_run_records())

    def healed_since(self, fault_wall: float) -> float | None:
        """Wall time of the first fact_daily_sales materialization that holds a batch
        loaded after `fault_wall` (its dbt step started after that batch's loads)."""
        from dagster import DagsterEventType

        with self.instance() as instance:
            for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
                run = record.dagster_run
                if run.job_name != "generate_job" or run.status.value != "SUCCESS":
                    continue
                events = list(instance.all_logs(run.run_id))
                loads = [
                    e.timestamp for e in events
                    if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                    and e.dagster_event.asset_key.to_user_string() == "simulator/orders"
                    and e.timestamp > fault_wall
                ]  # fmt: skip
                facts = [
                    e.timestamp for e in events
                    if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                    and e.dagster_event.asset_key.to_user_string() == FACT
                    and loads and e.timestamp > loads[0]
                ]  # fmt: skip
                if facts:
                    return facts[0]
        return None

    def quiet(self) -> bool:
        active = [r for r in self.runs() if r.dagster_run.status.value not in TERMINAL]
        return not active


def settle_and_check(platform: Platform, outcome: Outcome, fault_wall: float) -> None:
    """Pause batches, let the platform finish what it has, then check the warehouse."""
    dev = platform.dev
    dev.stop_schedule("generate")
    quiet_since, deadline = None, time.monotonic() + 600
    while time.monotonic() < deadline:
        if platform.quiet():
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET_SECONDS:
                break
        else:
            quiet_since = None
        time.sleep(2)
    with platform.instance() as instance:
        records = instance.get_run_records()
        since = [r for r in records if r.create_timestamp.timestamp() >= fault_wall - 120]
        outcome.runs_failed = sum(1 for r in since if r.dagster_run.status.value == "FAILURE")
        outcome.runs_stuck = [
            f"{r.dagster_run.job_name}:{r.dagster_run.status.value}"
            for r in records if r.dagster_run.status.value not in TERMINAL
        ]  # fmt: skip
        in_progress = {
            r.dagster_run.run_id for r in records if r.dagster_run.status.value not in TERMINAL
        }
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        outcome.slots_held = [
            s.run_id[:8] for s in info.claimed_slots if s.run_id not in in_progress
        ]

    import duckdb

    from retail_platform.warehouse.duckdb import DuckDBWarehouse
    from retail_platform_tests.test_marts import compare_marts

    con = duckdb.connect(str(platform.warehouse), read_only=True)
    try:
        raw = raw_duplicates(con)
        marts = mart_duplicates(con)
    finally:
        con.close()
    outcome.duplicates = sum(v for k, v in raw.items() if not k.endswith("injected_in_load")) + sum(
        extra for extra, _ in marts.values()
    )
    try:
        compare_marts(DuckDBWarehouse(path=str(platform.warehouse)))
        outcome.marts_equal_truth = True
    except AssertionError as exc:
        outcome.notes.append(f"marts differ from the truth: {str(exc)[:300]}")
    dev.start_schedule("generate")


def poll(predicate, timeout: float, every: float = 0.2):
    """The first true value of `predicate` within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    value = poll(predicate, timeout, every)
    if not value:
        raise RuntimeError(f"timed out waiting for {what}")
    return value


def fault_a(platform: Platform) -> Outcome:
    outcome = Outcome("a: run worker SIGKILLed inside dbt")
    builds, worker = wait_for(dbt_build, 180, "a dbt build")
    time.sleep(1.5)  # into the build: parsing done, models running
    fault = time.time()
    os.kill(worker, signal.SIGKILL)
    started = time.monotonic()
    while any(map(alive, builds)) and time.monotonic() - started < 120:
        time.sleep(0.02)
    orphan = time.monotonic() - started
    outcome.notes.append(f"dbt outlived its killed worker by {orphan:.2f} s")
    heal(platform, outcome, fault)
    return outcome


def fault_b(platform: Platform) -> Outcome:
    outcome = Outcome("b: run worker SIGKILLed inside the simulator step, mid-load")
    # A batch big enough that the load lasts seconds (the schedule's own runs wait in
    # the pool meanwhile).
    import re

    from dagster import DagsterEventType

    wait_for(platform.quiet, 300, "no run in progress", every=1)
    batch = {"orders": 400_000, "customers": 2_000, "products": 50}
    run_id = platform.dev.launch("generate_job", {"ops": {"simulator_batches": {"config": batch}}})

    def worker_in_simulator_step() -> int | None:
        with platform.instance() as instance:
            events = list(instance.all_logs(run_id))
        started = any(
            e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_START
            and e.step_key == "simulator_batches"
            for e in events
        )  # fmt: skip
        # The in-process executor says which process runs the steps.
        found = [re.search(r"pid: (\d+)", e.message or "") for e in events]
        pid = next((int(m.group(1)) for m in found if m), None)
        return pid if started and pid else None

    worker = wait_for(worker_in_simulator_step, 180, "the simulator step", every=0.2)
    time.sleep(2.5)  # generating and loading chunks
    fault = time.time()
    os.kill(worker, signal.SIGKILL)
    outcome.notes.append(f"killed worker {worker} of run {run_id[:8]} (400k orders) mid-load")
    heal(platform, outcome, fault)
    return outcome


def fault_c(platform: Platform) -> Outcome:
    outcome = Outcome("c: whole dagster dev tree SIGKILLed mid-run, then started again")
    wait_for(dbt_build, 180, "a dbt build")
    time.sleep(1.0)
    fault = time.time()
    os.killpg(os.getpgid(platform.dev.proc.pid), signal.SIGKILL)
    platform.dev.proc.wait()
    platform.dev.logfile.close()
    time.sleep(2)
    t0 = time.monotonic()
    platform.start()  # the DuckDB file is opened again (WAL replay) by the first run
    outcome.notes.append(f"dagster dev up again in {time.monotonic() - t0:.1f} s")
    heal(platform, outcome, fault)
    return outcome


def fault_d(platform: Platform, minutes: float) -> Outcome:
    outcome = Outcome(f"d: DuckDB file held read-write by another process for {minutes:g} min")
    fault = time.time()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(float(sys.argv[2]))",
         str(platform.warehouse), str(minutes * 60)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.wait()
    released = time.time()
    messages = failure_messages(platform, fault)
    outcome.notes.append(
        "failure messages: " + (" | ".join(sorted(set(messages)))[:400] if messages else "none")
    )
    heal(platform, outcome, fault)
    if outcome.heal_seconds is not None:
        outcome.heal_after_outage = outcome.heal_seconds - (released - fault)
    return outcome


def failure_messages(platform: Platform, since: float) -> list[str]:
    from dagster import DagsterEventType

    out = []
    with platform.instance() as instance:
        for record in instance.get_run_records():
            if record.create_timestamp.timestamp() < since - 60:
                continue
            for e in instance.all_logs(
                record.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE
            ):
                error = e.dagster_event.event_specific_data.error
                # The step's own error, under the retry/interrupt wrappers.
                while error and error.cause:
                    error = error.cause
                if error and error.message.strip():
                    out.append(error.message.strip().splitlines()[0][:200])
    return out


HEAL_BOUND = 300.0


def heal(platform: Platform, outcome: Outcome, fault: float) -> None:
    healed = poll(lambda: platform.healed_since(fault), timeout=HEAL_BOUND + 300, every=5)
    outcome.heal_seconds = healed - fault if healed else None
    log(f"{outcome.fault}: healed in {outcome.heal_seconds if healed else 'NEVER'} s")
    settle_and_check(platform, outcome, fault)


def main(argv: list[str] | None = None) -> int:
    global HEAL_BOUND
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--faults", default="abcd", help="which faults, in order (default abcd)")
    parser.add_argument("--lock-minutes", type=float, default=3.0)
    parser.add_argument("--heal-bound", type=float, default=HEAL_BOUND)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    HEAL_BOUND = args.heal_bound

    tmp = Path(tempfile.mkdtemp(prefix="retail_chaos_"))
    platform = Platform(tmp, free_port())
    prepare_home(platform.home)
    init_warehouse(platform.warehouse)
    log(f"temp dir {tmp}")
    outcomes: list[Outcome] = []
    code = 2
    try:
        platform.start()
        platform.dev.start_schedule("generate")
        first = poll(lambda: platform.healed_since(0), timeout=300, every=5)
        if not first:
            raise RuntimeError("the first batch never reached the marts")
        log("first batch in the marts; faults begin")
        for fault in args.faults:
            if fault == "a":
                outcomes.append(fault_a(platform))
            elif fault == "b":
                outcomes.append(fault_b(platform))
            elif fault == "c":
                outcomes.append(fault_c(platform))
            elif fault == "d":
                outcomes.append(fault_d(platform, args.lock_minutes))
        code = report(outcomes)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - one line, then the logs
        log(f"error: {exc!r}; logs in {tmp}")
        if outcomes:
            report(outcomes)
    finally:
        if platform.dev:
            platform.dev.kill()
        if args.keep or code == 2:
            log(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return code


def report(outcomes: list[Outcome]) -> int:
    print()
    print("=" * 78)
    print(f"CHAOS SUMMARY (heal = fault -> the first batch loaded after it is in {FACT})")
    print("=" * 78)
    bad = 0
    for o in outcomes:
        ok = (
            o.healed and o.heal_seconds <= HEAL_BOUND and not o.runs_stuck and not o.slots_held
            and o.duplicates == 0 and o.marts_equal_truth
        )  # fmt: skip
        bad += not ok
        heal = f"{o.heal_seconds:.0f} s" if o.healed else "NEVER"
        if o.heal_after_outage is not None:
            heal += f" ({o.heal_after_outage:.0f} s after the outage ended)"
        print(f"{'PASS' if ok else 'FAIL'}  {o.fault}")
        print(
            f"      healed in {heal}; runs failed {o.runs_failed}; runs stuck {len(o.runs_stuck)} {o.runs_stuck or ''}"
        )
        print(
            f"      slots held by runs not in progress: {o.slots_held or 0}; duplicates {o.duplicates}; marts == truth: {o.marts_equal_truth}"
        )
        for note in o.notes:
            print(f"      {note}")
    print()
    print("CHAOS PASSED" if not bad else f"CHAOS FAILED: {bad} fault(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
