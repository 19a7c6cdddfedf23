"""StarRocks behind the warehouse seam: SQL over the MySQL protocol, loads via Stream Load."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pymysql

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
from retail_platform.warehouse.connection import default
from retail_platform.warehouse.stream_load import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ROWS,
    StreamLoadClient,
)

DATABASES = (RAW_SCHEMA, "staging", "intermediate", "marts")
_ACCESS_DENIED = 1045


def raw_table_ddl(table: str, buckets: int, replication_num: int | None) -> str:
    """Append-only landing table: Duplicate Key keeps every row, JSON keeps the payload as sent.

    `replication_num` None leaves the server's default (FE `default_replication_num`).
    """
    check_identifier(table)
    properties = (
        f'\nPROPERTIES ("replication_num" = "{int(replication_num)}")' if replication_num else ""
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{table} (\n"
        "    load_label varchar(128) NOT NULL,\n"
        "    loaded_at datetime NOT NULL,\n"
        "    payload json NULL\n"
        ")\n"
        "DUPLICATE KEY(load_label, loaded_at)\n"
        f"DISTRIBUTED BY HASH(load_label) BUCKETS {int(buckets)}"
        f"{properties}"
    )


@dataclass
class StarRocksWarehouse(Warehouse):
    """StarRocks 3.x: FE MySQL port for queries and DDL, FE/BE HTTP ports for Stream Load."""

    # Where it is: the defaults (and what each means) are connection.py's.
    host: str = default("starrocks", "host")
    port: int = default("starrocks", "port")
    http_port: int = default("starrocks", "http_port")
    user: str = default("starrocks", "user")
    # repr=False keeps it out of reprs and logs (the resource takes it from an EnvVar).
    password: str = field(default=default("starrocks", "password"), repr=False)
    be_host_override: str | None = None
    be_port_override: int | None = None
    # None keeps the server's default (1 on the all-in-one image); set it below 3 on a
    # cluster of 1-2 BEs.
    replication_num: int | None = None
    buckets: int = 1  # set explicitly: the all-in-one image defaults to 48
    connect_timeout_seconds: float = 10.0
    load_timeout_seconds: int = 600
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS
    max_attempts: int = 4
    retry_backoff_seconds: float = 1.0

    @property
    def name(self) -> str:
        return "starrocks"

    def describe(self) -> str:
        return f"StarRocks at {self.host}:{self.port}"

    def setup(self) -> None:
        with self._cursor() as cur:
            for db in DATABASES:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {check_identifier(db)}")
            for table in (*RAW_TABLES, SIM_BATCHES_TABLE):
                cur.execute(raw_table_ddl(table, self.buckets, self.replication_num))

    def load_batch(
        self,
        table: str,
        label: str,
        payloads: Sequence[bytes] | pa.Array,
        loaded_at: datetime | None = None,
    ) -> LoadResult:
        if isinstance(payloads, pa.Array):  # the simulator hands over Arrow strings
            payloads = payloads.cast(pa.binary()).to_pylist()
        return self.stream_loader().load(
            RAW_SCHEMA, check_identifier(table), check_label(label), payloads, loaded_at
        )

    def observe(self, table: str, lock_timeout_seconds: float | None = None) -> TableState:
        rows = self.query(
            f"SELECT count(*), max(loaded_at) FROM {RAW_SCHEMA}.{check_identifier(table)}"
        )
        count, last = rows[0]
        # DATETIME comes back naive; we only ever write UTC into it.
        return TableState(int(count), last.replace(tzinfo=UTC) if last else None)

    def unparsable_payloads(self, table: str, recent_minutes: int = 10) -> tuple[int, int]:
        # json_keys() is NULL for anything but an object (e.g. the JSON string a
        # malformed source payload is kept as).
        table = check_identifier(table)
        ((rows, bad),) = self.query(
            f"SELECT count(*), sum(CASE WHEN json_keys(payload) IS NULL THEN 1 ELSE 0 END) "
            f"FROM {RAW_SCHEMA}.{table} WHERE loaded_at >= "
            f"(SELECT date_sub(max(loaded_at), INTERVAL %s MINUTE) FROM {RAW_SCHEMA}.{table})",
            [int(recent_minutes)],
        )
        return int(rows or 0), int(bad or 0)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._cursor() as cur:
            # None, not (): pymysql would %-format a query given an empty tuple.
            cur.execute(sql, tuple(params) or None)
            return list(cur.fetchall())

    def read_marts(self, sql: str) -> tuple[list[str], list[tuple]]:
        # A server: readers and writers do not block each other.
        with self._cursor() as cur:
            cur.execute(sql)
            return [d[0] for d in cur.description or ()], list(cur.fetchall())

    def stream_loader(self) -> StreamLoadClient:
        return StreamLoadClient(
            self.host,
            self.http_port,
            self.user,
            self.password,
            be_host_override=self.be_host_override,
            be_port_override=self.be_port_override,
            max_request_bytes=self.max_request_bytes,
            max_request_rows=self.max_request_rows,
            max_attempts=self.max_attempts,
            backoff_seconds=self.retry_backoff_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            load_timeout_seconds=self.load_timeout_seconds,
        )

    @contextmanager
    def _cursor(self) -> Iterator[pymysql.cursors.Cursor]:
        where = f"{self.host}:{self.port}"
        try:
            conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                connect_timeout=self.connect_timeout_seconds,
                autocommit=True,
                charset="utf8mb4",
            )
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] == _ACCESS_DENIED:
                raise WarehouseError(
                    f"StarRocks authentication failed for user {self.user!r} at {where}"
                ) from None
            raise WarehouseError(
                f"cannot connect to StarRocks at {where}: {self._scrub(exc)}"
            ) from None
        try:
            with conn.cursor() as cur:
                yield cur
        except pymysql.MySQLError as exc:
            raise WarehouseError(f"StarRocks at {where}: {self._scrub(exc)}") from None
        finally:
            conn.close()

    def _scrub(self, exc: Exception) -> str:
        text = str(exc.args[-1]) if exc.args else str(exc)
        return text.replace(self.password, "***") if self.password else text
