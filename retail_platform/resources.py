"""Resources of the code location: the warehouse (chosen by RETAIL_WAREHOUSE) and dbt.

The warehouse classes are plain Python (warehouse/), so the CLI runs without Dagster;
here they become configurable resources: the fields set from the environment are
`EnvVar`s (resolved per run, the password hidden in the UI), and assets receive the
plain warehouse object (`ResourceParam[Warehouse]`).
"""

from __future__ import annotations

import os
from functools import cached_property

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import Field

from retail_platform.project import DBT_BOUND_EXECUTABLE, dbt_project
from retail_platform.settings import DBT_EXECUTABLE, DEFAULT_DUCKDB_PATH
from retail_platform.warehouse import DUCKDB_ENV, STARROCKS_ENV, warehouse_kind
from retail_platform.warehouse.base import Warehouse
from retail_platform.warehouse.duckdb import DuckDBWarehouse


class DuckDBResource(ConfigurableResource):
    """The embedded warehouse: one DuckDB file."""

    path: str = Field(description="DuckDB database file (created on first use).")

    def create_resource(self, context: InitResourceContext) -> Warehouse:
        # Its module (pyarrow) is imported with the definitions, at the top of this one:
        # every run of the location opens the warehouse, and a run's resources are
        # made after its RUN_START, where the import cost 0.2 s in the soak (measured).
        return DuckDBWarehouse(path=self.path)


class StarRocksResource(ConfigurableResource):
    """StarRocks 3.x: FE MySQL port for SQL, Stream Load over HTTP."""

    # Unset fields keep StarRocksWarehouse's defaults (127.0.0.1:9030, HTTP 8030, root).
    host: str | None = None
    port: int | None = None
    http_port: int | None = None
    user: str | None = None
    password: str | None = Field(
        default=None, description="Give it with EnvVar('STARROCKS_PASSWORD')."
    )
    be_host_override: str | None = Field(
        default=None, description="Reach the BE here instead of the address the FE advertises."
    )
    be_port_override: int | None = None
    replication_num: int | None = Field(
        default=None, description="Replicas of each table; unset keeps the server's default."
    )

    def create_resource(self, context: InitResourceContext) -> Warehouse:
        from retail_platform.warehouse.starrocks import StarRocksWarehouse

        fields = {name: getattr(self, name) for name in STARROCKS_ENV}
        return StarRocksWarehouse(**{k: v for k, v in fields.items() if v is not None})


def warehouse_resource() -> DuckDBResource | StarRocksResource:
    """The warehouse named by RETAIL_WAREHOUSE, its set variables as `EnvVar`s."""

    def env_vars(mapping: dict) -> dict:
        return {
            name: EnvVar.int(var) if convert is int else EnvVar(var)
            for name, (var, convert) in mapping.items()
            if os.environ.get(var)
        }

    if warehouse_kind() == "duckdb":
        return DuckDBResource(**{"path": str(DEFAULT_DUCKDB_PATH), **env_vars(DUCKDB_ENV)})
    return StarRocksResource(**env_vars(STARROCKS_ENV))


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
