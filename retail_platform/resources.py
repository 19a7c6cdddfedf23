"""Resources of the code location: the warehouse (chosen by RETAIL_WAREHOUSE) and dbt.

The warehouse classes are plain Python (warehouse/), so the CLI runs without Dagster;
here they become configurable resources: the fields set from the environment are
`EnvVar`s (resolved per run, the password hidden in the UI), and assets receive the
plain warehouse object (`ResourceParam[Warehouse]`).
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import Field, create_model

from retail_platform.project import DBT_BOUND_EXECUTABLE, dbt_project
from retail_platform.settings import DBT_EXECUTABLE
from retail_platform.warehouse import make_warehouse, warehouse_kind
from retail_platform.warehouse.base import Warehouse
from retail_platform.warehouse.connection import SETTINGS, set_in

# Imported with the definitions, not when a run makes its resources (after its
# RUN_START): every run of the location opens the warehouse, and the module imports pyarrow.
from retail_platform.warehouse.duckdb import DuckDBWarehouse  # noqa: F401


class _WarehouseResource(ConfigurableResource):
    """A warehouse as a resource: its settings (warehouse/connection.py) as config fields."""

    kind: ClassVar[str]

    def create_resource(self, context: InitResourceContext) -> Warehouse:
        # Unset fields keep the warehouse's defaults (connection.py's).
        fields = {name: getattr(self, name) for name in SETTINGS[self.kind]}
        return make_warehouse(self.kind, {k: v for k, v in fields.items() if v is not None})


def _resource_class(name: str, kind: str, doc: str) -> type[_WarehouseResource]:
    """The resource class of a warehouse: one optional config field per setting."""
    fields = {
        field: (s.type | None, Field(default=None, description=s.description or None))
        for field, s in SETTINGS[kind].items()
    }
    model = create_model(name, __base__=_WarehouseResource, __doc__=doc, **fields)
    model.kind = kind
    return model


DuckDBResource = _resource_class(
    "DuckDBResource", "duckdb", "The embedded warehouse: one DuckDB file."
)
StarRocksResource = _resource_class(
    "StarRocksResource", "starrocks", "StarRocks 3.x: FE MySQL port for SQL, Stream Load over HTTP."
)


def warehouse_resource() -> _WarehouseResource:
    """The warehouse named by RETAIL_WAREHOUSE: its set variables as `EnvVar`s (resolved
    per run; the password never in the definitions), the others' defaults as values."""
    kind = warehouse_kind()
    config = {
        name: setting.default
        for name, setting in SETTINGS[kind].items()
        if setting.default is not None
    }
    for name, var in set_in(kind).items():
        config[name] = EnvVar.int(var) if SETTINGS[kind][name].type is int else EnvVar(var)
    return {"duckdb": DuckDBResource, "starrocks": StarRocksResource}[kind](**config)


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
