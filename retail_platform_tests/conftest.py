"""Shared fixtures: every test gets its own warehouse file and Dagster instance."""

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from retail_platform import dbt_server
from retail_platform.settings import DBT_SERVER_ENV
from retail_platform.warehouse.duckdb import DuckDBWarehouse

SESSION_DBT_SERVER = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    # `@dbt_assets` reads the manifest when its module is imported: parse the dbt project
    # once per session, before any test imports the definitions.
    os.environ.setdefault("RETAIL_WAREHOUSE", "duckdb")
    # Steps that fail retry at once: the tests count the retries, not the waits.
    os.environ["RETAIL_RETRY_DELAY_SECONDS"] = "0"
    # Console scripts the tests start come from this venv, activated or not.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    from retail_platform.project import dbt_project, parse_manifest

    if "PYTEST_XDIST_WORKER" not in os.environ:  # once, before pytest-xdist starts workers
        # The session's own warm dbt (retail_platform/dbt_server.py), which the workers
        # inherit: stopped at the end, not left to idle out after the tests.
        if DBT_SERVER_ENV not in os.environ:
            config.stash[SESSION_DBT_SERVER] = Path(tempfile.mkdtemp(prefix="retail-dbt-"))
            os.environ[DBT_SERVER_ENV] = str(config.stash[SESSION_DBT_SERVER] / "dbt.sock")
        parse_manifest(dbt_project)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # After a failure: how each build the session's server ran was killed, if one was
    # (the caller only sees that it ended without an exit code; dbt_server.py).
    folder = session.config.stash.get(SESSION_DBT_SERVER, None)
    log = dbt_server.log_path(folder / "dbt.sock") if folder else None
    logged = log.read_text().strip() if log and log.exists() else ""
    if exitstatus != 0 and logged:
        print(f"\nthe session's dbt server logged:\n{logged}", file=sys.stderr)


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(SESSION_DBT_SERVER, None)
    if folder:
        dbt_server.stop(folder / "dbt.sock")
        shutil.rmtree(folder, ignore_errors=True)


# The files that take longest, longest first (make test's --durations): pytest-xdist
# hands whole files (--dist loadfile) to whichever worker is free, in collection order,
# so starting with these keeps a long file from being the last one left on one worker
# while the other sits idle.
SLOWEST_FILES = (
    "test_healing.py",
    "test_deploy.py",
    "test_incremental.py",
    "test_faults.py",
    "test_marts.py",
    "test_dbt_starrocks_sql.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES)

    items.sort(key=rank)  # stable: tests keep their order within a file


@pytest.fixture
def warehouse_path(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh DuckDB file, also named in the environment so dbt and the definitions use it.

    Fresh for every test, at one path per pytest worker: dbt keeps its parse state per
    profile, and the profile holds the file's path, so at a new path every test's first
    build would parse the whole project again (~1.8 s more, a dozen tests build).
    """
    folder = tmp_path_factory.getbasetemp() / "warehouse"
    shutil.rmtree(folder, ignore_errors=True)  # the last test's file, WAL, published marts
    folder.mkdir()
    path = folder / "warehouse.duckdb"
    monkeypatch.setenv("RETAIL_WAREHOUSE", "duckdb")
    monkeypatch.setenv("RETAIL_DUCKDB_PATH", str(path))
    return path


@pytest.fixture
def dbt_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where dbt run by hand keeps its target/ and logs/: one folder per pytest worker,
    kept between tests, so its parse state carries over (see warehouse_path)."""
    return tmp_path_factory.getbasetemp() / "dbt"


@pytest.fixture
def warehouse(warehouse_path: Path) -> DuckDBWarehouse:
    wh = DuckDBWarehouse(path=str(warehouse_path))
    wh.setup()
    return wh


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live():
    """A live StarRocks from the environment (make up), or a visible skip."""
    from retail_platform.warehouse.starrocks import StarRocksWarehouse

    host = os.environ.get("STARROCKS_HOST", "127.0.0.1")
    port = int(os.environ.get("STARROCKS_PORT", "9030"))
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        pytest.skip(f"no StarRocks reachable at {host}:{port} ({exc}); run `make up`")
    wh = StarRocksWarehouse(
        host=host,
        port=port,
        http_port=int(os.environ.get("STARROCKS_HTTP_PORT", "8030")),
        user=os.environ.get("STARROCKS_USER", "root"),
        password=os.environ.get("STARROCKS_PASSWORD", ""),
    )
    wh.setup()
    return wh
