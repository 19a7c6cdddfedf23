"""The instance folder every entry point prepares (retail_platform/instance.py), and
the daemon's start on it: quiet, which the browser test checks again on `dagster dev`."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import AssetMaterialization, DagsterInstance

from retail_platform.dagster_internals import RUN_RETRY_CURSOR_KEYS
from retail_platform.instance import INSTANCE_YAML, prepare_home, sqlite_storage


def cursors(home) -> dict[str, str]:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.daemon_cursor_storage.get_cursor_values(set(RUN_RETRY_CURSOR_KEYS))


def storage_files(instance: DagsterInstance, home: Path) -> dict[str, str]:
    """Where each storage keeps its SQLite files, relative to the home."""
    return {
        "runs": instance.run_storage._conn_string.split(str(home))[1],
        "events": instance.event_log_storage._base_dir.split(str(home))[1],
        "schedules": instance.schedule_storage._conn_string.split(str(home))[1],
    }


def test_a_fresh_home_gets_the_instance_file_and_the_run_retry_cursors(tmp_path):
    home = prepare_home(tmp_path / "home")
    written = yaml.safe_load((home / "dagster.yaml").read_text())
    assert written == {**yaml.safe_load(INSTANCE_YAML.read_text()), **sqlite_storage(home)}
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled  # the daemon that reads these cursors runs
        assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"
        pooled = storage_files(instance, home)
    # The files where Dagster keeps them in a home without a storage setting.
    bare = tmp_path / "bare"
    bare.mkdir()
    with DagsterInstance.from_config(str(bare)) as instance:
        assert storage_files(instance, bare) == pooled
    # Where the daemon itself would start on an empty event log: its newest event.
    assert cursors(home) == dict.fromkeys(RUN_RETRY_CURSOR_KEYS, "0")


def test_preparing_again_keeps_the_cursors_the_daemon_moved(tmp_path):
    home = prepare_home(tmp_path / "home")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.daemon_cursor_storage.set_cursor_values({RUN_RETRY_CURSOR_KEYS[0]: "42"})
    (home / "dagster.yaml").unlink()  # a home whose file was lost is mended too
    prepare_home(home)
    assert "PooledSqliteRunStorage" in (home / "dagster.yaml").read_text()
    assert cursors(home) == {RUN_RETRY_CURSOR_KEYS[0]: "42", RUN_RETRY_CURSOR_KEYS[1]: "0"}


def test_a_home_with_events_starts_the_cursors_at_its_newest_event(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(INSTANCE_YAML)  # as homes were made before sqlite_storage.py
    with DagsterInstance.from_config(str(home)) as instance:
        instance.report_runless_asset_event(AssetMaterialization("an_older_event"))
        newest = instance.event_log_storage.get_maximum_record_id()
    assert newest
    prepare_home(home)  # not from 0: that would retry failures older than run retries
    assert cursors(home) == dict.fromkeys(RUN_RETRY_CURSOR_KEYS, str(newest))


def test_the_daemon_starts_on_a_prepared_home_without_a_warning(tmp_path):
    """The daemon's own start-up, read as plain text (it colours the level), names no
    missing cursor: the keys seeded are the ones it reads."""
    home = prepare_home(tmp_path / "home")
    daemon = Path(sys.executable).parent / "dagster-daemon"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(daemon), "run", "-w", "workspace.yaml"],
            cwd=INSTANCE_YAML.parents[1], env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            # The run-retry consumer reads its cursors on its first iteration.
            while time.monotonic() < deadline and "EventLogConsumerDaemon" not in log.read_text():
                time.sleep(1)
            time.sleep(3)
        finally:
            proc.terminate()
            proc.wait(30)
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
    assert "EventLogConsumerDaemon" in text, text[-3000:]
    warnings = [line for line in text.splitlines() if " - WARNING - " in line]
    assert warnings == [], warnings


def test_a_layer_adds_its_settings_to_the_shared_ones(tmp_path):
    """What `make serve` and the image do with deploy/dagster.yaml, here with a layer that
    needs no server: the home gets one file, the shared settings and the layer's."""
    layer = tmp_path / "layer.yaml"
    layer.write_text("code_servers:\n  local_startup_timeout: 123\n")
    home = prepare_home(tmp_path / "home")  # a home as make dev prepares it, then layered
    prepare_home(home, layer)
    written = home / "dagster.yaml"
    assert yaml.safe_load(written.read_text()) == {
        **yaml.safe_load(INSTANCE_YAML.read_text()),
        "code_servers": {"local_startup_timeout": 123},
        **sqlite_storage(home),  # the layer chooses no storage
    }
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled and instance.code_server_process_startup_timeout == 123
    assert cursors(home) == dict.fromkeys(RUN_RETRY_CURSOR_KEYS, "0")


def test_a_layer_may_not_set_again_what_the_shared_file_sets(tmp_path):
    layer = tmp_path / "layer.yaml"
    layer.write_text("run_retries:\n  enabled: false\n")
    with pytest.raises(ValueError, match="run_retries"):
        prepare_home(tmp_path / "home", layer)
