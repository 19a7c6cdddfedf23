"""The embedded warehouse: one DuckDB file, the default so nothing needs Docker.

DuckDB allows one writing process per file. Connections are opened per operation and
closed at once, and a lock held by another process (a concurrent run, the CLI, dbt)
is waited for with backoff up to ``lock_timeout_seconds`` before a clear error.
Dagster pools in ``instance/dagster.yaml`` keep our own runs from competing in the first place.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from retail_platform import snapshots
from retail_platform.settings import duckdb_settings, retention_minutes
from retail_platform.warehouse.base import (
    RAW_SCHEMA,
    RAW_TABLES,
    SIM_BATCHES_TABLE,
    LoadResult,
    TableState,
    Warehouse,
    WarehouseError,
    check_identifier,
    check_label,
)

SCHEMAS = ("raw", "staging", "intermediate", "marts")
LEDGER = f"{RAW_SCHEMA}._loads"
# The connection of an open `session()`, per file: opening one costs ~10 ms of CPU, and a
# simulator batch makes some twenty operations.
_SESSION: ContextVar[tuple[Path, object] | None] = ContextVar("duckdb_session", default=None)


@dataclass
class DuckDBWarehouse(Warehouse):
    """Raw tables and dbt models in one local DuckDB file."""

    publishes_marts: ClassVar[bool] = True
    path: str  # the database file (created on first use)
    # How long to wait for another process's lock on the file before a clear error (a
    # dbt build holds it for seconds). Ops retry 3 times with backoff after that:
    # 4 x 20 s + 21 s stays inside the runs' 120 s max runtime, so a run fails with
    # this error, not with a timeout.
    lock_timeout_seconds: float = 20.0
    # How long the label ledger remembers a load: a retry within this window is
    # recognised as already loaded. The platform's retention window (retention.py),
    # read when the warehouse is made: the ledger forgets with the rest of the history.
    label_retention_seconds: float = field(default_factory=lambda: retention_minutes() * 60)

    @property
    def name(self) -> str:
        return "duckdb"

    @property
    def file(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def describe(self) -> str:
        return f"DuckDB file {self.file}"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Operations inside share one connection (and hold the file's lock throughout)."""
        with self.connect() as con:
            token = _SESSION.set((self.file, con))
            try:
                yield
            finally:
                _SESSION.reset(token)

    @contextmanager
    def connect(self, lock_timeout_seconds: float | None = None) -> Iterator[object]:
        import duckdb

        session = _SESSION.get()
        if session and session[0] == self.file:
            yield session[1]
            return

        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the folder of {self.describe()}: {exc}") from None
        timeout = (
            self.lock_timeout_seconds if lock_timeout_seconds is None else lock_timeout_seconds
        )
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.file), config=duckdb_settings())
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(f"cannot open {self.describe()}: {exc}") from None
                if time.monotonic() >= deadline:
                    # DuckDB's message names the process holding the lock (its PID).
                    holder = str(exc).split("Conflicting lock is held in", 1)[-1]
                    holder = holder.split(". See also", 1)[0].strip()
                    raise WarehouseError(
                        f"{self.describe()} is locked by another process for over "
                        f"{timeout:.0f} s (held by {holder})"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield con
        finally:
            con.close()

    def setup(self) -> None:
        with self.connect() as con:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
            for table in (*RAW_TABLES, SIM_BATCHES_TABLE):
                con.execute(
                    f"create table if not exists {RAW_SCHEMA}.{table} ("
                    "load_label varchar not null, loaded_at timestamp not null, payload json)"
                )
            # The label ledger: what Stream Load labels give StarRocks, for DuckDB.
            con.execute(
                f"create table if not exists {LEDGER} (label varchar primary key, "
                "table_name varchar not null, row_count bigint not null, loaded_at timestamp not null)"
            )

    def load_batch(
        self,
        table: str,
        label: str,
        payloads: Sequence[bytes] | pa.Array,
        loaded_at: datetime | None = None,
    ) -> LoadResult:
        table, label = check_identifier(table), check_label(label)
        started = time.perf_counter()
        column = payloads if isinstance(payloads, pa.Array) else pa.array(payloads, pa.binary())
        column = column.cast(pa.string())  # validates UTF-8 once, in Arrow
        nbytes = column.nbytes
        loaded_at = (loaded_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        batch = pa.table({"payload": column})  # noqa: F841 (read by DuckDB's replacement scan)
        with self.connect() as con:
            # One transaction: the rows and the ledger entry commit together or not at all.
            con.begin()
            try:
                if con.execute(f"select 1 from {LEDGER} where label = ?", [label]).fetchone():
                    con.rollback()
                    return LoadResult(
                        table,
                        label,
                        True,
                        0,
                        bytes=nbytes,
                        seconds=time.perf_counter() - started,
                        part_labels=(label,),
                    )
                con.execute(
                    f"insert into {RAW_SCHEMA}.{table} (load_label, loaded_at, payload) "
                    "select ?, ?, payload::json from batch",
                    [label, loaded_at],
                )
                con.execute(
                    f"insert into {LEDGER} values (?, ?, ?, ?)",
                    [label, table, len(column), loaded_at],
                )
                # The ledger only has to outlive any retry of a load, as StarRocks
                # labels do: keep it bounded instead of one row per load forever.
                con.execute(
                    f"delete from {LEDGER} where loaded_at < ?",
                    [loaded_at - timedelta(seconds=self.label_retention_seconds)],
                )
                con.commit()
            except Exception as exc:
                con.rollback()
                if "Catalog Error" in str(exc):
                    raise WarehouseError(
                        f"{self.describe()} has no table {RAW_SCHEMA}.{table}: run `make setup`"
                    ) from None
                raise
        return LoadResult(
            table,
            label,
            False,
            len(column),
            bytes=nbytes,
            seconds=time.perf_counter() - started,
            part_labels=(label,),
        )

    def observe(self, table: str, lock_timeout_seconds: float | None = None) -> TableState:
        table = check_identifier(table)
        ((count, last),) = self.query(
            f"select count(*), max(loaded_at) from {RAW_SCHEMA}.{table}",
            lock_timeout_seconds=lock_timeout_seconds,
        )
        return TableState(int(count), last.replace(tzinfo=UTC) if last else None)

    def change_token(self) -> str:
        # A commit grows the write-ahead log; a checkpoint rewrites the file: either way
        # one of them changes its size or modification time. No lock is taken.
        parts = []
        for path in (self.file, self.file.with_name(self.file.name + ".wal")):
            try:
                stat = path.stat()
                parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
            except FileNotFoundError:
                parts.append("-")
        return "|".join(parts)

    def unparsable_payloads(self, table: str, recent_minutes: int = 10) -> tuple[int, int]:
        table = check_identifier(table)
        ((rows, bad),) = self.query(
            f"select count(*), count(*) filter (where json_type(payload) <> 'OBJECT') "
            f"from {RAW_SCHEMA}.{table} where loaded_at >= "
            f"(select max(loaded_at) - to_minutes(?) from {RAW_SCHEMA}.{table})",
            [int(recent_minutes)],
        )
        return int(rows), int(bad)

    def query(
        self, sql: str, params: Sequence[object] = (), lock_timeout_seconds: float | None = None
    ) -> list[tuple]:
        import duckdb

        with self.connect(lock_timeout_seconds) as con:
            try:
                return con.execute(sql, list(params)).fetchall()
            except duckdb.CatalogException as exc:
                raise WarehouseError(
                    f"{self.describe()}: {str(exc).splitlines()[0]} (run `retail-sim init` or `make setup`)"
                ) from None

    @property
    def snapshot_dir(self) -> Path:
        return snapshots.snapshot_dir(self.file)

    def read_marts(self, sql: str) -> tuple[list[str], list[tuple]]:
        try:
            return snapshots.query(sql, self.snapshot_dir)
        except FileNotFoundError as exc:
            raise WarehouseError(str(exc)) from None

    def publish_marts(self, marts: Sequence[snapshots.Mart]) -> None:
        with self.connect() as con:
            snapshots.publish(con, marts, self.snapshot_dir)
