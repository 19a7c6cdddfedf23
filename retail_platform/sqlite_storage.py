"""The local instance's SQLite storage, keeping its connections between queries.

Dagster's SQLite storages make a new SQLAlchemy engine and open a new connection for
every query (NullPool), as dagster-postgres does (postgres_storage.py). A batch's run
writes ~190 events, each a connection to its run's file and to the index; with the
daemon's and the webserver's reads that cost more CPU than a batch's dbt models
(docs/freshness.md). These subclasses keep one engine per database file, each with a
small pool: the same files, tables and locking (a connection holds no lock between
transactions), only not reopened per query. An event log keeps the engines of the index
and of the few runs it touched last; a run's is closed when its events are deleted.

retail_platform/instance.py names these classes for an instance without a storage layer
(`make dev`, `make check`, the soak, the tests' homes). test_dagster_internals fails,
naming what moved, when Dagster changes the methods they replace.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

# Connections each engine keeps open: the daemon's threads each hold one while they query.
# More are opened when needed, and closed when returned.
POOL_SIZE = 3
# Run files whose engines an event log keeps besides the index: a run worker writes one,
# a webserver shows a few; one open file each.
RUN_FILES_KEPT = 4


def pooled_engine(conn_string: str, **connect_args) -> sa.Engine:
    # A pooled connection may be returned on another thread than the one that opened it.
    return sa.create_engine(
        conn_string,
        pool_size=POOL_SIZE,
        max_overflow=-1,
        connect_args={**connect_args, "check_same_thread": False},
    )


class _KeepsOneEngine:
    """Mixed in before Dagster's SQLite run or schedule storage: one pooled engine."""

    def __init__(self, conn_string, inst_data=None):
        super().__init__(conn_string, inst_data)
        self._engine = pooled_engine(conn_string)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # Dagster's from_config_value names its own class, not `cls`.
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class PooledSqliteRunStorage(_KeepsOneEngine, SqliteRunStorage):
    pass


class PooledSqliteScheduleStorage(_KeepsOneEngine, SqliteScheduleStorage):
    pass


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """One pooled engine for the index file and for each of the runs touched last."""

    def __init__(self, base_dir, inst_data=None):
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> sa.Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = pooled_engine(
                    self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS
                )
            self._engines[shard] = engine  # the most recent last
            runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
            for name in runs[:-RUN_FILES_KEPT]:
                self._engines.pop(name).dispose()
            return engine

    def _forget(self, shard: str) -> None:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
        if engine is not None:
            engine.dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        # As Dagster's: one query at a time per storage, the schema made on first use.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked before every pooled step and by the run queue at each look.
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self._forget(run_id)  # its file may be removed next (dagster_internals.delete_run_file)

    def wipe(self) -> None:
        for shard in list(self._engines):
            self._forget(shard)
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        for shard in list(self._engines):
            self._forget(shard)
