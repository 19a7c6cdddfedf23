"""Soak test: the platform in `dagster dev` with the generate schedule on, then a report.

Starts `dagster dev -w workspace.yaml` on a temporary DAGSTER_HOME (with
instance/dagster.yaml) and a temporary DuckDB warehouse, on a free loopback port; turns the
`generate` schedule on for --minutes; turns it off, lets the automation finish the
last batch, stops the sensor and the minute poll, waits for in-flight runs (bounded),
stops dagster dev (its whole process group), and reports from the instance and the
warehouse:

- runs launched per job, runs failed (with their errors), step retries, lock waits;
- asset check evaluations that failed, by check, WARN and ERROR apart;
- duplicate rows in raw and in the marts (see `raw_duplicates` / `mart_duplicates`);
- freshness latency: for each successful simulator run, from the run's start to the
  first `marts/fact_daily_sales` materialization that includes its rows, i.e. one
  made by a dbt step that started after the simulator's loads committed (the
  simulator step logs `simulator/orders` after its loads and its batch log commit,
  and the incremental models look up unprocessed load labels when they run);
- where each latency's seconds go (sensor, queue, run process start, pool wait, dbt).

Exit status 1 when any run failed, any ERROR-severity check failed, any duplicate
exists or no freshness sample was measured; 2 when dagster dev could not start.

With --reader, an analyst's connection on the published marts (`retail-sim query`'s
way, snapshots.py) stays open and reads every 5 s throughout; the report adds its
reads and errors, and whether its last read equals the warehouse's last build.

With --warehouse FILE the platform starts on a copy of FILE (a long history, say:
bench/bench_transform.py --workdir keeps its files) instead of an empty warehouse.

    .venv/bin/python bench/soak.py [--minutes 10] [--warehouse FILE] [--port N] [--keep] [--reader]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from retail_platform import snapshots

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "retail_platform"
REPOSITORY = "__repository__"
FACT_KEY = ("marts", "fact_daily_sales")
DIM_KEYS = (("marts", "dim_customers"), ("marts", "dim_products"))
SIM_DONE_KEY = ("simulator", "orders")  # logged after all loads of a batch committed

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# `dagster dev` warns at every start that it is superseded by `dg dev` (dagster-dg-cli,
# not installed here; the command still works in 1.13). Exactly that line is silenced,
# so any other start-up warning stands out (the Makefile's `dev` does the same).
DEV_SUPERSEDED = "ignore:Function `dev_command` is superseded"


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dev:
    """`dagster dev` (or `make serve`'s deploy/serve.py) in a process group of its own,
    and its GraphQL endpoint."""

    def __init__(
        self, home: Path, warehouse: Path, port: int, logfile: Path, serve_state: Path | None = None
    ):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/graphql"
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(home),
            RETAIL_DUCKDB_PATH=str(warehouse),
            RETAIL_WAREHOUSE="duckdb",
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        self.env = env
        self.logfile = logfile.open("wb")
        # `python -W` filters only the dagster dev process itself (its services are
        # processes of their own): see DEV_SUPERSEDED.
        argv = [str(BIN / "python"), "-W", DEV_SUPERSEDED, "-m", "dagster", "dev"]
        argv += ["-w", "workspace.yaml", "-h", "127.0.0.1"]
        if serve_state:  # code server, daemon, webserver as separate processes
            argv = [str(BIN / "python"), "deploy/serve.py", "--state-dir", str(serve_state)]
        self.proc = subprocess.Popen(
            [*argv, "-p" if not serve_state else "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole on exit
        )

    def gql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # GraphQL validation errors come as 400
            raise RuntimeError(f"GraphQL {exc.code}: {exc.read()[:500]!r}") from None
        if data.get("errors"):
            raise RuntimeError(f"GraphQL errors: {data['errors']}")
        return data["data"]

    def wait_loaded(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.proc.returncode}")
            try:
                entries = self.gql(query, timeout=5)["workspaceOrError"]["locationEntries"]
                entry = next(e for e in entries if e["name"] == LOCATION)
                loaded = entry["locationOrLoadError"]
                if entry["loadStatus"] == "LOADED" and loaded:
                    if loaded["__typename"] == "PythonError":
                        raise RuntimeError(f"code location failed to load: {loaded['message']}")
                    return
                last = entry["loadStatus"]
            except (OSError, StopIteration, KeyError, TypeError) as exc:
                last = repr(exc)
            time.sleep(1)
        raise RuntimeError(f"dagster dev not ready after {timeout:.0f} s ({last})")

    def _selector(self, name: str) -> dict:
        return {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "scheduleName": name,
        }

    def start_schedule(self, name: str) -> None:
        result = self.gql(
            """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
                __typename ... on PythonError { message } ... on ScheduleStateResult {
                scheduleState { status } } } }""",
            {"s": self._selector(name)},
        )["startSchedule"]
        if result["__typename"] != "ScheduleStateResult":
            raise RuntimeError(f"startSchedule {name}: {result}")

    def stop_schedule(self, name: str) -> None:
        state = self.gql(
            """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
                __typename ... on Schedule { scheduleState { id status } } } }""",
            {"s": self._selector(name)},
        )["scheduleOrError"]["scheduleState"]
        if state["status"] == "RUNNING":
            self.gql(
                "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                {"id": state["id"]},
            )

    def stop_sensor(self, name: str) -> None:
        selector = {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "sensorName": name,
        }
        state = self.gql(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                __typename ... on Sensor { sensorState { id status } } } }""",
            {"s": selector},
        )["sensorOrError"].get("sensorState")
        if state and state["status"] == "RUNNING":  # (None: no such sensor in this code)
            self.gql(
                "mutation($id: String) { stopSensor(id: $id) { __typename } }", {"id": state["id"]}
            )

    def kill(self, timeout: float = 20) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after `timeout`."""
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)  # stragglers (run workers) of the group
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.logfile.close()


# --------------------------------------------------------------------------- report


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


def raw_duplicates(con) -> dict[str, int]:
    """Rows loaded more than once.

    A load is a label; the DuckDB ledger (raw._loads) records each label once with its
    row count. Duplicated loading shows as:
    - label_overflow: rows of a label beyond the ledger's count for it (a label loaded twice);
    - unledgered: rows whose label is not in the ledger, though loaded after the oldest
      label it remembers (it forgets labels past the retention window, by design);
    - cross_label: rows whose payload also sits under another label of the same table
      (the same batch loaded again under a second label);
    - batch_logged_twice: simulator batch numbers with more than one log row.
    Identical payloads within ONE load are injected dirt (dirty.py "duplicate"), counted
    apart as `injected_in_load` and not a failure.
    """
    out: Counter = Counter()
    for table in ("raw_customers", "raw_products", "raw_orders"):
        overflow, unledgered = con.execute(
            f"""select coalesce(sum(greatest(r.n - coalesce(l.row_count, 0), 0)) filter (where l.label is not null), 0),
                       coalesce(sum(r.n) filter (where l.label is null
                           and r.loaded >= (select min(loaded_at) from raw._loads)), 0)
                from (select load_label, count(*) n, min(loaded_at) loaded
                      from raw.{table} group by 1) r
                left join raw._loads l on l.label = r.load_label"""
        ).fetchone()
        (cross,) = con.execute(
            f"""select coalesce(sum(n), 0) from (
                    select payload::varchar p, count(*) n, count(distinct load_label) labels
                    from raw.{table} group by 1) where labels > 1"""
        ).fetchone()
        (in_load,) = con.execute(
            f"""select coalesce(sum(n - 1), 0) from (
                    select load_label, payload::varchar p, count(*) n
                    from raw.{table} group by 1, 2) where n > 1"""
        ).fetchone()
        out[f"{table}.label_overflow"] += int(overflow)
        out[f"{table}.unledgered"] += int(unledgered)
        out[f"{table}.cross_label"] += int(cross)
        out[f"{table}.injected_in_load"] += int(in_load)
    (twice,) = con.execute(
        """select count(*) from (select payload->>'batch_no' b from raw.sim_batches
           group by 1 having count(*) > 1)"""
    ).fetchone()
    out["sim_batches.batch_logged_twice"] = int(twice)
    return dict(out)


def mart_duplicates(con) -> dict[str, int]:
    """Rows beyond the first per key in each mart (must all be 0)."""
    keys = {
        "marts.dim_customers": "customer_id",
        "marts.dim_products": "product_id",
        "marts.fact_daily_sales": "order_date, product_id",
    }
    out = {}
    for table, key in keys.items():
        (extra,) = con.execute(
            f"select coalesce(sum(n - 1), 0) from (select {key}, count(*) n from {table} group by all) where n > 1"
        ).fetchone()
        (rows,) = con.execute(f"select count(*) from {table}").fetchone()
        out[table] = (int(extra), int(rows))
    return out


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


# A load not built into the fact within this long counts as missed (issue 20).
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


def drained(dev: Dev) -> tuple[bool, str]:
    """No run queued or in progress (asked through GraphQL, the instance's view)."""
    data = dev.gql(
        """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
            ... on Runs { results { runId jobName status } } } }"""
    )
    active = data["runsOrError"]["results"]
    return (not active, ", ".join(f"{r['jobName']}:{r['status']}" for r in active))


def launch(dev: Dev, job: str) -> str:
    data = dev.gql(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": job,
                }
            }
        },
    )["launchRun"]
    if data["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun {job}: {data}")
    return data["run"]["runId"]


class RunLedger:
    """Every run seen through GraphQL while the soak runs: the retention window may delete
    runs from the instance before the report, so failures and queue waits are counted here."""

    QUERY = """{ runsOrError(limit: 200) { ... on Runs { results {
        runId jobName status creationTime startTime endTime } } } }"""

    def __init__(self) -> None:
        self.runs: dict[str, dict] = {}

    def poll(self, dev: Dev) -> None:
        for r in dev.gql(self.QUERY)["runsOrError"]["results"]:
            self.runs[r["runId"]] = r

    def active(self, job: str | None = None) -> int:
        return sum(
            1 for r in self.runs.values()
            if r["status"] not in TERMINAL and (job is None or r["jobName"] == job)
        )  # fmt: skip

    def finished(self, job: str, status: str = "SUCCESS") -> int:
        return sum(1 for r in self.runs.values() if r["jobName"] == job and r["status"] == status)


def footprint(home: Path, warehouse: Path) -> dict[str, int]:
    """Bytes of what the platform keeps besides the warehouse data."""
    from retail_platform.warehouse.base import WarehouseError
    from retail_platform.warehouse.duckdb import DuckDBWarehouse

    def size(files) -> int:
        total = 0
        for f in files:
            try:  # pruning, dbt, SQLite (its -wal / -journal files) and the marts'
                # publication remove files while we count
                if f.is_file() and not f.is_symlink():
                    total += f.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def du(path: Path) -> int:
        return size(path.rglob("*")) if path.exists() else 0

    history = home / "history"
    out = {
        "DAGSTER_HOME": du(home),
        "  ticks+evaluations": du(home / "schedules"),
        "  run storage": size(history.glob("runs.db*")),
        "  event index": size((history / "runs").glob("index.db*")),
        "  event log per run": size(
            f for f in (history / "runs").glob("*.db*") if not f.name.startswith("index.db")
        ),
        "  compute logs": du(home / "storage"),
        "dbt target": du(ROOT / "dbt_project" / "target"),
        "dbt logs": du(ROOT / "dbt_project" / "logs"),
        # The marts' copies for readers grow with the marts (data): shown, not in the total.
        " marts copies": du(snapshots.snapshot_dir(warehouse)),
        # What the window holds varies with the batch rate: bytes per kept run do not.
        " runs kept": runs_kept(history / "runs.db"),
    }
    # Bookkeeping tables, in bytes of their values: the label ledger (dbt keeps none of
    # its own: its incremental state is the run stamp on the models' rows).
    sql = {
        "ledger raw._loads": "select coalesce(sum(length(label) + length(table_name) + 16), 0) from raw._loads",
    }
    wh = DuckDBWarehouse(path=str(warehouse))
    for name, query in sql.items():
        try:
            out[name] = int(wh.query(query, lock_timeout_seconds=5)[0][0])
        except WarehouseError:
            out[name] = -1  # busy or not there yet
    return out


def runs_kept(runs_db: Path) -> int:
    """Runs in the instance's run storage (SQLite; -1 elsewhere or while busy)."""
    import sqlite3

    if not runs_db.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{runs_db}?mode=ro", uri=True, timeout=2) as con:
            return con.execute("select count(*) from runs").fetchone()[0]
    except sqlite3.Error:
        return -1


class Reader(threading.Thread):
    """An analyst's session held open for the whole soak: one DuckDB connection on the
    published marts (snapshots.py), queried every few seconds, never closed."""

    def __init__(self, folder: Path, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        import duckdb

        self.con = duckdb.connect()
        self.folder = folder
        self.every, self.stopping = every, threading.Event()
        self.reads, self.errors, self.last = 0, [], None

    def read(self) -> tuple[int, float] | None:
        if "fact_daily_sales" not in snapshots.create_views(self.con, self.folder):
            return None
        rows, revenue = self.con.execute(
            "select count(*), coalesce(sum(revenue), 0) from marts.fact_daily_sales"
        ).fetchone()
        return int(rows), float(revenue)

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                self.last = self.read() or self.last
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                self.errors.append(str(exc).splitlines()[0])

    def finish(self, warehouse: Path) -> list[str]:
        """After the platform stopped: the reader's view equals the warehouse's last build."""
        self.stopping.set()
        self.join()
        import duckdb

        final = self.read()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows, revenue = con.execute(
                "select count(*), coalesce(sum(revenue), 0) from marts.fact_daily_sales"
            ).fetchone()
        built = (int(rows), float(revenue))
        print()
        print(
            f"reader: one connection held for the whole soak, {self.reads} reads, "
            f"{len(self.errors)} errors{': ' + '; '.join(self.errors[:3]) if self.errors else ''}"
        )
        print(f"  fact_daily_sales (rows, revenue) read {final}, in the warehouse {built}")
        problems = [f"{len(self.errors)} reader errors"] if self.errors else []
        if final is None or final[0] != built[0] or abs(final[1] - built[1]) > 0.005:
            problems.append("the reader's marts differ from the last build")
        return problems


def start_burner() -> subprocess.Popen:
    """One core kept busy by an unrelated process for the whole soak."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="how long batches are generated"
    )
    parser.add_argument(
        "--batch-every", type=float, default=0,
        help="launch generate_job itself every N s (while fewer than 2 are in flight) instead of the minute schedule",
    )  # fmt: skip
    parser.add_argument(
        "--writer-every", type=float, default=0,
        help="no schedule: an outside writer runs `retail-sim generate` every N s on average (0.5N-1.5N, at random)",
    )  # fmt: skip
    parser.add_argument(
        "--writer-plain",
        action="store_true",
        help="the outside writer does not report its loads to Dagster (no DAGSTER_URL): only the look finds them",
    )
    parser.add_argument(
        "--idle-minutes",
        type=float,
        default=3.0,
        help="CPU measured idle this long before batches start",
    )
    parser.add_argument(
        "--retention-minutes",
        type=float,
        help="RETAIL_RETENTION_MINUTES for the platform (footprint runs)",
    )
    parser.add_argument(
        "--busy-core",
        action="store_true",
        help="keep one core busy with an unrelated process throughout",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="the `make serve` layout (PostgreSQL instance; code server, daemon, webserver apart) instead of dagster dev",
    )
    parser.add_argument(
        "--reader",
        action="store_true",
        help="hold a reader's connection on the published marts throughout (retail-sim query's way)",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        help="start from a copy of this DuckDB file (and its published marts), e.g. a long history",
    )
    parser.add_argument("--port", type=int, default=0, help="webserver port (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--drain-timeout", type=float, default=240.0, help="bound on waiting for in-flight runs"
    )
    parser.add_argument("--report-only", type=Path, help=argparse.SUPPRESS)  # a kept temp dir
    args = parser.parse_args(argv)
    if args.report_only:
        return report(
            args.report_only / "dagster_home", args.report_only / "warehouse.duckdb", args.minutes
        )

    import cputree

    cputree.become_subreaper()  # orphans of the dagster dev tree stay metered
    tmp = Path(tempfile.mkdtemp(prefix="retail_soak_"))
    home, warehouse = tmp / "dagster_home", tmp / "warehouse.duckdb"
    home.mkdir()
    if not args.serve:  # serve.py prepares its own, once its PostgreSQL is up
        from retail_platform.instance import prepare_home

        prepare_home(home)
    port = args.port or free_port()
    log(f"temp dir {tmp}; port {port}")
    postgres = None
    if args.serve:
        # The instance's PostgreSQL is the soak's own, so the report can read it after
        # the platform has stopped.
        sys.path.insert(0, str(ROOT))
        from deploy.serve import LocalPostgres

        tmp.chmod(0o755)  # the server runs as `postgres` under root
        postgres = LocalPostgres(tmp / "postgres", free_port())
        os.environ.update(postgres.start())  # read by Dev's env and by the report

    if args.warehouse:
        shutil.copyfile(args.warehouse, warehouse)
        if snapshots.snapshot_dir(args.warehouse).is_dir():
            shutil.copytree(
                snapshots.snapshot_dir(args.warehouse), snapshots.snapshot_dir(warehouse)
            )
        log(f"warehouse: a copy of {args.warehouse}")
    env = dict(os.environ, RETAIL_DUCKDB_PATH=str(warehouse), RETAIL_WAREHOUSE="duckdb")
    subprocess.run(
        [str(BIN / "retail-sim"), "init"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    if args.retention_minutes:
        os.environ["RETAIL_RETENTION_MINUTES"] = f"{args.retention_minutes:g}"  # read by Dev's env

    burner = start_burner() if args.busy_core else None
    dev = Dev(home, warehouse, port, tmp / "dagster_dev.log", tmp / "serve" if args.serve else None)
    meter = cputree.Meter(dev.proc.pid, exclude={burner.pid} if burner else set())
    ledger = RunLedger()
    reader = None
    samples: list[tuple[int, dict[str, int]]] = []  # (batches done, footprint)
    loads: list[dict] = []  # the outside writer's
    cpu = {}
    code = 2
    try:
        t0 = time.monotonic()
        dev.wait_loaded(timeout=180)
        log(f"dagster dev ready in {time.monotonic() - t0:.1f} s ({meter.total():.1f} CPU-s)")
        if args.reader:
            reader = Reader(snapshots.snapshot_dir(warehouse))
            reader.start()
        if args.idle_minutes:
            # Start-up settles first: the first look at raw observes the empty tables and
            # automation builds the models once (a minute and a half at most).
            time.sleep(90)
            while not drained(dev)[0]:
                time.sleep(2)
            window = cputree.Window(meter)
            time.sleep(args.idle_minutes * 60)
            cpu["idle"] = window.close()
            log(f"idle: {cpu['idle'][0] / cpu['idle'][1] * 60:.2f} CPU-s per minute")
        ledger.poll(dev)
        done0 = ledger.finished("generate_job")
        window = cputree.Window(meter)
        if args.batch_every:
            log(f"launching generate_job every {args.batch_every:g} s")
        elif args.writer_every:
            log(f"an outside writer loads a batch every {args.writer_every:g} s on average")
        else:
            dev.start_schedule("generate")
            log("generate schedule on")
        end = time.monotonic() + args.minutes * 60
        next_launch, next_report = time.monotonic(), time.monotonic() + 30
        while time.monotonic() < end:
            if dev.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {dev.proc.returncode}")
            ledger.poll(dev)
            now = time.monotonic()
            if args.batch_every and now >= next_launch and ledger.active("generate_job") < 2:
                launch(dev, "generate_job")
                next_launch = now + args.batch_every
            if args.writer_every and now >= next_launch:
                # As `make generate` runs it while `make dev` answers: it reports its load.
                url = {} if args.writer_plain else {"DAGSTER_URL": f"http://127.0.0.1:{port}"}
                loads.append(outside_load({**env, **url}))
                next_launch = time.monotonic() + random.uniform(0.5, 1.5) * args.writer_every
            if now >= next_report:
                done = ledger.finished("generate_job") - done0
                samples.append((done, footprint(home, warehouse)))
                log(
                    f"{(end - now) / 60:4.1f} min left; {done} batches; in flight: {ledger.active()}"
                )
                next_report = now + 30
            time.sleep(1 if args.batch_every or args.writer_every else 5)
        if not (args.batch_every or args.writer_every):
            dev.stop_schedule("generate")
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline and ledger.active("generate_job"):
            ledger.poll(dev)
            time.sleep(2)
        ledger.poll(dev)
        batches = len(loads) if args.writer_every else ledger.finished("generate_job") - done0
        cpu["batches"] = (*window.close(), batches)
        samples.append((batches, footprint(home, warehouse)))
        log("generating stopped; letting automation catch up")
        # Automation runs for rows the look found (other writers): a tick or two.
        quiet_since = None
        while time.monotonic() < deadline:
            ok, active = drained(dev)
            if ok:
                quiet_since = quiet_since or time.monotonic()
                if (
                    time.monotonic() - quiet_since >= 30
                ):  # looks and automation ticks (5-10 s apart)
                    break
            else:
                quiet_since = None
            time.sleep(2)
        for name in ("retail_automation", "check_sources", "prune_history"):
            dev.stop_sensor(name)
        while time.monotonic() < deadline:
            ok, active = drained(dev)
            if ok:
                break
            time.sleep(2)
        else:
            log(f"still in flight after {args.drain_timeout:.0f} s: {active}")
        ledger.poll(dev)
        log("stopping dagster dev")
        dev.kill()
        meter.stop()
        code = report(home, warehouse, args.minutes, loads)
        code = max(code, report_platform(ledger, cpu, meter, samples, args))
        if reader:
            reader_problems = reader.finish(warehouse)
            if reader_problems:
                print("SOAK FAILED: " + "; ".join(reader_problems))
                code = max(code, 1)
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    except Exception as exc:  # noqa: BLE001 - one line, then the log
        log(f"error: {exc!r}; see {tmp / 'dagster_dev.log'}")
        code = 2
    finally:
        dev.kill()
        if burner:
            burner.kill()
        if postgres:
            postgres.stop()
        if args.keep or code == 2:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


def outside_load(env: dict[str, str]) -> dict:
    """One batch by a writer outside Dagster, as `make generate` loads it. Its `end` is
    when it printed that the batch is loaded (committed), before it reports to Dagster."""
    start = time.time()
    proc = subprocess.Popen(
        [str(BIN / "retail-sim"), "generate", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    committed = None
    for line in proc.stdout:
        if line.startswith("batch ") and committed is None:
            committed = time.time()
    stderr = proc.stderr.read()
    proc.wait()
    log(
        f"outside writer: {'loaded' if proc.returncode == 0 else 'FAILED'} in {time.time() - start:.1f} s"
        + (f" ({stderr.strip()[:120]})" if stderr.strip() else "")
    )
    return {
        "start": start,
        "end": committed or time.time(),
        "rc": proc.returncode,
        "error": stderr.strip(),
    }


def breakdown(cats: dict[str, float], per: float) -> str:
    """CPU seconds by process kind, largest first, divided by `per`."""
    ordered = sorted(cats.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / per:.2f}" for k, v in ordered if v >= 0.05)


def report_platform(ledger: RunLedger, cpu: dict, meter, samples, args) -> int:
    """CPU of the dagster dev tree, queue waits of every run, footprint per batch."""
    problems = []
    print()
    print("runs seen while the soak ran (incl. runs the retention window has deleted since):")
    by = Counter((r["jobName"], r["status"]) for r in ledger.runs.values())
    for (job, status), n in sorted(by.items()):
        print(f"  {job:<22} {status:<10} {n}")
    failed = [r for r in ledger.runs.values() if r["status"] == "FAILURE"]
    if failed:
        problems.append(f"{len(failed)} failed runs (ledger)")
    waits = [r["startTime"] - r["creationTime"] for r in ledger.runs.values() if r["startTime"]]
    print(
        f"queue + start wait (created -> started, s): {dist(waits)}; over 60 s: {sum(w > 60 for w in waits)}"
    )
    print()
    print("CPU of the dagster dev process tree (user+sys, incl. exited processes):")
    if "idle" in cpu:
        c, wall, cats = cpu["idle"]
        print(f"  idle:    {c / wall * 60:6.2f} CPU-s per minute  ({c:.1f} in {wall:.0f} s)")
        print(f"           {breakdown(cats, wall / 60)}  (per minute)")
    if "batches" in cpu:
        c, wall, cats, n = cpu["batches"]
        per = c / n if n else float("nan")
        print(
            f"  batches: {per:6.2f} CPU-s per batch  ({c:.1f} in {wall:.0f} s, {n} batches, {c / wall * 60:.2f} per minute)"
        )
        print(f"           {breakdown(cats, max(n, 1))}  (per batch)")
    if len(samples) >= 4:
        print()
        print("footprint besides the warehouse data (bytes):")
        names = list(samples[-1][1])
        half = samples[len(samples) // 2]
        first, last = samples[0], samples[-1]
        print(
            f"  {'':<20} {'at ' + str(first[0]):>14} {'at ' + str(half[0]):>14} {'at ' + str(last[0]):>14}  per batch, 2nd half"
        )
        for name in names:
            growth = (last[1][name] - half[1][name]) / max(1, last[0] - half[0])
            print(
                f"  {name:<20} {first[1][name]:>14,} {half[1][name]:>14,} {last[1][name]:>14,}  {growth:12,.0f}"
            )
        total = lambda s: sum(v for k, v in s[1].items() if v > 0 and not k.startswith(" "))  # noqa: E731
        early = (total(half) - total(first)) / max(1, half[0] - first[0])
        late = (total(last) - total(half)) / max(1, last[0] - half[0])
        print(f"  total per batch: first half {early:,.0f} B, second half {late:,.0f} B")
        # Two samples land at different phases of prune_history's 5-minute cycle: the
        # trend of every sample of the second half says more than their difference.
        second = [(sample[0], total(sample)) for sample in samples[len(samples) // 2 :]]
        xs, ys = [b for b, _ in second], [t for _, t in second]
        slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
        print(
            f"  second half, {len(second)} samples: total between {min(ys):,} and {max(ys):,} B, "
            f"trend {slope:,.0f} B per batch"
        )
        # The window keeps more runs when batches come faster: per kept run, a bounded
        # footprint is flat whatever the rate.
        per_run = [(b, total((b, f)) / f[" runs kept"]) for b, f in samples[len(samples) // 2 :]]
        per_run = [(b, v) for b, v in per_run if v > 0]
        if len(per_run) > 2:
            kept = [f[" runs kept"] for _, f in samples[len(samples) // 2 :]]
            xs, ys = [b for b, _ in per_run], [v for _, v in per_run]
            slope = statistics.linear_regression(xs, ys).slope
            print(
                f"  runs kept in the second half: {min(kept)} to {max(kept)}; bytes per kept run "
                f"{min(ys):,.0f} to {max(ys):,.0f}, trend {slope:,.0f} B per batch"
            )
        step = max(1, len(samples) // 12)
        series = ", ".join(f"{b}: {total((b, f)) / 1e6:.1f}" for b, f in samples[::step])
        print(f"  total MB by batches done: {series}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
