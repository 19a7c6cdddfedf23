"""The warehouse behind every asset, the CLI and dbt: DuckDB file (default) or StarRocks."""

from __future__ import annotations

import os

from dagster import EnvVar

from retail_platform.settings import DEFAULT_DUCKDB_PATH
from retail_platform.warehouse.base import Warehouse, WarehouseError
from retail_platform.warehouse.duckdb import DuckDBWarehouse

WAREHOUSES = ("duckdb", "starrocks")


def _env_or(name: str, default: str) -> str:
    """An `EnvVar` when the variable is set (resolved per run, hidden in the UI), else the default."""
    return EnvVar(name) if os.environ.get(name) else default


def warehouse_from_env() -> Warehouse:
    """The warehouse named by RETAIL_WAREHOUSE (`duckdb`, the default, or `starrocks`)."""
    kind = os.environ.get("RETAIL_WAREHOUSE", "duckdb").strip().lower() or "duckdb"
    if kind == "duckdb":
        from retail_platform.retention import retention_window

        return DuckDBWarehouse(
            path=_env_or("RETAIL_DUCKDB_PATH", str(DEFAULT_DUCKDB_PATH)),
            # The ledger forgets labels with the rest of the history (retention.py).
            label_retention_seconds=retention_window().total_seconds(),
        )
    if kind == "starrocks":
        from retail_platform.warehouse.starrocks import StarRocksWarehouse

        overrides = {
            field: EnvVar.int(var)
            if field.endswith(("port", "port_override", "_num"))
            else EnvVar(var)
            for field, var in (
                ("host", "STARROCKS_HOST"),
                ("port", "STARROCKS_PORT"),
                ("http_port", "STARROCKS_HTTP_PORT"),
                ("user", "STARROCKS_USER"),
                ("password", "STARROCKS_PASSWORD"),
                ("be_host_override", "STARROCKS_BE_HOST"),
                ("be_port_override", "STARROCKS_BE_PORT"),
                ("replication_num", "STARROCKS_REPLICATION_NUM"),
            )
            if os.environ.get(var)
        }
        return StarRocksWarehouse(**overrides)
    raise WarehouseError(f"RETAIL_WAREHOUSE must be one of {', '.join(WAREHOUSES)}, got {kind!r}")
