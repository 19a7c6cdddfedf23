"""Read-only copies of the marts, to query while the platform runs (embedded DuckDB).

A DuckDB file has one writer, and while a process holds it open for writing no other
process can even read it: a notebook left open on the warehouse would stop the
pipeline, and the pipeline would lock the notebook out. So after each dbt build the
marts it built are published next to the file as Parquet, one file per mart, each
written under a temporary name and renamed over the last one (a reader sees the old
file or the new one, never part of one), and `retail-sim query` reads those files,
never the warehouse. StarRocks is a server: readers query it directly.

No Dagster import here: `retail-sim` stays light.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = "marts"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def snapshot_dir(warehouse_file: Path) -> Path:
    """Where the marts of this warehouse file are published (beside it)."""
    return warehouse_file.with_name(f"{warehouse_file.stem}.marts")


def publish(con: Any, tables: Sequence[str], folder: Path) -> None:
    """Copy `marts.<table>` to `folder/<table>.parquet` for each table, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in tables:
        if not _NAME.match(table):
            raise ValueError(f"not a table name: {table!r}")
        final = folder / f"{table}.parquet"
        tmp = folder / f".{table}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            con.execute(f"copy {SCHEMA}.{table} to '{tmp}' (format parquet)")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


def query(sql: str, folder: Path) -> tuple[list[str], list[tuple]]:
    """Run `sql` over the published marts (as `marts.<table>`) in an in-memory DuckDB."""
    import duckdb

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no published marts in {folder}: they appear after the first dbt build "
            "(make dev, then turn on the generate schedule, or make check)"
        )
    con = duckdb.connect()
    try:
        con.execute(f"create schema {SCHEMA}")
        for file in files:
            if _NAME.match(file.stem):
                con.execute(
                    f"create view {SCHEMA}.{file.stem} as select * from read_parquet('{file}')"
                )
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        return columns, cursor.fetchall()
    finally:
        con.close()
