"""`python -m bench.soak`: the platform under load, then the report (see __init__.py)."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import soak as package
from bench.soak.footprint import footprint
from bench.soak.ledger import RunLedger, report_platform
from bench.soak.reader import Reader
from bench.soak.summary import report
from devtools import cputree
from devtools.live import (
    BIN,
    ROOT,
    Dev,
    free_port,
    init_warehouse,
    local_postgres,
    logger,
    warehouse_env,
)
from retail_platform import snapshots

log = logger("soak")


def drained(dev: Dev) -> tuple[bool, str]:
    """No run queued or in progress (asked through GraphQL, the instance's view)."""
    data = dev.gql(
        """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
            ... on Runs { results { runId jobName status } } } }"""
    )
    active = data["runsOrError"]["results"]
    return (not active, ", ".join(f"{r['jobName']}:{r['status']}" for r in active))


def start_burner() -> subprocess.Popen:
    """One core kept busy by an unrelated process for the whole soak."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=package.__doc__.splitlines()[0]
    )
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
        tmp.chmod(0o755)  # the server runs as `postgres` under root
        postgres = local_postgres(tmp / "postgres")
        os.environ.update(postgres.start())  # read by Dev's env and by the report

    if args.warehouse:
        shutil.copyfile(args.warehouse, warehouse)
        if snapshots.snapshot_dir(args.warehouse).is_dir():
            shutil.copytree(
                snapshots.snapshot_dir(args.warehouse), snapshots.snapshot_dir(warehouse)
            )
        log(f"warehouse: a copy of {args.warehouse}")
    env = warehouse_env(warehouse)
    init_warehouse(warehouse)
    if args.retention_minutes:
        os.environ["RETAIL_RETENTION_MINUTES"] = f"{args.retention_minutes:g}"  # read by Dev's env

    burner = start_burner() if args.busy_core else None
    dev = Dev(home, warehouse, port, tmp / "dagster_dev.log", tmp / "serve" if args.serve else None)
    log(
        f"dbt: {f'the warm dbt at {dev.dbt_server}' if dev.dbt_server else 'a process per command'}"
    )
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
                dev.launch("generate_job")
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
        cpu["peak_mib"] = meter.peaks_mib()
        code = report(home, warehouse, args.minutes, loads)
        code = max(code, report_platform(ledger, cpu, samples))
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


if __name__ == "__main__":
    sys.exit(main())
