"""Where each warehouse is: the one definition of its connection settings.

Every setting has one environment variable and one default, here. Everything else is
derived from this table: the warehouse objects' defaults (duckdb.py, starrocks.py), the
Dagster resources' config fields (resources.py), what `retail-sim` reads
(`warehouse_from_env`), and the variables dbt's profile reads, which `retail-dbt`
exports for every dbt invocation (dbt_child.py, `dbt_env`), so profiles.yml names them
without defaults of its own.

Imports nothing heavy: `retail-dbt` reads it before it becomes dbt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from retail_platform.settings import DEFAULT_DUCKDB_PATH
from retail_platform.warehouse.base import WarehouseError

WAREHOUSES = ("duckdb", "starrocks")
KIND_ENV = "RETAIL_WAREHOUSE"


def _resolved_path(value: object) -> str:
    # dbt runs from another directory than the one a relative path was given in.
    return str(Path(str(value)).expanduser().resolve())


@dataclass(frozen=True)
class Setting:
    """One connection setting of a warehouse."""

    var: str  # the environment variable that sets it
    type: type = str
    default: object = None  # None: unset (the warehouse's or the server's own behaviour)
    description: str = ""
    # Whether dbt needs it (dbt_project/profiles.yml, dbt_project.yml), and as what text.
    for_dbt: bool = True
    as_text: Callable[[object], str] = str

    def parse(self, text: str) -> object:
        try:
            return self.type(text)
        except ValueError:
            raise WarehouseError(f"{self.var} must be a whole number, got {text!r}") from None


SETTINGS: dict[str, dict[str, Setting]] = {
    "duckdb": {
        "path": Setting(
            "RETAIL_DUCKDB_PATH",
            default=str(DEFAULT_DUCKDB_PATH),
            description="DuckDB database file (created on first use).",
            as_text=_resolved_path,
        ),
    },
    "starrocks": {
        "host": Setting("STARROCKS_HOST", default="127.0.0.1", description="FE host."),
        "port": Setting("STARROCKS_PORT", int, 9030, "FE MySQL port."),
        "http_port": Setting(
            "STARROCKS_HTTP_PORT", int, 8030, "FE HTTP port (Stream Load).", for_dbt=False
        ),
        "user": Setting("STARROCKS_USER", default="root"),
        "password": Setting(
            "STARROCKS_PASSWORD", default="", description="Given as EnvVar: hidden in the UI."
        ),
        "be_host_override": Setting(
            "STARROCKS_BE_HOST",
            description="Reach the BE here instead of the address the FE advertises.",
            for_dbt=False,
        ),
        "be_port_override": Setting("STARROCKS_BE_PORT", int, for_dbt=False),
        "replication_num": Setting(
            "STARROCKS_REPLICATION_NUM",
            int,
            description="Replicas of each table, raw and dbt's; unset keeps the server's default.",
        ),
    },
}


def default(kind: str, name: str) -> object:
    """A setting's default, for the warehouse classes' own fields."""
    return SETTINGS[kind][name].default


def warehouse_kind(environ: Mapping[str, str] = os.environ) -> str:
    """RETAIL_WAREHOUSE: `duckdb` (the default) or `starrocks`."""
    kind = environ.get(KIND_ENV, "duckdb").strip().lower() or "duckdb"
    if kind not in WAREHOUSES:
        raise WarehouseError(f"{KIND_ENV} must be one of {', '.join(WAREHOUSES)}, got {kind!r}")
    return kind


def set_in(kind: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The settings of `kind` whose variable is set: field name -> variable."""
    return {name: s.var for name, s in SETTINGS[kind].items() if environ.get(s.var)}


def fields_from(kind: str, environ: Mapping[str, str] = os.environ) -> dict[str, object]:
    """Every setting of `kind` with a value: from its variable, else its default."""
    fields = {}
    for name, setting in SETTINGS[kind].items():
        text = environ.get(setting.var)
        value = setting.parse(text) if text else setting.default
        if value is not None:
            fields[name] = value
    return fields


def dbt_env(kind: str, fields: Mapping[str, object]) -> dict[str, str]:
    """The variables dbt's profile reads to reach the warehouse these fields describe."""
    env = {KIND_ENV: kind}
    for name, setting in SETTINGS[kind].items():
        value = fields.get(name)
        if setting.for_dbt and value is not None:
            env[setting.var] = setting.as_text(value)
    return env
