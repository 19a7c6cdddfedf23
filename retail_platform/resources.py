"""Resources of the code location: the warehouse (chosen by RETAIL_WAREHOUSE) and dbt."""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version

from retail_platform.project import DBT_BOUND_EXECUTABLE, dbt_project
from retail_platform.warehouse import warehouse_from_env

__all__ = ["RetailDbtCliResource", "dbt_resource", "warehouse_from_env"]


class RetailDbtCliResource(DbtCliResource):
    """`DbtCliResource` without two start-up costs this project never uses (~6 s a run).

    Before each invocation the stock resource runs `dbt --version` in a subprocess (a
    full dbt import) and builds a dbt adapter in the run process (imports dbt, loads
    the profile, project and macros). The adapter only serves `fetch_column_metadata`
    / `fetch_row_counts`, which these assets do not call; the dbt executable is the
    venv's own, so its version is the installed dbt-core's. Both are private hooks of
    dagster-dbt 0.29 (pinned below 0.30): if they move, runs only get slower again.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001 - same signature as the base
        return None  # dagster-dbt treats a missing adapter as "no metadata queries"


def dbt_resource() -> DbtCliResource:
    # An explicit executable: DbtCliResource otherwise looks for `dbt` on PATH.
    return RetailDbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_BOUND_EXECUTABLE))
