"""A writer that knows where Dagster is (DAGSTER_URL) reports its batch through the
webserver's external asset reporting API: a real `dagster-webserver` on this test's own
instance takes the observations, the look then finds nothing new, and the automation
requests the models at its next tick."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
)

from retail_platform.automation import check_sources_sensor
from retail_platform.warehouse.base import RAW_TABLES

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "--empty-workspace", "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, "dagster-webserver exited"
                assert time.monotonic() < deadline, "dagster-webserver did not answer in 90 s"
                time.sleep(0.5)
        yield url, home
    finally:
        proc.kill()
        proc.wait()


def generate(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "retail-sim"), "generate", "--no-progress", "--orders", "50"],
        env={**os.environ, "DAGSTER_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_reported_batch_is_requested_with_no_look(webserver, warehouse):
    from retail_platform.definitions import defs as load

    url, home = webserver
    defs = load()
    with DagsterInstance.from_config(str(home)) as instance:
        start = evaluate_automation_conditions(defs=defs, instance=instance)
        done = generate(url)
        assert done.returncode == 0, done.stderr
        assert f"reported to Dagster at {url}" in done.stdout
        for table in RAW_TABLES:
            (record,) = instance.fetch_observations(AssetKey(["raw", table]), limit=1).records
            assert record.asset_observation.data_version == warehouse.observe(table).data_version
        # The look has nothing to add (the file changed, so it looked).
        look = check_sources_sensor(
            build_sensor_context(
                instance=instance, definitions=Definitions(resources={"warehouse": warehouse})
            )
        )
        assert isinstance(look, SensorResult) and not look.asset_events
        after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
        built = {r.key.to_user_string() for r in after.results if not r.true_subset.is_empty}
        assert {
            "staging/base_orders_parsed",
            "marts/fact_daily_sales",
            "marts/dim_products",
        } <= built


def test_a_dagster_not_running_is_a_one_line_note(warehouse, closed_port):
    done = generate(f"http://127.0.0.1:{closed_port}")
    assert done.returncode == 0
    assert done.stdout.startswith("batch 1 loaded")
    note = done.stderr.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("retail-sim: note: could not report the batch")
