"""Simulator benchmark: naive per-row baseline vs. the vectorized generator (`make bench`).

In one run, on the same machine:

(a) the naive reference generator (bench/naive_generator.py: Faker per field per row,
    random.choice, json.dumps of dicts), on a sample of orders;
(b) the project's generator + serialization: the orders chunks exactly as
    ``runner.generate_payloads`` yields them (dirty faults at the default rate), plus
    the conversion the load path needs (none for DuckDB: it takes the Arrow array;
    ``--load-format bytes`` adds the per-row bytes StarRocks Stream Load takes);
(c) generation + load into a temporary embedded warehouse (DuckDB file) through
    ``runner.run_batch``;
(d) the CLI end to end: ``retail-sim generate --orders 1000000`` into a fresh DuckDB
    file, timed from process start to exit (imports, connection, customers and
    products of the batch, generation, load), and its peak memory.

Prints orders/s for each, the ratios (b)/(a) and (d)/(a) and PASS/FAIL against the
targets (>= 50, >= 15; (d) under 1 GiB). Exit status 1 on FAIL. Writes the figures to bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from bench.naive_generator import NaiveGenerator
from retail_platform.simulator import generator, runner
from retail_platform.warehouse.duckdb import DuckDBWarehouse

HERE = Path(__file__).resolve().parent

TARGET_RATIO = 50.0
TARGET_CLI_RATIO = 15.0
TARGET_CLI_PEAK_BYTES = 1 << 30
# The world the orders are drawn from (same for both generators).
CUSTOMERS, PRODUCTS = 10_000, 1_000


def time_naive(orders: int, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for ``orders`` naive orders."""
    gen = NaiveGenerator(seed=seed, dirty_rate=runner.DEFAULT_DIRTY_RATE)
    wall, cpu = time.perf_counter(), time.process_time()
    gen.orders(orders, n_customers=CUSTOMERS, n_products=PRODUCTS)
    return time.perf_counter() - wall, time.process_time() - cpu


def _plan(orders: int, seed: int) -> generator.BatchRecord:
    return generator.plan_batch(
        [],
        seed=seed,
        customers=CUSTOMERS,
        products=PRODUCTS,
        orders=orders,
        step_seconds=runner.DEFAULT_STEP_SECONDS,
        dirty_rate=runner.DEFAULT_DIRTY_RATE,
    )


def generate_orders(orders: int, seed: int, load_format: str) -> tuple[int, int]:
    """(payload rows, payload bytes) of one batch's orders, in the load path's format."""
    rec = _plan(orders, seed)
    rows = nbytes = 0
    for _label, payloads in runner.generate_payloads(rec, [], "orders"):
        if load_format == "bytes":
            payloads = payloads.cast(pa.binary()).to_pylist()
            nbytes += sum(map(len, payloads))
        else:
            nbytes += payloads.nbytes
        rows += len(payloads)
    return rows, nbytes


def time_vectorized(orders: int, seed: int, load_format: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    generate_orders(orders, seed, load_format)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_ab(args: argparse.Namespace) -> tuple[list[tuple[float, float]], ...]:
    """Alternate (a) and (b) for ``repeat`` rounds, so both see the same machine load."""
    # Warm-up: imports, Faker providers, pools and the generator's cached tables.
    time_naive(1_000, args.seed)
    generate_orders(20_000, args.seed, args.load_format)
    naive, vectorized = [], []
    for _ in range(args.repeat):
        naive.append(time_naive(args.naive_orders, args.seed))
        vectorized.append(time_vectorized(args.orders, args.seed, args.load_format))
    return naive, vectorized


def bench_load(orders: int, seed: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="retail_bench_") as tmp:
        warehouse = DuckDBWarehouse(path=str(Path(tmp) / "bench.duckdb"))
        warehouse.setup()
        # Warm-up batch (also makes customers/products exist, as orders need them).
        runner.run_batch(
            warehouse,
            sizes=runner.BatchSizes(CUSTOMERS, PRODUCTS, 1_000),
            seed=seed,
        )
        started = time.perf_counter()
        outcome = runner.run_batch(
            warehouse, sizes=runner.BatchSizes(0, 0, orders), seed=seed, entities=("orders",)
        )
        seconds = time.perf_counter() - started
        return seconds, outcome.loads["orders"].rows


def bench_cli(orders: int) -> tuple[float, int]:
    """(seconds from process start to exit, peak RSS bytes) of `retail-sim generate`."""
    cli = Path(sys.executable).parent / "retail-sim"
    with tempfile.TemporaryDirectory(prefix="retail_bench_cli_") as tmp:
        env = {
            **os.environ,
            "RETAIL_WAREHOUSE": "duckdb",
            "RETAIL_DUCKDB_PATH": str(Path(tmp) / "cli.duckdb"),
        }
        subprocess.run([str(cli), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(cli), "generate", "--orders", str(orders), "--no-progress"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            sys.exit(f"retail-sim generate exited with {proc.returncode}")
        return seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000, help="orders for (b) and (c)")
    parser.add_argument("--naive-orders", type=int, default=20_000, help="orders for (a)")
    parser.add_argument("--seed", type=int, default=runner.DEFAULT_SEED)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of (a) and (b); the best of each is used"
    )
    parser.add_argument(
        "--load-format",
        choices=("arrow", "bytes"),
        default="arrow",
        help="(b) output: Arrow array (what DuckDB loads) or per-row bytes (StarRocks)",
    )
    parser.add_argument("--no-load", action="store_true", help="skip (c)")
    parser.add_argument("--cli-orders", type=int, default=1_000_000, help="orders for (d)")
    parser.add_argument("--no-cli", action="store_true", help="skip (d)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    print(
        f"simulator benchmark: {args.orders:,} orders, naive sample {args.naive_orders:,}, "
        f"seed {args.seed}, python {platform.python_version()}, {platform.machine()}"
    )
    naive_runs, runs = bench_ab(args)
    naive_times, times = [w for w, _ in naive_runs], [w for w, _ in runs]
    naive_s, best = min(naive_times), min(times)
    naive_rate, vec_rate = args.naive_orders / naive_s, args.orders / best
    naive_cpu_rate = args.naive_orders / min(c for _, c in naive_runs)
    vec_cpu_rate = args.orders / min(c for _, c in runs)
    print(
        f"(a) naive per-row Faker + json.dumps  : {naive_rate:>10,.0f} orders/s"
        f"  (best of {len(naive_times)}: {args.naive_orders:,} orders in {naive_s:.2f} s;"
        f" CPU time: {naive_cpu_rate:,.0f}/s)"
    )
    print(
        f"(b) generator + serialization ({args.load_format}): {vec_rate:>10,.0f} orders/s"
        f"  (best of {len(times)}: {best:.3f} s, median {statistics.median(times):.3f} s;"
        f" CPU time: {vec_cpu_rate:,.0f}/s)"
    )

    load_rate = None
    if not args.no_load:
        load_s, rows = bench_load(args.orders, args.seed)
        load_rate = args.orders / load_s
        print(
            f"(c) generation + load into DuckDB     : {load_rate:>10,.0f} orders/s"
            f"  ({rows:,} rows in {load_s:.2f} s)"
        )

    cli_ok, cli = True, None
    if not args.no_cli:
        cli_s, peak = bench_cli(args.cli_orders)
        cli_rate = args.cli_orders / cli_s
        cli = (cli_rate / naive_rate, cli_s, peak)
        cli_ok = cli[0] >= TARGET_CLI_RATIO and peak < TARGET_CLI_PEAK_BYTES
        print(
            f"(d) retail-sim generate, end to end   : {cli_rate:>10,.0f} orders/s"
            f"  ({args.cli_orders:,} orders in {cli_s:.2f} s from process start to exit;"
            f" peak memory {peak / 2**20:,.0f} MiB)"
        )

    ratio = vec_rate / naive_rate
    ok = ratio >= TARGET_RATIO
    cpu_ratio = vec_cpu_rate / naive_cpu_rate
    print(
        f"ratio (b)/(a) = {ratio:,.1f}x (target >= {TARGET_RATIO:.0f}x);"
        f" by CPU time {cpu_ratio:,.1f}x (less sensitive to other load on the machine)"
    )
    print(f"{'PASS' if ok else 'FAIL'}: generator is {ratio:,.1f}x the naive baseline")
    if cli:
        print(
            f"{'PASS' if cli_ok else 'FAIL'}: retail-sim generate is {cli[0]:,.1f}x the naive "
            f"baseline (target >= {TARGET_CLI_RATIO:.0f}x), peak {cli[2] / 2**20:,.0f} MiB "
            f"(target < {TARGET_CLI_PEAK_BYTES / 2**20:,.0f} MiB)"
        )

    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "orders": args.orders,
        "naive_orders": args.naive_orders,
        "seed": args.seed,
        "load_format": args.load_format,
        "naive_orders_per_s": round(naive_rate),
        "generator_orders_per_s": round(vec_rate),
        "naive_seconds": [round(t, 4) for t in naive_times],
        "generator_seconds": [round(t, 4) for t in times],
        "load_orders_per_s": round(load_rate) if load_rate else None,
        "ratio": round(ratio, 2),
        "cpu_ratio": round(cpu_ratio, 2),
        "target_ratio": TARGET_RATIO,
        "cli_ratio": round(cli[0], 2) if cli else None,
        "cli_seconds": round(cli[1], 2) if cli else None,
        "cli_peak_bytes": cli[2] if cli else None,
        "pass": ok and cli_ok,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bench_simulator_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    return 0 if ok and cli_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
