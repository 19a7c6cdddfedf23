"""Paths and defaults of the platform, one place each. Imports nothing heavy:
`retail-dbt` and `retail-sim` read it before anything else."""

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Git-ignored state of a checkout: the embedded warehouse, its published marts,
# `make check`'s own warehouse and instance.
STATE_DIR = PROJECT_ROOT / ".retail"
DEFAULT_DUCKDB_PATH = STATE_DIR / "warehouse.duckdb"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# dbt lives in an environment of its own (pyproject.toml, group `dbt`): no Dagster
# process imports it.
DBT_EXECUTABLE = PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt"
# The warm dbt that runs each dbt command (dbt_server.py): the path of its socket, or
# "off" for a dbt process per command. Default: one per checkout, in the temp folder
# (a Unix socket's path must stay under ~100 bytes). It exits after this long unused.
DBT_SERVER_ENV = "RETAIL_DBT_SERVER"
DBT_SERVER_IDLE_SECONDS = 600


def dbt_server_socket(environ: Mapping[str, str]) -> Path | None:
    """Where `retail-dbt` finds (or starts) the dbt server; None when it is off."""
    value = environ.get(DBT_SERVER_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    checkout = hashlib.sha256(str(DBT_EXECUTABLE).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"retail-dbt-{os.getuid()}-{checkout}.sock"


# What DuckDB may use, in every process that opens the warehouse (dbt included): left
# alone it takes 80 % of RAM and every core, and a build over a long history would
# crowd out the rest of the platform. The limit is the one of the builds that run all
# month, the incremental ones: with it no process of the platform passes 2 GiB at 10M
# orders. A full build (the first, or --full-refresh) reads the whole history at once
# and may use up to the second limit (a size, or a share of RAM), spilling past it to
# `<file>.tmp/` (dbt_project/macros/memory.sql).
DUCKDB_MEMORY_LIMIT_ENV = "RETAIL_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "1536MB"
DUCKDB_FULL_BUILD_MEMORY_LIMIT_ENV = "RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT"
DEFAULT_DUCKDB_FULL_BUILD_MEMORY_LIMIT = "50%"
DUCKDB_THREADS_ENV = "RETAIL_DUCKDB_THREADS"
DEFAULT_DUCKDB_THREADS = "2"


# How often a dbt build lets DuckDB vacuum (merge the row groups that deletes thinned,
# when it checkpoints): only the first build of each period of this many minutes does
# (dbt_project/macros/vacuum.sql says why); 0 = every build, DuckDB's own default.
DUCKDB_VACUUM_MINUTES_ENV = "RETAIL_DUCKDB_VACUUM_MINUTES"
DEFAULT_DUCKDB_VACUUM_MINUTES = 60


def duckdb_settings() -> dict[str, str]:
    """DuckDB's memory_limit and threads from the environment (defaults above), and no
    insertion order kept (nothing here relies on it: every order is explicit), which
    lets a large insert spill instead of running out of memory (dbt_project/profiles.yml
    sets the same)."""
    return {
        "memory_limit": os.environ.get(DUCKDB_MEMORY_LIMIT_ENV) or DEFAULT_DUCKDB_MEMORY_LIMIT,
        "threads": os.environ.get(DUCKDB_THREADS_ENV) or DEFAULT_DUCKDB_THREADS,
        "preserve_insertion_order": "false",
    }


def duckdb_full_build_memory_limit() -> str:
    """The memory a full dbt build may use (default above), from the environment."""
    return (
        os.environ.get(DUCKDB_FULL_BUILD_MEMORY_LIMIT_ENV) or DEFAULT_DUCKDB_FULL_BUILD_MEMORY_LIMIT
    )


def duckdb_vacuum_minutes() -> int:
    """The vacuum period from the environment (default above), read when needed."""
    value = os.environ.get(DUCKDB_VACUUM_MINUTES_ENV, "").strip()
    if not value:
        return DEFAULT_DUCKDB_VACUUM_MINUTES
    if not value.isdigit():
        raise ValueError(
            f"{DUCKDB_VACUUM_MINUTES_ENV} must be a whole number of minutes, got {value!r}"
        )
    return int(value)


# How long run history, dbt folders and load labels are kept.
RETENTION_ENV = "RETAIL_RETENTION_MINUTES"
DEFAULT_RETENTION_MINUTES = 3 * 24 * 60  # as long as StarRocks keeps load labels


def retention_minutes() -> float:
    """The retention window from the environment, read when needed (never at import)."""
    value = os.environ.get(RETENTION_ENV, "").strip()
    if not value:
        return DEFAULT_RETENTION_MINUTES
    try:
        minutes = float(value)
    except ValueError:
        raise ValueError(f"{RETENTION_ENV} must be a number of minutes, got {value!r}") from None
    if minutes <= 0:
        raise ValueError(f"{RETENTION_ENV} must be positive, got {value!r}")
    return minutes
