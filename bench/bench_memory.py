"""Peak memory of a large streamed batch: `retail-sim generate --orders N` in a subprocess.

The CLI runs against a fresh temporary DuckDB file (RETAIL_DUCKDB_PATH), so the repo's
warehouse is never touched. Reports wall time, orders/s and the child's peak RSS, and
PASS/FAIL against the 1 GiB target. Default 5,000,000 orders (about half a minute).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_BYTES = 1 << 30  # 1 GiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, help="use this DuckDB file and keep it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="retail_bench_mem_") as tmp:
        db = args.keep or Path(tmp) / "bench.duckdb"
        env = {**os.environ, "RETAIL_WAREHOUSE": "duckdb", "RETAIL_DUCKDB_PATH": str(db)}
        cli = Path(sys.executable).with_name("retail-sim")
        cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "retail_platform.cli"]
        cmd += ["generate", "--orders", str(args.orders), "--seed", str(args.seed), "--no-progress"]
        print("running:", " ".join(cmd), f"(RETAIL_DUCKDB_PATH={db})", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    # ru_maxrss of waited-for children: kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    if proc.returncode:
        print(proc.stdout, proc.stderr, sep="\n", file=sys.stderr)
        print(f"FAIL: exit status {proc.returncode}")
        return 1
    print(proc.stdout.strip())
    ok = peak_bytes < LIMIT_BYTES
    print(f"{args.orders:,} orders in {seconds:.1f} s ({args.orders / seconds:,.0f} orders/s)")
    print(f"peak RSS {peak_bytes / 2**20:,.0f} MiB (limit {LIMIT_BYTES / 2**20:,.0f} MiB)")
    print(f"{'PASS' if ok else 'FAIL'}: peak memory {'under' if ok else 'over'} 1 GiB")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
