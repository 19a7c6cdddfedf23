"""The local instance's SQLite storage, keeping its connections between queries.

Dagster's SQLite storages make a new SQLAlchemy engine and open a new connection for
every query (NullPool), as dagster-postgres does (postgres_storage.py), and check each
file's schema against its migrations (alembic reads every migration script) whenever an
instance is made: the code server makes one at every sensor tick. A batch's run writes
~190 events, each touching its run's file and the index; with the daemon's, the code
server's and the webserver's reads that cost more CPU than a batch's dbt models
(docs/freshness.md).

These subclasses share, within a process, one engine per database file, each with a
small pool: the same files, tables and locking (a connection holds no lock between
transactions), only not reopened per query nor per instance. The engines of the files
used last are kept (the index, runs and schedules files are used all the time; a run's
while it is written or shown), and a file's schema is checked once per process: the
index's, runs' and schedules' by the first instance on them, a run file's by each
instance, as Dagster does. A run's engine is closed when its events are deleted.

retail_platform/instance.py names these classes for an instance without a storage layer
(`make dev`, `make check`, the soak, the tests' homes). test_dagster_internals fails
when Dagster changes what they replace.
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
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string

# Connections each engine keeps open: the daemon's threads each hold one while they query.
# More are opened when needed, and closed when returned.
POOL_SIZE = 3
# Files whose engines a process keeps, the least recently used closed first: the index,
# runs and schedules files, and the runs a worker writes or a webserver shows.
FILES_KEPT = 8

_lock = threading.Lock()
_engines: OrderedDict[str, sa.Engine] = OrderedDict()  # by connection string, newest last
_checked: set[str] = set()  # files whose schema this process has checked


def engine(conn_string: str, **connect_args) -> sa.Engine:
    """This process's pooled engine on a file."""
    with _lock:
        found = _engines.pop(conn_string, None)
        if found is None:
            # A pooled connection may be returned on another thread than the one that opened it.
            found = sa.create_engine(
                conn_string,
                pool_size=POOL_SIZE,
                max_overflow=-1,
                connect_args={**connect_args, "check_same_thread": False},
            )
        _engines[conn_string] = found
        while len(_engines) > FILES_KEPT:
            _engines.popitem(last=False)[1].dispose()  # connections in use close when returned
        return found


def forget(conn_string: str) -> None:
    """Close this process's engine on a run's file about to be removed."""
    with _lock:
        found = _engines.pop(conn_string, None)
    if found is not None:
        found.dispose()


class _KeepsOneFile:
    """Mixed in before Dagster's SQLite run or schedule storage (one file each)."""

    DB_NAME: str  # the file's name in the storage's folder, as Dagster names it

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # Dagster's from_config_value names its own class, not `cls`.
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(cls, base_dir: str, inst_data=None):
        conn_string = create_db_conn_string(base_dir, cls.DB_NAME)
        if conn_string in _checked:
            return cls(conn_string, inst_data)
        storage = super().from_local(base_dir, inst_data=inst_data)  # creates or checks the schema
        _checked.add(conn_string)
        return storage

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with engine(self._conn_string).connect() as conn, conn.begin():
            yield conn


class PooledSqliteRunStorage(_KeepsOneFile, SqliteRunStorage):
    DB_NAME = "runs"


class PooledSqliteScheduleStorage(_KeepsOneFile, SqliteScheduleStorage):
    DB_NAME = "schedules"


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """The index file and one file per run, each through this process's engine on it."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        # As Dagster's: one query at a time per storage, the schema made or checked on first use.
        with self._db_lock:
            conn_string = self.conn_string_for_shard(shard)
            pooled = engine(conn_string, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                index = shard == INDEX_SHARD_NAME
                if not (index and conn_string in _checked):
                    self._initdb(pooled)
                if index:
                    _checked.add(conn_string)
                self._initialized_dbs.add(shard)
            with pooled.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked before every pooled step and by the run queue at each look.
        pooled = engine(
            self.conn_string_for_shard(INDEX_SHARD_NAME), timeout=SQLITE_BUSY_TIMEOUT_SECONDS
        )
        with pooled.connect() as conn:
            return bool(pooled.dialect.has_table(conn, table_name))

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        # dagster_internals.delete_run_file may remove the file next.
        forget(self.conn_string_for_shard(run_id))

    def wipe(self) -> None:
        for run_id in self.get_all_run_ids():
            forget(self.conn_string_for_shard(run_id))
        super().wipe()
