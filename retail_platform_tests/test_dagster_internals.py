"""What retail_platform/dagster_internals.py, sqlite_storage.py and postgres_storage.py rely on in Dagster
beyond its public API, checked against the installed Dagster. Each test fails, naming the
upstream issue or Dagster source file, when an upgrade changes that behaviour: then the
piece is either no longer needed or must follow Dagster."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)

from retail_platform import dagster_internals as internals
from retail_platform import sqlite_storage
from retail_platform.instance import prepare_home

SCHEMA = "dagster/_core/storage/event_log/schema.py"
SQLITE = "dagster/_core/storage/event_log/sqlite/sqlite_event_log.py (SqliteEventLogStorage)"
CONSUMER = "dagster/_daemon/auto_run_reexecution/event_log_consumer.py"


@asset(check_specs=[AssetCheckSpec("ok", asset="checked")])
def checked() -> MaterializeResult:
    return MaterializeResult(check_results=[AssetCheckResult(passed=True)])


CHECK = AssetCheckKey(checked.key, "ok")


@pytest.fixture
def instance(tmp_path):
    """The SQLite instance `make dev` runs on (run-sharded event storage, sqlite_storage.py)."""
    with DagsterInstance.from_config(str(prepare_home(tmp_path / "home"))) as instance:
        yield instance


def check_runs(instance: DagsterInstance) -> set[str]:
    history = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=100)
    return {record.run_id for record in history}


def test_delete_run_leaves_check_executions_that_forget_check_executions_deletes(instance):
    first, second = (materialize([checked], instance=instance).run_id for _ in range(2))
    instance.delete_run(first)
    assert first in check_runs(instance), (
        "DagsterInstance.delete_run now deletes a run's asset check executions itself "
        "(dagster-io/dagster#18341): dagster_internals.forget_check_executions is no "
        "longer needed; remove it"
    )
    try:
        internals.forget_check_executions(instance, [first])
    except Exception as exc:  # noqa: BLE001 - any schema change lands here
        pytest.fail(
            f"the event log's asset_check_executions table (columns id, run_id, asset_key, "
            f"check_name; {SCHEMA}) changed, so forget_check_executions fails: {exc!r}"
        )
    assert check_runs(instance) == {second}, (
        f"forget_check_executions left the executions of deleted run {first}: the "
        f"asset_check_executions table no longer holds them by run_id ({SCHEMA})"
    )
    instance.delete_run(second)
    internals.forget_check_executions(instance, [second])
    assert check_runs(instance) == {second}, "each check's latest execution must stay"


def test_sqlite_keeps_a_file_per_run_that_delete_run_leaves(instance):
    run_id = materialize([checked], instance=instance).run_id
    storage = instance.event_log_storage
    assert storage.is_run_sharded, f"SQLite event storage is no longer run-sharded ({SQLITE})"
    try:
        path = Path(storage.path_for_shard(run_id))
    except AttributeError as exc:
        pytest.fail(f"{SQLITE} no longer names a run's file with path_for_shard: {exc!r}")
    assert path.exists(), (
        f"no per-run file at {path}: SQLite event storage moved or dropped them ({SQLITE}); "
        "dagster_internals.delete_run_file must follow (no upstream issue covers this file)"
    )
    instance.delete_run(run_id)
    assert path.exists(), (
        f"delete_run now removes the run's file itself ({SQLITE}): "
        "dagster_internals.delete_run_file is no longer needed; remove it"
    )
    internals.delete_run_file(instance, run_id)
    assert not path.exists()


def test_the_run_retry_daemon_reads_the_seeded_cursors_without_a_warning(instance, caplog):
    """The daemon's own cursor reading (the warning it logs for a missing cursor dates from
    dagster-io/dagster PR #11681; no upstream issue asks for a quiet first start)."""
    try:
        from dagster._daemon.auto_run_reexecution import event_log_consumer as consumer

        read_cursors = consumer._fetch_persisted_cursors
        event_types = consumer.DAGSTER_EVENT_TYPES
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"the run-retry consumer's cursor reading moved ({CONSUMER}): {exc!r}")
    internals.seed_run_retry_cursors(instance)
    logger = logging.getLogger("retail_platform_tests.run_retry_daemon")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        cursors = read_cursors(instance, event_types, logger)
    warnings = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert warnings == [] and cursors == dict.fromkeys(event_types, 0), (
        f"the run-retry daemon no longer reads the cursors seed_run_retry_cursors writes "
        f"({sorted(internals.RUN_RETRY_CURSOR_KEYS)}): its key names or event types changed "
        f"in {CONSUMER}; it logged {warnings} and read {cursors}"
    )


def test_the_pooled_postgres_storages_replace_dagster_postgres_engine():
    """No server needed: the engine is made, not connected, without table creation."""
    import sqlalchemy as sa

    from retail_platform import postgres_storage

    url = "postgresql+psycopg2://nobody@127.0.0.1:1/nothing"
    for cls in (
        postgres_storage.PooledPostgresRunStorage,
        postgres_storage.PooledPostgresEventLogStorage,
        postgres_storage.PooledPostgresScheduleStorage,
    ):
        try:
            storage = cls(postgres_url=url, should_autocreate_tables=False)
            pool = storage._engine.pool
        except (AttributeError, TypeError) as exc:
            pytest.fail(
                f"{cls.__name__}: dagster-postgres's storages no longer keep `_engine` / "
                f"`_token_provider` as postgres_storage.py expects (dagster-io/dagster#33935 "
                f"asks for a configurable pool; use it if it landed): {exc!r}"
            )
        assert isinstance(pool, sa.pool.QueuePool), (cls.__name__, type(pool))
        assert pool.size() == postgres_storage.POOL_SIZE, cls.__name__


def sqlite_files_open() -> list[str]:
    fds = Path("/proc/self/fd")
    names = []
    for fd in fds.iterdir():
        try:
            names.append(str(fd.readlink()))
        except OSError:  # closed meanwhile
            pass
    return [name for name in names if ".db" in name]


def test_the_sqlite_storages_keep_their_connections(instance, monkeypatch):
    """A run's events, the asset records and the runs read as a run worker and the daemon
    read them: a handful of connections opened, not one per query as Dagster's own
    classes open them (retail_platform/sqlite_storage.py)."""
    from sqlite3 import dbapi2  # what SQLAlchemy's pysqlite dialect connects with

    opened = []
    connect = dbapi2.connect
    monkeypatch.setattr(dbapi2, "connect", lambda *a, **k: opened.append(a[0]) or connect(*a, **k))
    for _ in range(3):
        materialize([checked], instance=instance)
        instance.get_runs(limit=5)
        instance.get_asset_records([checked.key])
        instance.get_latest_materialization_event(checked.key)
    # Per run: its own file, and the index and run files' pools (3 connections at most).
    assert 0 < len(opened) <= 3 * 2 + 2 * sqlite_storage.POOL_SIZE, (
        f"{len(opened)} SQLite connections opened: the storages no longer keep them "
        f"(SqliteEventLogStorage._connect / SqliteRunStorage.connect / "
        f"SqliteScheduleStorage.connect in Dagster changed?): {sorted(set(opened))}"
    )


def test_an_instance_made_again_opens_and_checks_nothing_again(instance, monkeypatch):
    """As the code server makes one at every sensor tick: the files' engines are this
    process's, and their schemas were checked by the first instance on them."""
    from sqlite3 import dbapi2

    from alembic.script import ScriptDirectory

    materialize([checked], instance=instance)
    opened, checks = [], []
    connect, from_config = dbapi2.connect, ScriptDirectory.from_config
    monkeypatch.setattr(dbapi2, "connect", lambda *a, **k: opened.append(a[0]) or connect(*a, **k))
    monkeypatch.setattr(
        ScriptDirectory, "from_config", lambda *a, **k: checks.append(a) or from_config(*a, **k)
    )
    for _ in range(5):
        with DagsterInstance.from_ref(instance.get_ref()) as again:
            again.get_runs(limit=1)
            again.get_asset_records([checked.key])
            again.schedule_storage.all_instigator_state()
    assert (opened, len(checks)) == ([], 0), (
        "each instance opened its own connections or checked the schemas again "
        "(sqlite_storage.py: Dagster's from_local / _initdb changed?)"
    )


def test_the_event_log_keeps_few_run_files_open_and_none_of_a_deleted_run(instance):
    runs = [materialize([checked], instance=instance).run_id for _ in range(12)]
    for run_id in runs:
        instance.all_logs(run_id)  # as a webserver shows runs
    # A file and its write-ahead log count once.
    folder = instance.event_log_storage._base_dir
    files = {name.rsplit(".db", 1)[0] for name in sqlite_files_open() if name.startswith(folder)}
    assert 0 < len(files) <= sqlite_storage.FILES_KEPT, files
    newest = runs[-1]
    instance.delete_run(newest)
    internals.delete_run_file(instance, newest)
    assert not [name for name in sqlite_files_open() if newest in name]
