"""The warehouse seam: what every asset, the CLI and the tests need from a warehouse.

Two implementations sit behind it (DuckDB file, StarRocks), plain Python: the CLI
uses them without importing Dagster. resources.py makes them Dagster resources
(configured with ``EnvVar``, shown in the UI).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import pyarrow as pa

    from retail_platform.snapshots import Mart


# What the simulator generates, in dependency order (orders need customers, products).
ENTITIES = ("customers", "products", "orders")
RAW_SCHEMA = "raw"
RAW_TABLE = {entity: f"raw_{entity}" for entity in ENTITIES}
RAW_TABLES = tuple(RAW_TABLE.values())
# The simulator's own batch log; loaded exactly like a raw table so its writes are
# idempotent by label too. Not a dbt source.
SIM_BATCHES_TABLE = "sim_batches"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9_]{1,128}$")


class WarehouseError(RuntimeError):
    """A warehouse problem worth one clear line to the user (no traceback, no secrets)."""


def check_identifier(name: str) -> str:
    """Identifiers come from code or config and are interpolated into SQL: validate them."""
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"invalid SQL identifier {name!r}")
    return name


def check_label(label: str) -> str:
    """StarRocks label rules (charset, <= 128 chars) hold on every backend."""
    if not _LABEL.match(label):
        raise WarehouseError(f"invalid load label {label!r}: use [A-Za-z0-9_], at most 128 chars")
    return label


@dataclass(frozen=True)
class LoadResult:
    table: str
    label: str
    # True when every part of the batch had been loaded before: nothing changed.
    already_loaded: bool
    rows_loaded: int
    rows_filtered: int = 0
    bytes: int = 0
    seconds: float = 0.0
    # Labels of the requests the batch was split into (one for DuckDB).
    part_labels: tuple[str, ...] = field(default_factory=tuple)

    def as_metadata(self) -> dict[str, object]:
        return {
            "label": self.label,
            "rows": self.rows_loaded,
            "rows_filtered": self.rows_filtered,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "already_loaded": self.already_loaded,
            "requests": len(self.part_labels) or 1,
        }


@dataclass(frozen=True)
class TableState:
    row_count: int
    last_loaded_at: datetime | None

    @property
    def data_version(self) -> str:
        # Raw tables are append-only, so the row count moves exactly when rows arrive;
        # the last load time makes the version readable in the UI.
        stamp = self.last_loaded_at.isoformat() if self.last_loaded_at else "never"
        return f"{self.row_count}@{stamp}"


class Warehouse(ABC):
    """Load labeled batches into raw tables, observe them, run queries, point dbt at it."""

    # Whether `publish_marts` copies the marts for readers (an embedded file does).
    publishes_marts: ClassVar[bool] = False

    @property
    @abstractmethod
    def name(self) -> str:
        """`duckdb` or `starrocks`: also the dbt target name."""

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is (file path or host:port), safe to print: no secrets."""

    def session(self) -> AbstractContextManager[None]:
        """A scope whose operations may share one connection (the default: none shared)."""
        return nullcontext()

    @abstractmethod
    def setup(self) -> None:
        """Create the raw/staging/intermediate/marts schemas and the raw tables; idempotent."""

    @abstractmethod
    def load_batch(
        self,
        table: str,
        label: str,
        payloads: Sequence[bytes] | pa.Array,
        loaded_at: datetime | None = None,
    ) -> LoadResult:
        """Append one batch of JSON payloads (one JSON value per row) under `label`.

        ``payloads`` is a sequence of bytes or an Arrow string/binary array.

        Loading a label that is already loaded changes nothing and says so
        (``already_loaded=True``), as StarRocks Stream Load does.
        """

    @abstractmethod
    def observe(self, table: str, lock_timeout_seconds: float | None = None) -> TableState:
        """Row count and last load time of a raw table.

        ``lock_timeout_seconds`` bounds the wait for a single-writer file held by
        another process (DuckDB), for callers that would rather look again later.
        """

    def change_token(self) -> str | None:
        """A token, cheap to read, that changes whenever any writer may have committed to
        the warehouse, so a frequent look can skip `observe` while it stays the same; None
        when there is no cheap way (look every time)."""
        return None

    @abstractmethod
    def unparsable_payloads(self, table: str, recent_minutes: int = 10) -> tuple[int, int]:
        """(rows, rows whose payload is not a JSON object) among the rows of a raw table
        loaded in the `recent_minutes` before its newest load: a broken writer shows at
        once, and the check costs the same on the first day and the hundredth."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run a read query with bound parameters; return all rows."""

    @abstractmethod
    def read_marts(self, sql: str) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a read query over the marts, without disturbing the
        platform's writers (`retail-sim query`)."""

    def publish_marts(self, marts: Sequence[Mart]) -> None:
        """Publish these marts for readers that must not touch the warehouse (snapshots.py).
        A server (StarRocks) needs no copy: readers query it."""
        return None

    def dbt_env(self) -> dict[str, str]:
        """Environment variables dbt's profile reads to reach this same warehouse."""
        # Imported here: connection.py imports this module's WarehouseError.
        from retail_platform.warehouse.connection import SETTINGS, dbt_env

        return dbt_env(self.name, {name: getattr(self, name) for name in SETTINGS[self.name]})
