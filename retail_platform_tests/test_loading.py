"""Loading is idempotent by label, and an interrupted batch re-runs without duplicates."""

import pytest

from retail_platform.simulator import runner
from retail_platform.simulator.runner import BatchSizes, run_batch
from retail_platform.warehouse.base import WarehouseError
from retail_platform.warehouse.duckdb import DuckDBWarehouse

COUNTS = "select (select count(*) from raw.raw_customers), (select count(*) from raw.raw_products), (select count(*) from raw.raw_orders)"


def test_same_label_twice_leaves_counts_unchanged(warehouse):
    payloads = [b'{"customer_id": 1}', b'{"customer_id": 2}', b'"{broken"']
    first = warehouse.load_batch("raw_customers", "manual_batch_1", payloads)
    assert (first.already_loaded, first.rows_loaded) == (False, 3)
    before = warehouse.query(COUNTS)
    again = warehouse.load_batch("raw_customers", "manual_batch_1", payloads[:1])
    assert again.already_loaded and again.rows_loaded == 0
    assert warehouse.query(COUNTS) == before
    assert warehouse.observe("raw_customers").row_count == 3
    # The malformed payload is kept, as a JSON string, and counted as unparsable.
    assert warehouse.unparsable_payloads("raw_customers") == (3, 1)


def test_bad_labels_and_tables_are_refused(warehouse):
    with pytest.raises(WarehouseError, match="label"):
        warehouse.load_batch("raw_customers", "has-dash", [b"{}"])
    with pytest.raises(WarehouseError, match="identifier"):
        warehouse.load_batch("raw_customers; drop table x", "ok", [b"{}"])


def test_rerunning_a_loaded_batch_changes_nothing(warehouse, tmp_path, monkeypatch):
    sizes = BatchSizes(40, 8, 150)
    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    counts = warehouse.query(COUNTS)
    # The batch log says batch 1 is done: the next run is batch 2, not a reload of 1.
    log = runner.read_log(warehouse)
    assert [r.batch_no for r in log] == [1]
    replay = list(runner.generate_payloads(log[0], log, "orders"))
    result = warehouse.load_batch("raw_orders", replay[0][0], replay[0][1])
    assert result.already_loaded and warehouse.query(COUNTS) == counts


def test_interrupted_batch_reruns_exactly_once(warehouse, tmp_path, monkeypatch):
    sizes = BatchSizes(40, 8, 150)
    reference = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    for _ in range(2):
        run_batch(reference, sizes=sizes, dirty_rate=0.05)

    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    real_load = DuckDBWarehouse.load_batch

    def dies_on_orders(self, table, label, payloads, loaded_at=None):
        if table == "raw_orders":
            raise WarehouseError("connection lost")
        return real_load(self, table, label, payloads, loaded_at)

    monkeypatch.setattr(DuckDBWarehouse, "load_batch", dies_on_orders)
    with pytest.raises(WarehouseError):
        run_batch(warehouse, sizes=sizes, dirty_rate=0.05)
    monkeypatch.setattr(DuckDBWarehouse, "load_batch", real_load)
    assert [r.batch_no for r in runner.read_log(warehouse)] == [1]  # batch 2 not logged

    run_batch(warehouse, sizes=sizes, dirty_rate=0.05)  # the re-run
    assert warehouse.query(COUNTS) == reference.query(COUNTS)
    payloads = "select load_label, payload::varchar from raw.{t} order by 1, 2"
    for table in ("raw_customers", "raw_products", "raw_orders"):
        assert warehouse.query(payloads.format(t=table)) == reference.query(
            payloads.format(t=table)
        )


KILL_AFTER_TWO_ORDER_CHUNKS = """
import os, signal, sys
from retail_platform.simulator import runner
from retail_platform.warehouse.duckdb import DuckDBWarehouse

real = DuckDBWarehouse.load_batch
calls = []

def load_then_die(self, table, label, payloads, loaded_at=None):
    result = real(self, table, label, payloads, loaded_at)
    calls.append(table)
    if calls.count("raw_orders") == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally blocks
    return result

DuckDBWarehouse.load_batch = load_then_die
runner.run_batch(DuckDBWarehouse(path=sys.argv[1]), sizes=runner.BatchSizes(50, 10, 250_000), dirty_rate=0.01)
"""


def test_killed_process_reruns_exactly_once(warehouse, tmp_path):
    import subprocess
    import sys

    sizes = BatchSizes(50, 10, 250_000)  # three order chunks
    reference = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    run_batch(reference, sizes=sizes, dirty_rate=0.01)

    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_TWO_ORDER_CHUNKS, warehouse.path], timeout=300
    )
    assert proc.returncode == -9
    partial = warehouse.query(COUNTS)[0]
    assert 0 < partial[2] < reference.query(COUNTS)[0][2]
    assert runner.read_log(warehouse) == []

    run_batch(warehouse, sizes=sizes, dirty_rate=0.01)  # the same command again
    assert warehouse.query(COUNTS) == reference.query(COUNTS)
    labels = "select load_label, count(*), count(distinct payload::varchar) from raw.raw_orders group by 1 order by 1"
    assert warehouse.query(labels) == reference.query(labels)
