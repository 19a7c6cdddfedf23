"""Transform benchmark: one incremental `dbt build` on top of small and large histories.

In one run: a DuckDB file with 100k orders of history and one with 10M (simulator
batches of 100k orders, or `--history-loads N`, dirty rate 1%), each built once with
`dbt build`, then WARMUP_BATCHES daily batches (or `--history-builds N`: a history
built by incremental builds) built one by one, as the platform builds them; then
TIMED_BATCHES same-size batches (10k orders) are added to each, one after the other,
and each one's `dbt build` is timed TIMED_TRIES times from a copy of the same file,
the fastest kept (with its slowest nodes printed). A history's figure is the mean of
its batches' fastest builds: how many old orders a batch re-judges (each costs its
row groups) varies from batch to batch, and is printed beside each; so are the nodes
whose seconds grow most from the small history to the large one. The two
histories' builds take turns, so that a machine whose speed drifts during the run
(this one's moves by a third within an hour) weighs on both sides of the ratio
alike. An incremental build should cost about the same whatever the history: the
target is (10M) / (100k) <= 1.3 (and with `--histories 100000 50000000`, <= 1.5).
dbt's start-up (parse, connect) is a fixed cost in both and is included, as a user
pays it; dbt's own "Finished running ... in X seconds" is reported next to it.

Builds run as Dagster runs them (assets/dbt.py's BUILD_ARGS, `--log-format json`): no
unit tests, no JSON artifacts, and each model reports its row
count, column types and (the fact) daily figures from a post-hook
(macros/dagster_metadata.sql). What that metadata costs is the seconds each report
says it took, summed over the timed build itself; plus publishing the marts for
readers, the one step left after dbt exits (assets/dbt_metadata.py). Target: under
0.5 s at 10M orders. Each build's peak RSS is reported (target: under 2 GiB in the
incremental one).

The timed builds are the platform's usual build, without DuckDB's vacuum, which only
the first build of each hour runs (dbt_project/macros/vacuum.sql); one more build of
the last batch with vacuum is timed and printed beside them.

    .venv/bin/python -m bench.bench_transform [--histories 100000 10000000] [--batch 10000]
        [--history-loads N] [--history-builds N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import PEAK_RSS_BOUND_MIB
from retail_platform import dbt_server
from retail_platform.assets.dbt import BUILD_ARGS
from retail_platform.assets.dbt_metadata import MARTS_SCHEMA, report_in
from retail_platform.dbt_child import child_env
from retail_platform.project import dbt_argv, dbt_project
from retail_platform.settings import DBT_EXECUTABLE, DBT_SERVER_ENV, dbt_server_socket
from retail_platform.simulator.runner import BatchSizes, run_batch
from retail_platform.snapshots import Mart
from retail_platform.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
# The targets, by the large history's orders: the ratio to the 100k build at
# 10M and at 50M; metadata, the incremental build's peak RSS and the first build at 10M.
TARGET_RATIOS = {10_000_000: 1.3, 50_000_000: 1.5}
TARGET_METADATA_SECONDS = {10_000_000: 0.5}
TARGET_FIRST_BUILD_SECONDS = {10_000_000: 150}
HISTORY_BATCH_ORDERS = 100_000  # by default big batches: few loads, like a backfill
DIRTY_RATE = 0.01
# A batch also carries the status changes of orders from the last 22 simulated days
# (generator.LIFECYCLE_MAX_SECONDS), so "the same batch" needs the same recent days:
# the bulk of the history is loaded 23 days apart (settled by the time of the timed
# batch), then WARMUP_BATCHES daily batches of the timed size end both histories. Each
# is built on its own, so the timed build meets the tables as a running platform
# leaves them, not as the first build wrote them (its first checkpoint compacts the
# first build's last row groups, 0.6 s once at 10M orders).
SETTLED_STEP_SECONDS = 23 * 86_400
WARMUP_BATCHES = 3
VACUUM_EVERY = 60  # of the builds that end a history (`--history-builds`)
PEAKS: list[float] = []  # MiB, each dbt build's peak RSS, in order
TARGET_PEAK_MIB = {10_000_000: PEAK_RSS_BOUND_MIB}
# Batches timed one after the other on each history, averaged: how many old orders a
# batch re-judges (its late customers clear their waiting orders) varies from batch to
# batch, 0 to 64 at 10M orders, each costing its row groups.
TIMED_BATCHES = 3
TIMED_TRIES = 2  # each timed batch's build, each time on a copy of the same warehouse
TOP_NODES = 6  # the slowest dbt nodes of a build, and those that grow most with the history
FINISHED = re.compile(r"Finished running .* in .*?\(([0-9.]+)s\)")


def sizes_for(orders: int) -> BatchSizes:
    """A batch's customers and products in proportion to its orders."""
    return BatchSizes(
        customers=max(1, orders // 10), products=max(1, orders // 1000), orders=orders
    )


# Vacuum periods: one that every build since the history started falls into (the
# usual build, not the first of its period), and 0, every build vacuums.
WITHIN_A_PERIOD = str(10**7)  # minutes, ~19 years
EVERY_BUILD = "0"


def dbt_env(db: Path, vacuum_minutes: str = WITHIN_A_PERIOD) -> dict[str, str]:
    """The environment of a dbt command on the DuckDB file `db`."""
    return {
        **os.environ,
        "RETAIL_WAREHOUSE": "duckdb",
        "RETAIL_DUCKDB_PATH": str(db),
        "RETAIL_DUCKDB_VACUUM_MINUTES": vacuum_minutes,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_build(
    db: Path, work: Path, vacuum_minutes: str = WITHIN_A_PERIOD
) -> tuple[float, float | None, float, dict[str, float]]:
    """Run `dbt build`; return (wall seconds of the subprocess, dbt's own seconds, the
    seconds its metadata reports took, each node's seconds). Its peak RSS goes to PEAKS."""
    env = dbt_env(db, vacuum_minutes)
    command = dbt_argv(BUILD_ARGS[0], work, *BUILD_ARGS[1:], "--log-format", "json")
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        code, peak_kib = run_dbt(command, env, out.fileno())
        wall = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    PEAKS.append(peak_kib / 1024)
    if code != 0:
        sys.exit(f"dbt build failed on {db}:\n{stdout[-4000:]}")
    found = FINISHED.search(stdout)
    own = float(found.group(1)) if found else None
    events = log_events(stdout)
    return wall, own, report_seconds(events), node_seconds(events)


def run_dbt(command: list[str], env: dict[str, str], out: int) -> tuple[int, int]:
    """(exit code, peak RSS in KiB) of `retail-dbt` `command`, run as the platform runs it:
    in the warm dbt (retail_platform/dbt_server.py), whose reply carries the build's own
    peak RSS; with none answering, retail-dbt becomes dbt and wait4 gives it."""
    server = dbt_server_socket(env)
    with open(os.devnull) as stdin:
        if server:
            argv = [str(DBT_EXECUTABLE), *command[1:]]
            ended = dbt_server.run(server, argv, child_env(env), (stdin.fileno(), out, out))
            if ended:
                return ended.code, ended.peak_rss_kib or 0
        process = subprocess.Popen(command, env=env, stdin=stdin, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss  # KiB on Linux


def log_events(stdout: str) -> list[dict]:
    """The events of a build's JSON log, read once for every figure taken from it."""
    events = []
    for line in stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line dbt printed before its JSON logging started
    return events


def report_seconds(events: list[dict]) -> float:
    """The seconds the metadata reports of a build took, by their own account."""
    return sum(report["seconds"] for report in map(report_in, events) if report is not None)


def node_seconds(events: list[dict]) -> dict[str, float]:
    """Each model's and test's seconds in a build (the build writes no
    run_results.json)."""
    return {
        event["data"]["node_info"]["node_name"]: event["data"]["execution_time"]
        for event in events
        if event["info"]["name"] in ("LogModelResult", "LogTestResult")
    }


def top_nodes(seconds: dict[str, float], sign: str = "") -> str:
    """The TOP_NODES nodes with the most seconds (a build's, or their growth: `sign`
    "+" prints it), with their seconds."""
    top = sorted(seconds.items(), key=lambda node: node[1], reverse=True)[:TOP_NODES]
    return ", ".join(f"{name} {value:{sign}.2f}" for name, value in top)


@dataclass
class Build:
    """One timed dbt build: wall, dbt's own and its reports' seconds, peak RSS, each
    node's seconds."""

    wall: float
    own: float | None
    reports: float
    peak_mib: float
    nodes: dict[str, float]


@dataclass
class TimedBatch:
    """One batch timed on a history: its size, the old orders it re-judged, its builds."""

    raw_rows: int
    builds: list[Build] = field(default_factory=list)
    rejudged: int = 0
    published: float = 0.0  # seconds publishing the marts after its last build

    @property
    def fastest(self) -> Build:
        return min(self.builds, key=lambda build: build.wall)


@dataclass
class History:
    """One history's warehouse, ready for the timed batches, and the copy (`before`) of
    it with the batch being timed loaded, not built, that each of its builds starts from."""

    orders: int
    db: Path
    work: Path
    warehouse: DuckDBWarehouse
    before: Path
    first_build: float  # wall seconds of the full build of the whole history
    batches: list[TimedBatch] = field(default_factory=list)
    vacuumed: Build | None = None

    def load_timed_batch(self, orders: int) -> None:
        """Add the next timed batch to the warehouse and copy it to `before`."""
        run_batch(self.warehouse, sizes=sizes_for(orders), dirty_rate=DIRTY_RATE)
        ((raw_rows,),) = self.warehouse.query(
            "select count(*) from raw.raw_orders where load_label like "
            "(select regexp_replace(max(load_label), '_c[0-9]+$', '') from raw.raw_orders) || '%'"
        )
        self.batches.append(TimedBatch(raw_rows))
        shutil.copy(self.db, self.before)

    def build(self, vacuum_minutes: str = WITHIN_A_PERIOD) -> Build:
        """The timed batch's build, on a fresh copy of `before`."""
        shutil.copy(self.before, self.db)
        # Written back now, not during the build: the copy's dirty pages (4 GB at 10M
        # orders) otherwise compete with it for the disk, which no platform build does.
        os.sync()
        wall, own, reports, nodes = dbt_build(self.db, self.work, vacuum_minutes)
        return Build(wall, own, reports, PEAKS[-1], nodes)

    def mean(self, figure: str) -> float | None:
        """A figure of the fastest build of each timed batch, averaged over the batches."""
        values = [getattr(batch.fastest, figure) for batch in self.batches]
        return None if None in values else statistics.fmean(values)

    @property
    def peak_mib(self) -> float:
        """The highest peak RSS of its timed builds."""
        builds = [b for batch in self.batches for b in batch.builds] + [self.vacuumed]
        return max(build.peak_mib for build in builds if build)


def time_builds(histories: list[History], batch_orders: int) -> None:
    """TIMED_BATCHES batches one after the other on each history, each built
    TIMED_TRIES times from the copy of its warehouse with it loaded; the last once more
    with vacuum. The histories take turns, build by build, so a machine that slows down
    or speeds up during the run does so for both."""
    turn = 0
    for number in range(TIMED_BATCHES):
        for history in histories:
            history.load_timed_batch(batch_orders)
        for _ in range(TIMED_TRIES):
            for history in histories if turn % 2 == 0 else histories[::-1]:
                history.batches[-1].builds.append(history.build())
            turn += 1
        last = number == TIMED_BATCHES - 1
        for history in histories if turn % 2 == 0 else histories[::-1]:
            if last:
                history.vacuumed = history.build(EVERY_BUILD)
            # the batch stays built, as its last build left it: the next batch goes on top
            history.batches[-1].rejudged = rejudged_orders(history.warehouse)
            # as after a Dagster build
            history.batches[-1].published = publish_marts(history.warehouse)


def print_batches(history: History) -> None:
    """Each timed batch of a history: its size, the old orders it re-judged, its builds."""
    for number, batch in enumerate(history.batches, start=1):
        walls = ", ".join(f"{build.wall:.2f}" for build in batch.builds)
        print(
            f"history {history.orders:>9,} orders, timed batch {number}: {batch.raw_rows:,} raw "
            f"order rows (new orders + updates), {batch.rejudged:,} old orders re-judged by "
            f"reference; builds (wall s): {walls}",
            flush=True,
        )
    if history.vacuumed:
        print(
            f"history {history.orders:>9,} orders: batch {len(history.batches)} with vacuum "
            f"(the first build of each hour): {history.vacuumed.wall:.2f} s",
            flush=True,
        )
    slowest = min(history.batches, key=lambda batch: batch.fastest.wall).fastest
    print(f"  slowest nodes (its fastest build): {top_nodes(slowest.nodes)}", flush=True)


def growing_nodes(small: History, large: History) -> str:
    """The TOP_NODES nodes whose seconds grow most from the small history to the large
    one: the difference of their mean over each history's batches' fastest builds.
    With two threads a node's seconds include the other thread's share of the cores,
    so these point at where to look, not at how much each costs alone."""

    def mean_seconds(history: History) -> dict[str, float]:
        builds = [batch.fastest.nodes for batch in history.batches]
        return {
            name: statistics.fmean(build.get(name, 0.0) for build in builds) for name in builds[0]
        }

    before, after = mean_seconds(small), mean_seconds(large)
    return top_nodes({name: after[name] - before.get(name, 0.0) for name in after}, sign="+")


def rejudged_orders(warehouse: DuckDBWarehouse) -> int:
    """The orders the last build wrote again without new rows of theirs: old orders whose
    verdict a late customer or product changed. Each costs its row groups in every model
    that follows it (its versions, items, lines, days, the tests' keys), so two batches
    of the same size compare fairly only with this beside them."""
    ((count,),) = warehouse.query(
        "select count(distinct order_id) from staging.base_orders_classified"
        " where _stamp = (select max(_stamp) from staging.base_orders_classified)"
        " and order_id not in (select order_id from staging.base_orders_parsed"
        " where _stamp = (select max(_stamp) from staging.base_orders_parsed)"
        " and order_id is not null)"
    )
    return count


def publish_marts(warehouse: DuckDBWarehouse) -> float:
    """Seconds publishing the built marts for readers takes (as after a Dagster build)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    marts = [
        Mart.from_node(n, manifest)
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == MARTS_SCHEMA
    ]
    started = time.perf_counter()
    warehouse.publish_marts(marts)
    return time.perf_counter() - started


def load_history(
    warehouse: DuckDBWarehouse, orders: int, batch: int, load_orders: int, builds: int
) -> float:
    """Load the bulk of the history (all but the `builds` batches built one by one),
    `load_orders` orders a load; its seconds."""
    started = time.perf_counter()
    remaining = orders - builds * batch
    while remaining > 0:
        size = min(load_orders, remaining)
        run_batch(
            warehouse,
            sizes=sizes_for(size),
            dirty_rate=DIRTY_RATE,
            step_seconds=SETTLED_STEP_SECONDS,
        )
        remaining -= size
    return time.perf_counter() - started


def warm_up(warehouse: DuckDBWarehouse, db: Path, work: Path, batch: int, builds: int) -> None:
    """The last `builds` daily batches of the history, each loaded, built and published
    as in the flow; DuckDB vacuums in one build of VACUUM_EVERY, as the platform does in
    the first build of each hour at a batch a minute."""
    for day in range(builds):
        run_batch(
            warehouse,
            sizes=sizes_for(batch),
            dirty_rate=DIRTY_RATE,
            step_seconds=SETTLED_STEP_SECONDS if day == 0 else 86_400,
        )
        dbt_build(db, work, EVERY_BUILD if (day + 1) % VACUUM_EVERY == 0 else WITHIN_A_PERIOD)
        publish_marts(warehouse)


@contextmanager
def warm_dbt(folder: Path) -> Iterator[None]:
    """A warm dbt of the benchmark's own, up before the first build, as a running
    platform has one; stopped at the end."""
    server = folder / "dbt.sock"
    os.environ[DBT_SERVER_ENV] = str(server)
    dbt_server.start(server, DBT_EXECUTABLE.parent / "python", child_env(os.environ), 600)
    dbt_server.wait_until_up(server, timeout=60)
    try:
        yield
    finally:
        dbt_server.stop(server)


def prepare(orders: int, workdir: Path, batch: int, load_orders: int, builds: int) -> History:
    """A warehouse with `orders` of history, built as the platform builds it; printed:
    how long generating and the first build took."""
    builds = min(builds, orders // batch - 1)  # one load at least before the first build
    work = workdir / f"history_{orders}"
    work.mkdir(exist_ok=True)
    db = work / "warehouse.duckdb"
    db.unlink(missing_ok=True)
    warehouse = DuckDBWarehouse(path=str(db))
    warehouse.setup()
    generated = load_history(warehouse, orders, batch, load_orders, builds)
    first_wall, first_dbt, _, first_nodes = dbt_build(db, work)
    publish_marts(warehouse)  # the first copies of the marts, as in the flow
    print(
        f"history {orders:>9,} orders: generated in {generated:6.1f} s, "
        f"first (full) dbt build {first_wall:6.1f} s (dbt's own {first_dbt or 0:.1f} s, "
        f"peak RSS {PEAKS[-1]:,.0f} MiB)",
        flush=True,
    )
    print(f"  slowest nodes (2 threads, overlapping): {top_nodes(first_nodes)}", flush=True)
    started = time.perf_counter()
    warm_up(warehouse, db, work, batch, builds)
    if builds > WARMUP_BATCHES:
        print(f"  {builds} incremental builds in {time.perf_counter() - started:.1f} s", flush=True)
    return History(orders, db, work, warehouse, db.with_name("before_build.duckdb"), first_wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs=2, default=[100_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=10_000, help="orders in the timed batch")
    parser.add_argument(
        "--history-loads",
        type=int,
        default=HISTORY_BATCH_ORDERS,
        help="orders in each load of the bulk of the histories (fewer: many small loads)",
    )
    parser.add_argument(
        "--history-builds",
        type=int,
        default=WARMUP_BATCHES,
        help="batches (of the timed size) that end each history, built one by one "
        "(more: a history built by incremental builds; all but its first batch at most)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the DuckDB files here (default: a temp dir)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_transform_") as tmp, warm_dbt(Path(tmp)):
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        histories = [
            prepare(orders, workdir, args.batch, args.history_loads, args.history_builds)
            for orders in args.histories
        ]
        time_builds(histories, args.batch)
        results: dict[int, tuple[float, float | None]] = {}
        metadata_seconds: dict[int, float] = {}
        peaks: dict[int, float] = {}
        for history in histories:
            history.before.unlink()
            print_batches(history)
            wall, own, reports = (history.mean(f) for f in ("wall", "own", "reports"))
            publication = statistics.fmean(batch.published for batch in history.batches)
            results[history.orders] = (wall, own)
            metadata_seconds[history.orders] = reports + publication
            peaks[history.orders] = history.peak_mib
            own_text = f"{own:.2f} s" if own is not None else "n/a"
            print(
                f"history {history.orders:>9,} orders: {args.batch:,}-order batches, the mean "
                f"of their fastest builds {wall:6.2f} s wall (dbt's own: {own_text}); metadata "
                f"reports {reports:.2f} s of it, publishing the marts {publication:.2f} s; "
                f"dbt's peak RSS {peaks[history.orders]:,.0f} MiB",
                flush=True,
            )

    small, large = args.histories
    ratio = results[large][0] / results[small][0]
    verdicts = [
        verdict(f"ratio wall ({large:,}) / ({small:,}) = {ratio:.2f}", ratio, TARGET_RATIOS, large)
    ]
    if results[large][1] and results[small][1]:
        print(
            f"ratio dbt's own ({large:,}) / ({small:,}) = {results[large][1] / results[small][1]:.2f}"
        )
    each = ", ".join(
        f"{big.fastest.wall / little.fastest.wall:.2f}"
        for little, big in zip(histories[0].batches, histories[1].batches, strict=True)
    )
    print(f"ratio of each batch's fastest builds, in order: {each}")
    print(f"nodes that grow most, {large:,} against {small:,} (s): {growing_nodes(*histories)}")
    seconds = metadata_seconds[large]
    verdicts.append(
        verdict(
            f"metadata (reports + publication) of a dbt build at {large:,} orders: {seconds:.2f} s",
            seconds,
            TARGET_METADATA_SECONDS,
            large,
        )
    )
    verdicts.append(
        verdict(
            f"peak RSS of dbt in the incremental build at {large:,} orders: "
            f"{peaks[large]:,.0f} MiB",
            peaks[large],
            TARGET_PEAK_MIB,
            large,
        )
    )
    first = histories[1].first_build
    verdicts.append(
        verdict(
            f"first (full) build at {large:,} orders: {first:.1f} s",
            first,
            TARGET_FIRST_BUILD_SECONDS,
            large,
        )
    )
    return 0 if all(verdicts) else 1


def verdict(figure: str, value: float, targets: dict[int, float], history: int) -> bool:
    """Print `figure` with its target at this history's size, if the issue sets one;
    false only when it misses one."""
    target = targets.get(history)
    if target is None:
        print(f"{figure}  (no target at {history:,} orders)")
        return True
    print(f"{figure}  target <= {target:,g}: {'PASS' if value <= target else 'FAIL'}")
    return value <= target


if __name__ == "__main__":
    sys.exit(main())
