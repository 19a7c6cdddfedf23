"""The deployment: the Postgres-backed instance against a real PostgreSQL server, the
`make serve` process layout, and the compose file (parsed by Debian's docker-compose)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize

from deploy.serve import LocalPostgres, postgres_binary
from devtools.cputree import processes
from devtools.live import Dev, free_port, init_warehouse
from retail_platform.instance import (
    DEPLOY_YAML,
    INSTANCE_YAML,
    instance_settings,
    write_instance_file,
)
from retail_platform.postgres_storage import POOL_SIZE

ROOT = Path(__file__).resolve().parents[1]
HAS_POSTGRES = postgres_binary("initdb") is not None and postgres_binary("pg_ctl") is not None
needs_postgres = pytest.mark.skipif(
    not HAS_POSTGRES,
    reason="PostgreSQL binaries (initdb, pg_ctl) not installed: apt-get install postgresql (.ci/run does)",
)


def test_deployed_instance_has_the_dev_settings_on_postgres(tmp_path):
    layer = yaml.safe_load(DEPLOY_YAML.read_text())
    storages = {kind: layer.pop(f"{kind}_storage") for kind in ("run", "event_log", "schedule")}
    assert layer == {}  # the pools, run queue, monitoring, retries, retention: set once
    deployed = instance_settings(tmp_path, DEPLOY_YAML)
    dev = yaml.safe_load(INSTANCE_YAML.read_text())
    assert {key: deployed[key] for key in dev} == dev
    assert {kind: s["class"] for kind, s in storages.items()} == {
        "run": "PooledPostgresRunStorage",
        "event_log": "PooledPostgresEventLogStorage",
        "schedule": "PooledPostgresScheduleStorage",
    }
    db = storages["run"]["config"]["postgres_db"]
    assert all(s["config"]["postgres_db"] == db for s in storages.values())
    assert db.pop("scheme") == "postgresql+psycopg2"  # the driver dagster-postgres installs
    assert {field: db[field]["env"] for field in db} == {
        "hostname": "DAGSTER_POSTGRES_HOST",
        "port": "DAGSTER_POSTGRES_PORT",
        "username": "DAGSTER_POSTGRES_USER",
        "password": "DAGSTER_POSTGRES_PASSWORD",
        "db_name": "DAGSTER_POSTGRES_DB",
    }


@pytest.fixture(scope="session")
def postgres() -> LocalPostgres:
    if not HAS_POSTGRES:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
    # Readable by the `postgres` user the server runs as under root.
    root = Path(tempfile.mkdtemp(prefix="retail_pg_"))
    root.chmod(0o755)
    server = LocalPostgres(root / "data", free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_instance(postgres, tmp_path, monkeypatch) -> DagsterInstance:
    """The deployed instance (instance/dagster.yaml + deploy/dagster.yaml) on its own
    database of the server."""
    db = f"dagster_{tmp_path.name.lower().replace('-', '_')}"[:60]
    postgres.create_database(db)
    for name, value in {**postgres.env(), "DAGSTER_POSTGRES_DB": db}.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    write_instance_file(home, DEPLOY_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


@needs_postgres
def test_postgres_instance_runs_checks_pools_and_prunes(postgres_instance, monkeypatch):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    from retail_platform import retention
    from retail_platform_tests.test_healing import check_runs, prune_two_minutes_later, rare, thing

    instance = postgres_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    # The pool limit of instance/dagster.yaml, read from the instance.
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

    ids = [materialize([thing, rare], instance=instance).run_id]
    ids += [materialize([thing], instance=instance).run_id for _ in range(3)]
    positive, rare_ok = AssetCheckKey(thing.key, "positive"), AssetCheckKey(rare.key, "rare_ok")
    assert check_runs(instance, positive) == set(ids)

    # prune_history on Postgres: the same deletes, including the check executions.
    monkeypatch.setattr(retention, "KEEP_NEWEST_RUNS", 1)
    result = prune_two_minutes_later(instance, monkeypatch)
    assert "deleted 3 " in result.skip_message
    assert {r.dagster_run.run_id for r in instance.get_run_records()} == {ids[-1]}
    assert check_runs(instance, positive) == {ids[-1]}
    assert check_runs(instance, rare_ok) == {ids[0]}  # its latest stays


@needs_postgres
def test_postgres_instance_keeps_its_connections(postgres, postgres_instance):
    """Queries reuse the storages' connections (retail_platform/postgres_storage.py):
    dagster-postgres's own classes open one per query, and PostgreSQL forks a backend for
    each (an idle daemon: ~1,000 a minute)."""
    instance = postgres_instance
    db = os.environ["DAGSTER_POSTGRES_DB"]

    def sessions() -> int:
        import psycopg2

        time.sleep(1.2)  # backends report their statistics at most once a second
        with psycopg2.connect(**postgres.connect_args("postgres")) as conn, conn.cursor() as cur:
            cur.execute("select sessions from pg_stat_database where datname = %s", (db,))
            return cur.fetchone()[0]

    before = sessions()
    for _ in range(30):
        instance.get_runs(limit=1)
        instance.get_latest_materialization_event(AssetKey("anything"))
        instance.all_instigator_state()
    opened = sessions() - before
    assert opened <= 3 * POOL_SIZE, f"{opened} sessions for 90 queries: connections not kept"


def gql_status(dev: Dev, run_id: str) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    return dev.gql(query, {"id": run_id})["runOrError"]["status"]


def run_to_the_end(dev: Dev, job: str, timeout: float = 240) -> str:
    """Launch `job` (retried while the location reloads) and wait for its end."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            run_id = dev.launch(job)
            break
        except (RuntimeError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    while (status := gql_status(dev, run_id)) not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, f"{job} still {status}"
        time.sleep(0.5)
    return status


def children(pid: int) -> list[tuple[int, str]]:
    return [(p.pid, p.cmdline) for p in processes().values() if p.ppid == pid]


@needs_postgres
def test_serve_runs_the_flow_heals_a_killed_code_server_and_stops_cleanly(monkeypatch):
    """`make serve`'s layout: its own PostgreSQL, a code server, a daemon, a webserver."""
    import duckdb

    for name in ("DAGSTER_POSTGRES_HOST", "DAGSTER_HOME", "DAGSTER_CODE_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    state = Path(tempfile.mkdtemp(prefix="retail_serve_"))
    state.chmod(0o755)  # PostgreSQL runs as `postgres` under root
    home, warehouse = state / "home", state / "warehouse.duckdb"
    home.mkdir()
    init_warehouse(warehouse)
    dev = Dev(home, warehouse, free_port(), state / "serve.log", serve_state=state / "serve")
    try:
        dev.wait_loaded(timeout=180)
        commands = " ".join(cmd for _, cmd in children(dev.proc.pid))
        for process in ("code-server start", "dagster-daemon run", "dagster-webserver"):
            assert process in commands  # each its own process
        assert run_to_the_end(dev, "generate_job") == "SUCCESS"
        health = dev.gql(
            "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"
        )["instance"]["daemonHealth"]["allDaemonStatuses"]
        assert {d["daemonType"] for d in health if d["healthy"]} >= {"SCHEDULER", "SENSOR"}

        code_server = next(pid for pid, cmd in children(dev.proc.pid) if "code-server" in cmd)
        os.kill(code_server, signal.SIGKILL)
        # serve.py starts it again; the webserver and daemon reconnect by themselves.
        deadline = time.monotonic() + 120
        while not any(
            "code-server" in cmd and pid != code_server for pid, cmd in children(dev.proc.pid)
        ):
            assert time.monotonic() < deadline, "the code server was not restarted"
            time.sleep(0.5)
        assert run_to_the_end(dev, "generate_job") == "SUCCESS"

        services = [pid for pid, _ in children(dev.proc.pid)]
        os.kill(dev.proc.pid, signal.SIGTERM)
        assert dev.proc.wait(timeout=90) == 0
        for pid in services:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text()
            )
        assert not (state / "serve" / "postgres" / "postmaster.pid").exists()
    finally:
        dev.kill()
        LocalPostgres(state / "serve" / "postgres", 0).stop()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        batches = con.execute(  # labels are sim_s<seed>_b<batch>_orders_c<chunk>
            "select count(distinct regexp_extract(load_label, '_b([0-9]+)_', 1)) from raw.raw_orders"
        ).fetchone()[0]
        facts = con.execute("select count(*) from marts.fact_daily_sales").fetchone()[0]
    assert batches == 2 and facts > 0
    shutil.rmtree(state, ignore_errors=True)


def compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(
    compose_cli() is None,
    reason="docker-compose not installed: apt-get install docker-compose (.ci/run does)",
)
def test_compose_file_parses_and_keeps_the_deployment_rules():
    env = {**os.environ, "DAGSTER_POSTGRES_PASSWORD": "from-the-env-only"}
    parsed = subprocess.run(
        [*compose_cli(), "--profile", "platform", "config"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert parsed.returncode == 0, parsed.stderr
    config = yaml.safe_load(parsed.stdout)
    services = config["services"]
    assert set(services) == {"starrocks", "postgres", "code_server", "daemon", "webserver"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert published.startswith("127.0.0.1:"), (name, port)
        for dependency in service.get("depends_on", {}).values():
            assert dependency["condition"] == "service_healthy", name
    # The secret comes from the environment only, never from the file.
    assert "from-the-env-only" not in (ROOT / "docker-compose.yml").read_text()
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "from-the-env-only"
    assert services["daemon"]["environment"]["DAGSTER_POSTGRES_PASSWORD"] == "from-the-env-only"
    # Nothing for the user to set on the one-BE image: replication is the server's default.
    if "STARROCKS_REPLICATION_NUM" not in os.environ:
        assert services["code_server"]["environment"]["STARROCKS_REPLICATION_NUM"] == ""
    assert services["starrocks"]["image"].startswith("starrocks/allin1-ubuntu:3.5.")
    # The Dagster services run what `make serve` runs, from the same workspace file.
    assert services["code_server"]["command"][:3] == ["dagster", "code-server", "start"]
    daemon = services["daemon"]["command"]
    assert daemon[:2] == ["sh", "-c"]
    assert daemon[2].startswith("python -m retail_platform.instance ")  # as make serve does
    assert daemon[2].endswith("&& exec dagster-daemon run -w deploy/workspace.yaml")
    assert services["webserver"]["command"][:3] == [
        "dagster-webserver",
        "-w",
        "deploy/workspace.yaml",
    ]
    assert {"postgres_data", "dagster_storage", "starrocks_fe_meta"} <= set(config["volumes"])
    # `make up` (no profile) still brings up StarRocks alone.
    alone = subprocess.run(
        [*compose_cli(), "config", "--services"], cwd=ROOT, capture_output=True, text=True
    )
    assert alone.returncode == 0, alone.stderr


def test_dockerfile_builds_the_manifest_the_way_it_is_run_here(tmp_path):
    """The image's `dbt parse` line, run here: a StarRocks manifest, no server needed."""
    import json

    dockerfile = (ROOT / "Dockerfile").read_text()
    line = next(li for li in dockerfile.splitlines() if "dbt parse" in li)
    argv = line.removeprefix("RUN ").split() + ["--target-path", str(tmp_path)]
    argv[0] = str(ROOT / argv[0])
    env = {**os.environ, "RETAIL_WAREHOUSE": "starrocks"}
    subprocess.run(argv, cwd=ROOT, env=env, check=True, timeout=300)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "starrocks"
    # The same two environments as `make setup`.
    makefile = (ROOT / "Makefile").read_text()
    for flags in ("--frozen --only-group dbt", "UV_PROJECT_ENVIRONMENT=.venv-dbt"):
        assert flags in makefile and flags in dockerfile


def test_dockerfile_writes_the_deployed_instance_file_the_way_it_is_run_here(tmp_path):
    """The image's instance line, run here: every container gets the shared settings with
    PostgreSQL storage, written with no database up."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY instance ./instance" in dockerfile
    line = next(li for li in dockerfile.splitlines() if "retail_platform.instance" in li)
    argv = line.removeprefix("RUN ").replace("/opt/dagster/home", str(tmp_path / "home")).split()
    argv[0] = str(ROOT / argv[0])
    subprocess.run(argv, cwd=ROOT, check=True, timeout=120)
    written = tmp_path / "home" / "dagster.yaml"
    assert not written.is_symlink()
    assert yaml.safe_load(written.read_text()) == instance_settings(written.parent, DEPLOY_YAML)
