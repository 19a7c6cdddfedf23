"""StarRocksWarehouse: unit tests that need no server, and live tests marked `starrocks`.

Live tests reach STARROCKS_HOST:STARROCKS_PORT (default 127.0.0.1:9030, HTTP on
STARROCKS_HTTP_PORT, default 8030) and are skipped with the reason when nothing answers.
Start one with scripts/starrocks_up.sh.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime

import pytest
from dagster import EnvVar

from retail_platform.warehouse import warehouse_from_env
from retail_platform.warehouse.base import RAW_TABLES, SIM_BATCHES_TABLE, WarehouseError
from retail_platform.warehouse.starrocks import StarRocksWarehouse, raw_table_ddl

SECRET = "pw-never-shown"
MALFORMED = b'"{\\"order_id\\": 1, \\"cust"'


# -- no server needed ---------------------------------------------------------------------


class _FakeCursor:
    def __init__(self, log: list) -> None:
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def execute(self, sql, args=None) -> None:
        self.log.append((sql, args))

    def fetchall(self):
        return [(0, None)]


class _FakeConn:
    def __init__(self, log: list) -> None:
        self.log = log

    def cursor(self):
        return _FakeCursor(self.log)

    def close(self) -> None:
        pass


@pytest.fixture
def executed(monkeypatch) -> list:
    log: list = []
    monkeypatch.setattr("pymysql.connect", lambda **kw: _FakeConn(log))
    return log


def test_raw_table_ddl_is_idempotent_duplicate_key_with_json_payload():
    ddl = raw_table_ddl("raw_orders", buckets=2, replication_num=1)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS raw.raw_orders (")
    for part in (
        "load_label varchar(128) NOT NULL",
        "loaded_at datetime NOT NULL",
        "payload json",
        "DUPLICATE KEY(load_label, loaded_at)",
        "DISTRIBUTED BY HASH(load_label) BUCKETS 2",
        '"replication_num" = "1"',
    ):
        assert part in ddl
    with pytest.raises(WarehouseError):
        raw_table_ddl("raw_orders; drop database raw", 1, 1)
    # Unset: the server's default replication, no PROPERTIES clause at all.
    assert "replication_num" not in raw_table_ddl("raw_orders", buckets=2, replication_num=None)


def test_setup_creates_databases_and_all_raw_tables(executed):
    StarRocksWarehouse(buckets=3).setup()
    sqls = [sql for sql, _ in executed]
    assert sqls[:4] == [
        f"CREATE DATABASE IF NOT EXISTS {db}" for db in ("raw", "staging", "intermediate", "marts")
    ]
    for table in (*RAW_TABLES, SIM_BATCHES_TABLE):
        assert raw_table_ddl(table, 3, None) in sqls  # the server's replication by default
    executed.clear()
    StarRocksWarehouse(buckets=3, replication_num=2).setup()
    assert raw_table_ddl("raw_orders", 3, 2) in [sql for sql, _ in executed]


def test_query_binds_parameters_and_never_formats(executed):
    wh = StarRocksWarehouse()
    wh.query("select * from raw.raw_orders where load_label = %s", ["x'; drop"])
    wh.query("select 7 % 2")
    assert executed == [
        ("select * from raw.raw_orders where load_label = %s", ("x'; drop",)),
        ("select 7 % 2", None),
    ]


def test_observe_validates_the_table_name(executed):
    with pytest.raises(WarehouseError, match="invalid SQL identifier"):
        StarRocksWarehouse().observe("raw_orders; drop table x")
    assert executed == []
    assert StarRocksWarehouse().observe("raw_orders").row_count == 0


def test_name_describe_and_dbt_env_keep_the_password_in_one_place():
    wh = StarRocksWarehouse(host="sr.example", port=19030, user="etl", password=SECRET)
    assert wh.name == "starrocks"
    assert wh.describe() == "StarRocks at sr.example:19030"
    assert wh.dbt_env() == {
        "RETAIL_WAREHOUSE": "starrocks",
        "STARROCKS_HOST": "sr.example",
        "STARROCKS_PORT": "19030",
        "STARROCKS_USER": "etl",
        "STARROCKS_PASSWORD": SECRET,
    }
    assert SECRET not in repr(wh) and SECRET not in str(wh)
    assert SECRET not in repr(wh.stream_loader())


def test_password_comes_from_envvar(monkeypatch):
    from retail_platform.resources import StarRocksResource, warehouse_resource

    monkeypatch.setenv("RETAIL_WAREHOUSE", "starrocks")
    monkeypatch.setenv("STARROCKS_PASSWORD", SECRET)
    monkeypatch.setenv("STARROCKS_PORT", "19030")
    resource = warehouse_resource()
    assert isinstance(resource, StarRocksResource)
    # An EnvVar, resolved per run: the definitions never hold the secret itself.
    assert resource.password == EnvVar("STARROCKS_PASSWORD")
    wh = resource.process_config_and_initialize()  # what a run gets: the plain warehouse
    assert isinstance(wh, StarRocksWarehouse)
    assert wh.dbt_env()["STARROCKS_PASSWORD"] == SECRET
    assert wh.port == 19030
    # The CLI's way, without Dagster: the same variables.
    assert warehouse_from_env().dbt_env()["STARROCKS_PASSWORD"] == SECRET


def test_unreachable_server_names_host_and_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wh = StarRocksWarehouse(port=port, password=SECRET, connect_timeout_seconds=2)
    with pytest.raises(
        WarehouseError, match=rf"cannot connect to StarRocks at 127\.0\.0\.1:{port}"
    ) as err:
        wh.query("select 1")
    assert SECRET not in str(err.value)


# -- live server ----------------------------------------------------------------------------


def _label() -> str:
    return f"test_{uuid.uuid4().hex}"


@pytest.mark.starrocks
def test_live_setup_is_idempotent(live):
    live.setup()
    dbs = {r[0] for r in live.query("SHOW DATABASES")}
    assert {"raw", "staging", "marts"} <= dbs
    tables = {r[0] for r in live.query("SHOW TABLES FROM raw")}
    assert {*RAW_TABLES, SIM_BATCHES_TABLE} <= tables


@pytest.mark.starrocks
def test_live_load_then_observe(live):
    label, loaded_at = _label(), datetime.now(UTC).replace(microsecond=0)
    before = live.observe("raw_orders")
    batch = [b'{"order_id": 1, "items": [{"product_id": 2, "quantity": 1}]}', MALFORMED]
    result = live.load_batch("raw_orders", label, batch, loaded_at)
    assert (result.rows_loaded, result.already_loaded) == (2, False)
    after = live.observe("raw_orders")
    assert after.row_count == before.row_count + 2
    assert after.last_loaded_at is not None and after.last_loaded_at >= loaded_at
    stored = live.query("SELECT payload FROM raw.raw_orders WHERE load_label = %s", [label])
    assert sorted(json.dumps(json.loads(r[0])) for r in stored) == sorted(
        json.dumps(json.loads(p)) for p in batch
    )  # the malformed one stays a JSON string


@pytest.mark.starrocks
def test_live_load_twice_leaves_counts_unchanged(live):
    label = _label()
    live.load_batch("raw_orders", label, [b'{"order_id": 3}'])
    once = live.observe("raw_orders")
    again = live.load_batch("raw_orders", label, [b'{"order_id": 3}'])
    assert again.already_loaded and again.rows_loaded == 0
    assert live.observe("raw_orders").row_count == once.row_count
