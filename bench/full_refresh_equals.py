"""Does a full refresh of a warehouse equal what its incremental builds made, row for row?

    python -m bench.full_refresh_equals WAREHOUSE.duckdb   # e.g. a soak's `--keep` folder's

Copies the DuckDB file, rebuilds the copy from its raw tables alone (`dbt build
--full-refresh`, as the platform runs dbt), then compares every table and view of the
staging, intermediate and marts schemas with the original's: all columns but those that
say which run wrote a row and what it found before (`_stamp`; base_*_classified's
`_since` and `was_latest_version`), `EXCEPT ALL` both ways; int_daily_sales without its
rows of no orders, which the next build deletes (its model's header). Prints the rows each way per relation and
exits 1 if any differs. The tests check the same on small histories in both warehouses
(test_incremental_builds_equal_a_full_refresh); this is the check at a soak's scale.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.bench_transform import run_dbt
from retail_platform.assets.dbt import BUILD_ARGS
from retail_platform.project import dbt_argv
from retail_platform.warehouse.base import RAW_SCHEMA
from retail_platform.warehouse.duckdb import SCHEMAS

BUILT = tuple(schema for schema in SCHEMAS if schema != RAW_SCHEMA)
RUN_COLUMNS = ("_stamp", "_since", "was_latest_version")
# Rows an incremental build keeps until the next one deletes them, by relation.
PENDING = {"intermediate.int_daily_sales": "order_count = 0"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--workdir", type=Path, help="where the copy goes (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="retail_refresh_"))
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "full_refresh.duckdb"
    shutil.copyfile(args.warehouse, copy)
    env = {
        **os.environ,
        "RETAIL_WAREHOUSE": "duckdb",
        "RETAIL_DUCKDB_PATH": str(copy),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started = time.perf_counter()
    with (work / "dbt.log").open("w") as out:
        code, _ = run_dbt(
            dbt_argv(BUILD_ARGS[0], work, *BUILD_ARGS[1:], "--full-refresh"), env, out.fileno()
        )
    print(f"full refresh of a copy of {args.warehouse}: {time.perf_counter() - started:.1f} s")
    if code != 0:
        print(f"dbt exited {code}: see {work / 'dbt.log'}")
        return 1
    con = duckdb.connect(str(copy), read_only=True)
    con.execute(f"attach '{args.warehouse}' as incremental (read_only)")
    relations = con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_catalog = 'full_refresh' and table_schema in {BUILT} order by 1, 2"
    ).fetchall()
    differ = 0
    for schema, table in relations:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = "
                "'full_refresh' and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if name not in RUN_COLUMNS
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        full, inc = f"full_refresh.{schema}.{table}", f"incremental.{schema}.{table}"
        if f"{schema}.{table}" in PENDING:
            inc = f"(select * from {inc} where not ({PENDING[f'{schema}.{table}']}))"
        only_full, only_inc, rows = con.execute(
            f"select (select count(*) from (select {listed} from {full} except all select {listed} from {inc})), "
            f"(select count(*) from (select {listed} from {inc} except all select {listed} from {full})), "
            f"(select count(*) from {inc})"
        ).fetchone()  # fmt: skip
        differ += only_full + only_inc
        flag = "" if only_full == only_inc == 0 else "   DIFFERS"
        counts = f"only in the full refresh {only_full}, only incremental {only_inc}"
        print(f"  {schema}.{table:28s} {rows:>12,} rows; {counts}{flag}")
    print("incremental == full refresh" if differ == 0 else f"{differ} rows differ")
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
