"""The warehouse behind every asset, the CLI and dbt: DuckDB file (default) or StarRocks.

Plain Python, no Dagster: resources.py wraps the same choice as a Dagster resource.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from retail_platform.settings import DEFAULT_DUCKDB_PATH
from retail_platform.warehouse.base import Warehouse, WarehouseError

WAREHOUSES = ("duckdb", "starrocks")
# Which environment variable sets which field of each warehouse (and its type).
DUCKDB_ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "path": ("RETAIL_DUCKDB_PATH", str),
}
STARROCKS_ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "host": ("STARROCKS_HOST", str),
    "port": ("STARROCKS_PORT", int),
    "http_port": ("STARROCKS_HTTP_PORT", int),
    "user": ("STARROCKS_USER", str),
    "password": ("STARROCKS_PASSWORD", str),
    "be_host_override": ("STARROCKS_BE_HOST", str),
    "be_port_override": ("STARROCKS_BE_PORT", int),
    "replication_num": ("STARROCKS_REPLICATION_NUM", int),
}


def warehouse_kind() -> str:
    """RETAIL_WAREHOUSE: `duckdb` (the default) or `starrocks`."""
    kind = os.environ.get("RETAIL_WAREHOUSE", "duckdb").strip().lower() or "duckdb"
    if kind not in WAREHOUSES:
        raise WarehouseError(
            f"RETAIL_WAREHOUSE must be one of {', '.join(WAREHOUSES)}, got {kind!r}"
        )
    return kind


def env_fields(mapping: dict[str, tuple[str, Callable[[str], object]]]) -> dict[str, object]:
    """The fields whose environment variable is set, converted."""
    fields = {}
    for name, (var, convert) in mapping.items():
        value = os.environ.get(var)
        if value:
            try:
                fields[name] = convert(value)
            except ValueError:
                raise WarehouseError(f"{var} must be a whole number, got {value!r}") from None
    return fields


def warehouse_from_env() -> Warehouse:
    """The warehouse named by RETAIL_WAREHOUSE, configured from the environment."""
    if warehouse_kind() == "duckdb":
        from retail_platform.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(**{"path": str(DEFAULT_DUCKDB_PATH), **env_fields(DUCKDB_ENV)})
    from retail_platform.warehouse.starrocks import StarRocksWarehouse

    return StarRocksWarehouse(**env_fields(STARROCKS_ENV))
