"""Resources of the code location: the warehouse (chosen by RETAIL_WAREHOUSE) and dbt."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from retail_platform.project import dbt_project
from retail_platform.warehouse import warehouse_from_env

__all__ = ["dbt_resource", "warehouse_from_env"]


def dbt_resource() -> DbtCliResource:
    # The venv's own dbt, so runs work without an activated venv (DbtCliResource checks PATH).
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
