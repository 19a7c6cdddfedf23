"""`retail-sim`: initialize the warehouse and generate batches outside Dagster.

It loads through the same warehouse resource code as the assets, so its batches
continue the same story and are noticed by the raw-table observations.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from retail_platform.simulator.batch import (
    DEFAULT_DIRTY_RATE,
    DEFAULT_SEED,
    DEFAULT_STEP_SECONDS,
    BatchSizes,
    SimulatorError,
    validate_batch,
)
from retail_platform.warehouse import warehouse_from_env
from retail_platform.warehouse.base import Warehouse, WarehouseError

PROG = "retail-sim"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback-ish noise
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    defaults = BatchSizes()
    parser = _Parser(prog=PROG, description="Simulated retail business for retail_platform.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser(
        "init", help="create the raw/staging/intermediate/marts schemas and raw tables (idempotent)"
    )
    gen = sub.add_parser("generate", help="generate one batch of customers, products and orders")
    gen.add_argument("--customers", type=int, default=defaults.customers)
    gen.add_argument("--products", type=int, default=defaults.products)
    gen.add_argument("--orders", type=int, default=defaults.orders)
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument(
        "--dirty-rate",
        type=float,
        default=DEFAULT_DIRTY_RATE,
        help="share of payloads with faults; 0 gives clean data (default %(default)s)",
    )
    gen.add_argument(
        "--step-minutes",
        type=int,
        default=DEFAULT_STEP_SECONDS // 60,
        help="simulated minutes the batch covers (default %(default)s)",
    )
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    query = sub.add_parser(
        "query",
        help="run SQL over the marts while the platform runs (DuckDB: their published copies)",
        description="Tables: marts.dim_customers, marts.dim_products, marts.fact_daily_sales. "
        "On the embedded DuckDB this reads the copies published after each dbt build, so it "
        "never waits for or blocks the platform; on StarRocks it queries the server.",
    )
    query.add_argument("sql", help='e.g. "select * from marts.fact_daily_sales limit 5"')
    return parser


def _query(warehouse: Warehouse, sql: str) -> str:
    try:
        columns, rows = warehouse.read_marts(sql)
    except WarehouseError:
        raise
    except Exception as exc:  # the engine's own message (syntax, unknown table) is the answer
        raise WarehouseError(str(exc).splitlines()[0]) from None
    return format_table(columns, rows)


def format_table(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """Rows as aligned text columns under a header, and how many rows."""
    cells = [list(columns), *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"])


def _generate(warehouse: Warehouse, args: argparse.Namespace) -> str:
    from tqdm import tqdm

    from retail_platform.simulator.runner import run_batch

    bars: dict[str, tqdm] = {}

    def progress(entity: str, rows: int) -> None:
        if entity not in bars:
            for bar in bars.values():
                bar.close()  # the previous entity is done: show its final count
            total = {"customers": args.customers, "products": args.products, "orders": args.orders}[
                entity
            ]
            bars[entity] = tqdm(
                total=total,
                desc=f"{entity:>9}",
                unit=" rows",
                unit_scale=True,
                disable=args.no_progress or None,  # None: only on a terminal
                file=sys.stderr,
            )
        bars[entity].update(rows)

    try:
        outcome = run_batch(
            warehouse,
            sizes=BatchSizes(args.customers, args.products, args.orders),
            seed=args.seed,
            step_seconds=args.step_minutes * 60,
            dirty_rate=args.dirty_rate,
            on_progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
    parts = [
        f"{e} {load.rows} rows" + (" (already loaded)" if load.already_loaded else "")
        for e, load in outcome.loads.items()
    ]
    return f"batch {outcome.record.batch_no} loaded into {warehouse.describe()}: " + ", ".join(
        parts
    )


def _report(warehouse: Warehouse) -> None:
    """Tell a running Dagster (DAGSTER_URL) of the batch, so its models build at once."""
    from retail_platform.report import ReportError, dagster_url, report_raw_tables

    url = dagster_url()
    if url is None:
        return
    try:
        report_raw_tables(warehouse, url)
        print(f"reported to Dagster at {url}")
    except ReportError as exc:
        # The batch is loaded; the platform's look at the raw tables still notices it.
        print(f"{PROG}: note: could not report the batch to Dagster: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate":
        try:  # a bad value is a bad argument (exit 2), found before any connection
            validate_batch(
                BatchSizes(args.customers, args.products, args.orders),
                args.step_minutes * 60,
                args.dirty_rate,
            )
        except SimulatorError as exc:
            parser.error(str(exc))
    try:
        warehouse = warehouse_from_env()
        if args.command == "init":
            warehouse.setup()
            print(f"{warehouse.describe()}: schemas and raw tables ready")
        elif args.command == "query":
            print(_query(warehouse, args.sql))
        else:
            print(_generate(warehouse, args))
            _report(warehouse)
    except (WarehouseError, SimulatorError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; re-run the same command to finish the batch "
            "(chunks already loaded are skipped by label)",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
