"""The warehouse behind every asset, the CLI and dbt: DuckDB file (default) or StarRocks.

Plain Python, no Dagster: resources.py wraps the same choice as a Dagster resource.
Where each warehouse is, and which variable says so, is defined once, in connection.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from retail_platform.warehouse.base import Warehouse, WarehouseError
from retail_platform.warehouse.connection import fields_from, warehouse_kind

__all__ = ["Warehouse", "WarehouseError", "make_warehouse", "warehouse_from_env", "warehouse_kind"]


def make_warehouse(kind: str, fields: Mapping[str, object]) -> Warehouse:
    """The warehouse of `kind` with these fields (the rest keep their defaults)."""
    if kind == "duckdb":
        from retail_platform.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(**fields)
    from retail_platform.warehouse.starrocks import StarRocksWarehouse

    return StarRocksWarehouse(**fields)


def warehouse_from_env(environ: Mapping[str, str] = os.environ) -> Warehouse:
    """The warehouse named by RETAIL_WAREHOUSE, configured from the environment."""
    kind = warehouse_kind(environ)
    return make_warehouse(kind, fields_from(kind, environ))
