"""The deployed instance's PostgreSQL storage, keeping its connections between queries.

dagster-postgres opens a new connection for every query outside the webserver
(SQLAlchemy's NullPool; dagster-io/dagster#20325). An idle daemon ticking its sensors
then opens about a thousand a minute, and PostgreSQL forks a backend for each: on a
2-core machine that alone took more than the platform's idle CPU budget
(docs/freshness.md). These subclasses give each process a small pool instead, the
webserver's own setting (`optimize_for_webserver`) made the default; sqlite_storage.py
does the same for the local instance's SQLite files. There is no
public setting for it yet: a configurable pool is proposed upstream in
dagster-io/dagster#33935 (PR #33936). It relies on the storages' `_engine` and
`_token_provider`: test_dagster_internals fails, naming the issue, when they change, and
test_deploy counts the sessions PostgreSQL sees.

deploy/dagster.yaml names these classes for run, event-log and schedule storage.
"""

from __future__ import annotations

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# Connections each storage keeps open per process: the daemon's threads each hold one
# while they query. More are opened when needed, and closed when returned (as now).
POOL_SIZE = 3
# A pooled connection is tested before use, so a restarted PostgreSQL (make serve
# restarts it) costs a reconnect, not a failed query; and renewed hourly.
POOL_RECYCLE_SECONDS = 3600


class KeepsConnections:
    """Mixed in before a dagster-postgres storage class: the same storage, pooled."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The engine dagster-postgres made (NullPool), replaced by a pooled one on the same URL.
        unpooled = self._engine
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=-1,
            pool_pre_ping=True,
            pool_recycle=POOL_RECYCLE_SECONDS,
        )
        unpooled.dispose()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # dagster-postgres's from_config_value names its own class, not `cls`.
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class PooledPostgresRunStorage(KeepsConnections, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(KeepsConnections, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(KeepsConnections, PostgresScheduleStorage):
    pass
