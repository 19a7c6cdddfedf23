"""Where a DuckDB warehouse's bytes go: per table, by layer, per raw order row.

Counts the distinct storage blocks each table's columns occupy (DuckDB's
`pragma_storage_info`), so the figures are what the file holds, compressed. Run it on
a warehouse no process holds open (a copy, or with the platform stopped):

    .venv/bin/python -m bench.storage .retail/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    args = parser.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    block_size = con.execute(
        "select block_size from pragma_database_size() where database_name = current_database()"
    ).fetchone()[0]
    tables = con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database() order by schema_name, table_name"
    ).fetchall()
    ((raw_rows,),) = con.execute("select count(*) from raw.raw_orders").fetchall()
    file_bytes = args.warehouse.stat().st_size
    print(f"{args.warehouse}: {file_bytes / 2**30:.2f} GiB, {raw_rows:,} raw order rows")
    print(f"{'table':44s} {'rows':>12s} {'MiB':>9s} {'B/raw order row':>16s}")
    by_layer: dict[str, int] = {}
    for schema, table, rows in tables:
        (blocks,) = con.execute(
            "select count(distinct block_id) from pragma_storage_info(?) where persistent",
            [f"{schema}.{table}"],
        ).fetchone()
        size = blocks * block_size
        by_layer[schema] = by_layer.get(schema, 0) + size
        print(f"{schema + '.' + table:44s} {rows:12,d} {size / 2**20:9.1f} {size / raw_rows:16.1f}")
    for schema, size in by_layer.items():
        print(f"layer {schema:38s} {'':12s} {size / 2**20:9.1f} {size / raw_rows:16.1f}")
    counted = sum(by_layer.values())
    print(
        f"{'all tables':44s} {'':12s} {counted / 2**20:9.1f} {counted / raw_rows:16.1f}"
        f"   (the file: {file_bytes / raw_rows:.1f} B/row; the rest is free blocks)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
