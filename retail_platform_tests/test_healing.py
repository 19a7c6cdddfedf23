"""The mechanisms that let the platform run unattended (bench/chaos.py does the faults live)."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    MaterializeResult,
    SkipReason,
    asset,
    build_sensor_context,
    job,
    materialize,
    op,
)

from retail_platform.automation import check_sources_sensor
from retail_platform.simulator.runner import BatchSizes, run_batch

ROOT = Path(__file__).resolve().parents[1]


def look(instance, warehouse, cursor=None):
    """One tick of the `check_sources` sensor; its observations logged as the daemon does."""
    result = check_sources_sensor(
        build_sensor_context(
            instance=instance,
            definitions=Definitions(resources={"warehouse": warehouse}),
            cursor=cursor,
        )
    )
    for event in getattr(result, "asset_events", None) or []:
        instance.report_runless_asset_event(event)
    return result


def observed(result) -> list[str]:
    return [e.asset_key.to_user_string() for e in getattr(result, "asset_events", None) or []]


def test_the_look_observes_only_tables_that_changed(warehouse, instance):
    run_batch(warehouse, sizes=BatchSizes(5, 2, 10), dirty_rate=0)
    # Fresh start: the tables were never observed; the look observes all three.
    first = look(instance, warehouse)
    assert observed(first) == ["raw/raw_customers", "raw/raw_products", "raw/raw_orders"]
    # Nothing written since: the look does not even open the file.
    assert look(instance, warehouse, first.cursor).skip_message.startswith("nothing written")

    # Another writer appends orders only.
    run_batch(warehouse, sizes=BatchSizes(0, 0, 10), dirty_rate=0, entities=["orders"])
    second = look(instance, warehouse, first.cursor)
    assert observed(second) == ["raw/raw_orders"]
    version = second.asset_events[0].tags["dagster/data_version"]
    assert (
        version
        == warehouse.observe("raw_orders").data_version
        != first.asset_events[2].tags["dagster/data_version"]
    )
    # Written, but not to a raw table (a dbt build): looked at, nothing observed.
    warehouse.query("create or replace table staging.scratch as select 1 as x")
    third = look(instance, warehouse, second.cursor)
    assert observed(third) == [] and third.cursor != second.cursor


def test_a_look_at_an_unchanged_warehouse_loads_no_instance(warehouse, tmp_path, monkeypatch):
    """The look ticks every few seconds in the code server, and loading the instance from
    its storage costs more than the look itself: a tick with nothing written loads none."""
    run_batch(warehouse, sizes=BatchSizes(5, 2, 10), dirty_rate=0)
    loaded = []
    from_ref = DagsterInstance.from_ref
    monkeypatch.setattr(
        DagsterInstance, "from_ref", staticmethod(lambda ref: loaded.append(ref) or from_ref(ref))
    )
    defs = Definitions(resources={"warehouse": warehouse})
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        ref = instance.get_ref()
        with build_sensor_context(instance_ref=ref, definitions=defs) as context:
            first = check_sources_sensor(context)
        assert len(first.asset_events) == 3 and len(loaded) == 1  # it asked what Dagster knows
        with build_sensor_context(
            instance_ref=ref, definitions=defs, cursor=first.cursor
        ) as context:
            again = check_sources_sensor(context)
        assert again.skip_message.startswith("nothing written") and len(loaded) == 1


def test_the_look_skips_while_another_process_holds_the_file(warehouse, instance):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            str(warehouse.file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = look(instance, warehouse)
        assert isinstance(result, SkipReason)
        assert "not readable now" in result.skip_message
        assert f"PID {holder.pid}" in result.skip_message  # names who holds it
        assert time.monotonic() - started < 5  # looks again at the next tick, never hangs
    finally:
        holder.kill()
        holder.wait()


@op
def noop() -> None:
    pass


@job
def tiny():
    noop()


@asset(check_specs=[AssetCheckSpec("positive", asset="thing")])
def thing() -> MaterializeResult:
    return MaterializeResult(check_results=[AssetCheckResult(passed=True)])


@asset(check_specs=[AssetCheckSpec("rare_ok", asset="rare")])
def rare() -> MaterializeResult:
    return MaterializeResult(check_results=[AssetCheckResult(passed=True)])


def check_runs(instance: DagsterInstance, key: AssetCheckKey) -> set[str]:
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    return {record.run_id for record in history}


def prune_two_minutes_later(instance: DagsterInstance, monkeypatch) -> SkipReason:
    """prune_history with a minute's window, seen two minutes from now: every run is past it."""
    from retail_platform import retention, settings

    monkeypatch.setenv(settings.RETENTION_ENV, "1")
    later = datetime.now(UTC) + timedelta(minutes=2)
    monkeypatch.setattr(
        retention, "datetime", type("clock", (), {"now": staticmethod(lambda tz=None: later)})
    )
    return retention.prune_history(build_sensor_context(instance=instance))


def test_prune_history_deletes_old_runs_with_their_files(tmp_path, monkeypatch):
    from retail_platform import retention, settings

    monkeypatch.setattr(retention, "KEEP_NEWEST_RUNS", 2)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        # `rare` and its check ran only in the oldest run.
        ids = [materialize([thing, rare], instance=instance).run_id]
        ids += [materialize([thing], instance=instance).run_id for _ in range(4)]
        shards = Path(instance.root_directory, "history", "runs")
        assert all((shards / f"{i}.db").exists() for i in ids)
        positive, rare_ok = AssetCheckKey(thing.key, "positive"), AssetCheckKey(rare.key, "rare_ok")
        assert check_runs(instance, positive) == set(ids)

        monkeypatch.setenv(settings.RETENTION_ENV, "60")
        kept = retention.prune_history(build_sensor_context(instance=instance))
        assert isinstance(kept, SkipReason) and "deleted 0 " in kept.skip_message
        assert len(instance.get_run_records()) == 5  # all inside the window

        result = prune_two_minutes_later(instance, monkeypatch)
        assert "deleted 3 " in result.skip_message
        left = {r.dagster_run.run_id for r in instance.get_run_records()}
        assert left == set(ids[-2:])  # the newest are kept whatever their age
        for run_id in ids[:3]:
            assert not (shards / f"{run_id}.db").exists()
            assert instance.get_run_record_by_id(run_id) is None
        # Check executions go with their runs, except each check's latest.
        assert check_runs(instance, positive) == set(ids[-2:])
        assert check_runs(instance, rare_ok) == {ids[0]}


def test_repo_instance_settings_heal():
    settings = yaml.safe_load((ROOT / "instance" / "dagster.yaml").read_text())
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True
    assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 60
    assert monitoring["poll_interval_seconds"] <= 30
    assert settings["run_retries"]["enabled"] is True
    assert settings["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_run_monitoring_frees_the_slot_of_a_run_that_died(tmp_path):
    """The repo's run monitoring settings, in a real dagster-daemon: a run that ended
    FAILURE while holding a pool slot (its worker was killed) gives the slot back."""
    settings = yaml.safe_load((ROOT / "instance" / "dagster.yaml").read_text())
    # Same mechanism, shorter waits, so the test takes seconds instead of a minute.
    settings["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=2)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.create_run_for_job(tiny, status=DagsterRunStatus.STARTED)
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("warehouse")  # what a run's first step does
        claim = storage.claim_concurrency_slot("warehouse", run.run_id, "noop")
        assert claim.is_claimed
        # What the code server reports when a run worker dies.
        instance.report_run_failed(run, "Subprocess terminated unexpectedly (test)")
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert run.run_id in {
            s.run_id for s in storage.get_concurrency_info("warehouse").claimed_slots
        }

        daemon = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster-daemon"),
                "run",
                "-w",
                str(ROOT / "workspace.yaml"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                claimed = storage.get_concurrency_info("warehouse").claimed_slots
                if run.run_id not in {s.run_id for s in claimed}:
                    break
                time.sleep(1)
            else:
                pytest.fail("the slot of the failed run was never freed")
        finally:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def test_ledger_remembers_labels_for_the_window_only(warehouse):
    old = datetime.now(UTC) - timedelta(days=4)
    warehouse.load_batch("raw_customers", "old_label", [b'{"customer_id": 1}'], loaded_at=old)
    # Within the window a label is still recognised...
    assert warehouse.load_batch("raw_customers", "old_label", [b"{}"], loaded_at=old).already_loaded
    # ...and a load now prunes the labels past it (3 days by default).
    warehouse.load_batch("raw_customers", "new_label", [b'{"customer_id": 2}'])
    labels = {r[0] for r in warehouse.query("select label from raw._loads")}
    assert labels == {"new_label"}


def test_watermarks_are_the_models_own_rows(warehouse, instance):
    """dbt keeps no bookkeeping beside its models that grows with the runs: what each
    incremental model has taken in is the run stamp on its own rows
    (macros/incremental.sql), and the contract's tables show none of it. The one table
    of dbt's own, the running totals (macros/running_totals.sql), holds a row per
    model and figure, however many runs."""
    import json

    from retail_platform.project import dbt_project
    from retail_platform_tests.test_marts import compare_marts, run_dbt, run_simulator

    totals = []
    for _ in range(3):
        run_simulator(warehouse, instance, customers=30, products=5, orders=100, dirty_rate=0.0)
        run_dbt(warehouse, instance)
        totals.append(warehouse.query("select model, figure, kind from staging.report_totals"))
    compare_marts(warehouse)
    # A first build has no rows replaced to note; from then on the same keys.
    assert totals[0] and set(totals[0]) < set(totals[1]) == set(totals[2])
    assert len(totals[2]) == len(set(totals[2]))

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    models = {
        (node["schema"], node["alias"]): node["config"]["materialized"]
        for node in nodes
        if node["resource_type"] == "model"
    }
    relations = warehouse.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('staging', 'intermediate', 'marts')"
    )
    assert set(relations) == set(models) | {("staging", "report_totals")}  # no watermark log
    stamped = {
        (schema, table)
        for schema, table in warehouse.query(
            "select table_schema, table_name from information_schema.columns "
            "where table_schema in ('staging', 'intermediate', 'marts') and column_name = '_stamp'"
        )
    }
    assert stamped == {relation for relation, kind in models.items() if kind == "incremental"}


def dbt_killed_after_statement(warehouse, work: Path, statement: int) -> int:
    """Run `dbt build` and SIGKILL it right after its `statement`-th SQL statement was
    sent (dbt's debug events, read as they come). Returns how many it had sent."""
    import json

    from retail_platform.project import dbt_argv

    env = {**os.environ, **warehouse.dbt_env()}
    proc = subprocess.Popen(
        dbt_argv("build", work, "--log-format", "json", "--log-level", "debug"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sent = 0
    for line in proc.stdout:
        try:
            name = json.loads(line)["info"]["name"]
        except (ValueError, KeyError):
            continue
        if name == "SQLQuery":
            sent += 1
            if sent == statement:
                proc.kill()
                break
    proc.wait()
    proc.stdout.close()
    return sent


def test_dbt_killed_between_any_two_statements_catches_up(warehouse, instance, dbt_work):
    """A kill can land between any two statements of any model (a run worker killed by
    the OOM killer takes dbt with it): the next build must still give the truth."""
    from retail_platform_tests.test_marts import compare_marts, run_dbt, run_simulator

    batch = {"customers": 40, "products": 8, "orders": 200, "dirty_rate": 0.05, "step_minutes": 720}
    run_simulator(warehouse, instance, **batch)
    run_dbt(warehouse, instance)
    # Count the statements of an incremental build, then kill builds at points spread
    # over it: early (staging parse), middle (classification, upserts), late (marts).
    # One target folder for all of them (conftest.py): dbt parses only what changed
    # (nothing), ~2 s less per build (a kill lands in execution, after the parse state
    # was written).
    run_simulator(warehouse, instance, **batch)
    total = dbt_killed_after_statement(warehouse, dbt_work, 10**9)
    assert total > 40, total
    points = [3, total // 5, 2 * total // 5, total // 2, 3 * total // 5, 4 * total // 5, total - 3]
    for point in points:
        run_simulator(warehouse, instance, **batch)
        sent = dbt_killed_after_statement(warehouse, dbt_work, point)
        assert sent == point  # the kill landed mid-build
    run_dbt(warehouse, instance)  # the next build takes up from the models' own state
    compare_marts(warehouse)


def test_starrocks_down_then_back_loses_and_doubles_nothing(instance, monkeypatch):
    """StarRocks refusing connections: a clear failure naming host:port; once it is back
    the next run loads the batch that failed (same batch number), every row once."""
    import json

    import pymysql
    from dagster import materialize

    from retail_platform.assets.simulator import simulator_batches
    from retail_platform.warehouse.base import WarehouseError
    from retail_platform.warehouse.starrocks import StarRocksWarehouse
    from retail_platform_tests.stream_load_double import StreamLoadDouble

    double = StreamLoadDouble().start()
    down = {"now": False}

    class Cursor:
        """The MySQL side, answered from what the Stream Load double holds."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, args=None):
            table = sql.split("raw.")[-1].split()[0] if "raw." in sql else None
            rows = double.table_rows("raw", table) if table else []
            if sql.lower().startswith("select payload"):
                self.rows = [
                    (r["payload"] if isinstance(r["payload"], str) else json.dumps(r["payload"]),)
                    for r in rows
                ]
            elif "count(*)" in sql.lower():
                self.rows = [(len(rows), None)]
            else:
                self.rows = []

        def fetchall(self):
            return self.rows

    class Conn:
        def cursor(self):
            return Cursor()

        def close(self):
            pass

    def connect(**kwargs):
        if down["now"]:
            raise pymysql.err.OperationalError(
                2003,
                f"Can't connect to MySQL server on '{kwargs['host']}' ([Errno 111] Connection refused)",
            )
        return Conn()

    monkeypatch.setattr(pymysql, "connect", connect)
    wh = StarRocksWarehouse(
        host="127.0.0.1", port=9030, http_port=double.fe_port, user="loader", password="s3cr3t-pw"
    )
    batch = {"customers": 20, "products": 4, "orders": 50, "dirty_rate": 0.0}
    config = {"ops": {"simulator_batches": {"config": batch}}}
    assert materialize(
        [simulator_batches], resources={"warehouse": wh}, instance=instance, run_config=config
    ).success

    fe, be = double.fe_port, double.be_port
    double.stop()
    down["now"] = True
    with pytest.raises(WarehouseError, match="127.0.0.1:9030"):
        run_batch(wh, sizes=BatchSizes(20, 4, 50), dirty_rate=0.0)

    down["now"] = False
    double.start(fe, be)
    try:
        result = materialize(
            [simulator_batches], resources={"warehouse": wh}, instance=instance, run_config=config
        )
        assert result.success
        batches = [
            json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]
            for r in double.table_rows("raw", "sim_batches")
        ]
        assert sorted(b["batch_no"] for b in batches) == [1, 2]  # the failed batch, not a gap
        for table in ("raw_customers", "raw_products", "raw_orders"):
            rows = double.table_rows("raw", table)
            labels = {r["load_label"] for r in rows}
            assert {label.split("_b")[1][:7] for label in labels} == {"0000001", "0000002"}
            payloads = [json.dumps(r["payload"], sort_keys=True) for r in rows]
            assert len(payloads) == len(set(payloads)), f"{table}: a payload loaded twice"
    finally:
        double.stop()
