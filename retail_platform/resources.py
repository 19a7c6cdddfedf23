"""Resources of the code location: the warehouse (chosen by RETAIL_WAREHOUSE) and dbt."""

from __future__ import annotations

from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging import version

from retail_platform.project import DBT_BOUND_EXECUTABLE, dbt_project
from retail_platform.settings import DBT_EXECUTABLE
from retail_platform.warehouse import warehouse_from_env

__all__ = ["RetailDbtCliResource", "dbt_resource", "warehouse_from_env"]


class RetailDbtCliResource(DbtCliResource):
    """`DbtCliResource` without two start-up steps that do not fit this project.

    Before each invocation the stock resource runs `dbt --version` in a subprocess (a
    full dbt import, ~2 CPU-s a run) and builds a dbt adapter in the run process. The
    adapter only serves `fetch_column_metadata` / `fetch_row_counts`, which these
    assets do not call, and needs dbt-core in the run's own environment, which is kept
    without it (pyproject.toml, group `dbt`): the stock resource would log a warning
    with a traceback on every build. The version is read from .venv-dbt's metadata.
    Both are private hooks of dagster-dbt 0.29 (pinned below 0.30).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version())

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001 - same signature as the base
        return None  # dagster-dbt treats a missing adapter as "no metadata queries"


def dbt_core_version() -> str:
    """dbt-core's version in .venv-dbt, from its installed metadata (no import of dbt)."""
    site = DBT_EXECUTABLE.parent.parent / "lib"
    found = sorted(site.glob("python3*/site-packages/dbt_core-*.dist-info"))
    if not found:
        raise FileNotFoundError(f"no dbt-core under {site}: run `make setup` to install it")
    return found[-1].name.removeprefix("dbt_core-").removesuffix(".dist-info")


def dbt_resource() -> DbtCliResource:
    # An explicit executable: DbtCliResource otherwise looks for `dbt` on PATH.
    return RetailDbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_BOUND_EXECUTABLE))
