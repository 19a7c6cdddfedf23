"""`retail-dbt`: dbt, bound to the life of the process that started it.

Dagster runs dbt as a child of the run worker. If the worker is killed (the OOM killer,
kill -9), nothing stops that child: it would go on building, holding the DuckDB file's
lock, while run monitoring fails the run and the next run starts its own build. Linux
can tie a child's life to its parent's (`PR_SET_PDEATHSIG`, kept across exec): this
entry point asks for that, then hands the command to the warm dbt (dbt_server.py),
whose fork dies with this process, or, with none answering, becomes `dbt`. A killed
build leaves nothing half-written: each model commits in one transaction, and the next
build takes up from the models' own incremental state.

dbt is installed in an environment of its own, `.venv-dbt` (pyproject.toml, group
`dbt`), so that no Dagster process imports it. Every dbt invocation of the project
goes through here (Dagster, `make setup`, tests, benchmarks): the variables dbt's
project reads from the environment are set here, from settings.py (DuckDB's limits)
and warehouse/connection.py (where the warehouse is), and nowhere else.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping

from retail_platform import dbt_server
from retail_platform.settings import (
    DBT_EXECUTABLE,
    DBT_SERVER_IDLE_SECONDS,
    DUCKDB_FULL_BUILD_MEMORY_LIMIT_ENV,
    DUCKDB_MEMORY_LIMIT_ENV,
    DUCKDB_THREADS_ENV,
    DUCKDB_VACUUM_MINUTES_ENV,
    dbt_server_socket,
    duckdb_full_build_memory_limit,
    duckdb_settings,
    duckdb_vacuum_minutes,
)
from retail_platform.warehouse.base import WarehouseError
from retail_platform.warehouse.connection import dbt_env, fields_from, warehouse_kind

PR_SET_PDEATHSIG = 1


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment dbt runs with: the caller's, with the profile's defaults filled in."""
    duckdb = duckdb_settings()
    kind = warehouse_kind(environ)
    return {
        # A test runs when the run builds every model it reads (or their ancestors), as
        # Dagster selects checks: dbt's default (eager) also runs a relationships test
        # when only its referenced side is built, which dagster-dbt can only log as an
        # observation, with a warning. dagster-dbt overrides this where it must (empty).
        "DBT_INDIRECT_SELECTION": "buildable",
        **environ,
        # Where the warehouse is, every variable the profile reads (connection.py).
        **dbt_env(kind, fields_from(kind, environ)),
        DUCKDB_MEMORY_LIMIT_ENV: duckdb["memory_limit"],
        DUCKDB_FULL_BUILD_MEMORY_LIMIT_ENV: duckdb_full_build_memory_limit(),
        DUCKDB_THREADS_ENV: duckdb["threads"],
        DUCKDB_VACUUM_MINUTES_ENV: str(duckdb_vacuum_minutes()),
    }


def main() -> None:
    parent = os.getppid()
    if not DBT_EXECUTABLE.exists():
        sys.exit(f"retail-dbt: no dbt at {DBT_EXECUTABLE}; run `make setup` to install it")
    try:  # one line from the project, not dbt's "does not have a target named" error
        env = child_env(os.environ)
    except (WarehouseError, ValueError) as exc:
        sys.exit(f"retail-dbt: error: {exc}")
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            sys.exit(1)
        # The command runs in the warm dbt (dbt_server.py) when one answers; else here,
        # starting one for the next command. Linux only: the server's child is bound to
        # this process, which PR_SET_PDEATHSIG binds to its parent.
        server = dbt_server_socket(env)
        if server:
            ended = dbt_server.run(server, [str(DBT_EXECUTABLE), *sys.argv[1:]], env)
            if ended:
                sys.exit(ended.code)
            dbt_server.start(server, DBT_EXECUTABLE.parent / "python", env, DBT_SERVER_IDLE_SECONDS)
    os.execve(DBT_EXECUTABLE, [str(DBT_EXECUTABLE), *sys.argv[1:]], env)


if __name__ == "__main__":
    main()
