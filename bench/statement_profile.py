"""Where an incremental build's seconds go, per dbt node, on a small and a large history.

A build's own timings are noisy: the first statement to read a table pays for loading
it, and two threads share two cores. So this tool records the SQL of one build on each
warehouse (a copy of each, with a batch loaded and not built: what bench_transform
times), then runs each node's statements again on that copy, in a transaction rolled
back, ROUNDS times over warm caches, and prints the median per node side by side, the
nodes whose seconds grow most with the history first.

The replay runs on the warehouse as the build left it, so it is an estimate of each
node's work, not of the build: a node's deletes find the rows the build wrote, its
reads the same inputs (its stamps are constants in its SQL). Jinja, dbt and Python
are not in it (bench_transform times the whole build).

    .venv/bin/python -m bench.statement_profile SMALL.duckdb LARGE.duckdb [--rounds 3]

SMALL and LARGE are left as they are: two built warehouses, each with the same-size
batch loaded since (`RETAIL_DUCKDB_PATH=FILE retail-sim generate --orders 10000`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from bench.bench_transform import dbt_env, log_events
from retail_platform.assets.dbt import BUILD_ARGS
from retail_platform.project import dbt_argv
from retail_platform.settings import duckdb_settings

TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK")


def build_statements(db: Path, work: Path) -> dict[str, list[str]]:
    """Build `db` as the platform does, with dbt's debug log: each node's statements."""
    command = dbt_argv(BUILD_ARGS[0], work, *BUILD_ARGS[1:], "--log-format", "json")
    result = subprocess.run(
        [*command, "--log-level", "debug"], env=dbt_env(db), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"dbt build failed on {db}:\n{result.stdout[-4000:]}")
    statements: dict[str, list[str]] = defaultdict(list)
    for event in log_events(result.stdout):
        if event["info"]["name"] != "SQLQuery":
            continue
        node = (event["data"].get("node_info") or {}).get("node_name")
        sql = event["data"]["sql"]
        if node and sql.strip().upper() not in TRANSACTION:
            statements[node].append(sql)
    return statements


def replay(db: Path, statements: dict[str, list[str]], rounds: int) -> dict[str, float]:
    """Median seconds of each node's statements, replayed `rounds` times after one
    warm-up, each time in a transaction rolled back; nan where one fails."""
    # duckdb_settings() and the one setting dbt_project/profiles.yml adds to them
    settings = {**duckdb_settings(), "disabled_optimizers": "build_side_probe_side"}
    medians = {}
    with duckdb.connect(str(db), config=settings) as con:
        for node, sqls in statements.items():
            seconds = []
            for _ in range(rounds + 1):
                con.execute("begin")
                started = time.perf_counter()
                try:
                    for sql in sqls:
                        con.execute(sql).fetchall()
                    seconds.append(time.perf_counter() - started)
                except duckdb.Error:
                    seconds = [float("nan")]
                    break
                finally:
                    con.execute("rollback")
            medians[node] = statistics.median(seconds[1:] or seconds)
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("small", type=Path)
    parser.add_argument("large", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    found = {}
    with tempfile.TemporaryDirectory(prefix="statement_profile_") as tmp:
        for label, source in (("small", args.small), ("large", args.large)):
            folder = Path(tmp) / label
            folder.mkdir()
            db = folder / source.name
            shutil.copy(source, db)
            found[label] = replay(db, build_statements(db, folder), args.rounds)
            db.unlink()
    small, large = found["small"], found["large"]
    nodes = sorted(set(small) | set(large), key=lambda n: large.get(n, 0) - small.get(n, 0))
    print(f"{'node':60} {'small':>7} {'large':>7} {'grows':>7}")
    for node in nodes[::-1][: args.top]:
        a, b = small.get(node, 0.0), large.get(node, 0.0)
        print(f"{node[:60]:60} {a:7.3f} {b:7.3f} {b - a:+7.3f}")
    print(f"{'all nodes':60} {sum(small.values()):7.3f} {sum(large.values()):7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
