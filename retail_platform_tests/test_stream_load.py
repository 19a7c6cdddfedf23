"""Every Stream Load client path, against a loopback FE/BE double (no StarRocks needed)."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from retail_platform.warehouse.base import LoadResult, WarehouseError
from retail_platform.warehouse.starrocks import StarRocksWarehouse
from retail_platform.warehouse.stream_load import StreamLoadClient, part_labels
from retail_platform_tests.stream_load_double import NO_EXPECT_MESSAGE, StreamLoadDouble

PASSWORD = "s3cr3t-pw"
LOADED_AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MALFORMED = b'"{\\"order_id\\": 1, \\"cust"'  # malformed at the source: a JSON string value


@pytest.fixture
def double():
    d = StreamLoadDouble(user="loader", password=PASSWORD).start()
    yield d
    d.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(double, sleeps):
    def make(**kw) -> StreamLoadClient:
        args = dict(
            host="127.0.0.1",
            http_port=double.fe_port,
            user="loader",
            password=PASSWORD,
            sleep=sleeps.append,
            connect_timeout_seconds=2,
        )
        return StreamLoadClient(**(args | kw))

    return make


def payloads(n: int, start: int = 0) -> list[bytes]:
    return [
        json.dumps({"order_id": i, "status": "placed"}).encode() for i in range(start, start + n)
    ]


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert PASSWORD not in str(text)


def test_success_stores_rows_once_with_metadata(double, make_client, sleeps):
    batch = payloads(3) + [MALFORMED]
    result = make_client().load("raw", "raw_orders", "orders_b1", batch, LOADED_AT)

    rows = double.table_rows("raw", "raw_orders")
    assert [r["payload"] for r in rows] == [json.loads(p) for p in batch]
    assert rows[3]["payload"] == '{"order_id": 1, "cust'  # kept as a JSON string, not rejected
    assert {r["load_label"] for r in rows} == {"orders_b1"}
    assert {r["loaded_at"] for r in rows} == {"2026-01-02 03:04:05.678901"}
    assert result.label == "orders_b1" and result.part_labels == ("orders_b1",)
    assert (result.rows_loaded, result.rows_filtered, result.already_loaded) == (4, 0, False)
    assert result.bytes == double.be_requests()[0].body_bytes > 0
    assert result.as_metadata()["requests"] == 1
    assert sleeps == []


def test_empty_batch_sends_nothing(double, make_client):
    result = make_client().load("raw", "raw_orders", "empty_b1", [], LOADED_AT)
    assert (result.rows_loaded, result.already_loaded, double.requests) == (0, False, [])


def test_request_headers_follow_the_contract(double, make_client):
    make_client().load("raw", "raw_orders", "hdr_b1", payloads(1), LOADED_AT)
    fe, be = double.requests
    assert (fe.server, fe.status_code, be.server, be.status_code) == ("fe", 307, "be", 200)
    for req in (fe, be):
        assert req.headers["expect"] == "100-continue"  # the FE's FAILED path can't be hit
        assert req.headers["format"] == "json" and req.headers["strip_outer_array"] == "true"
        assert req.headers["label"] == "hdr_b1" and req.headers["max_filter_ratio"] == "0"
        assert req.headers["timezone"] in ("UTC", "+00:00") and int(req.headers["timeout"]) > 0
    assert fe.body_bytes == 0  # the body only goes to the BE


def test_fe_rejects_missing_expect_header(double):
    # The double behaves like the FE here; the client never takes this path (test above).
    import requests

    resp = requests.put(
        f"http://127.0.0.1:{double.fe_port}/api/raw/raw_orders/_stream_load",
        auth=("loader", PASSWORD),
        headers={"label": "x"},
        data=b"[]",
    )
    assert resp.json() == {"Status": "FAILED", "Message": NO_EXPECT_MESSAGE}


def test_redirect_keeps_auth_and_be_override_reaches_unreachable_be(double, make_client):
    double.advertised_be_host = "be-container.invalid"  # what a container would advertise
    with pytest.raises(WarehouseError, match=r"be-container\.invalid:\d+"):
        make_client(max_attempts=1).load("raw", "raw_orders", "redir_b0", payloads(1), LOADED_AT)
    assert double.table_rows("raw", "raw_orders") == []

    double.advertised_be_port = 1  # wrong port too: both parts of the override apply
    client = make_client(be_host_override="127.0.0.1", be_port_override=double.be_port)
    result = client.load("raw", "raw_orders", "redir_b1", payloads(2), LOADED_AT)
    assert result.rows_loaded == 2 and len(double.table_rows("raw", "raw_orders")) == 2
    be = double.be_requests()[-1]
    assert be.headers["authorization"].startswith("Basic ") and be.status_code == 200


def test_label_reuse_is_already_loaded_and_adds_nothing(double, make_client):
    client = make_client()
    first = client.load("raw", "raw_orders", "reuse_b1", payloads(3), LOADED_AT)
    again = client.load("raw", "raw_orders", "reuse_b1", payloads(3), LOADED_AT)
    assert not first.already_loaded and again.already_loaded
    assert again.rows_loaded == 0
    assert len(double.table_rows("raw", "raw_orders")) == 3
    assert double.be_requests()[-1].load_status == "Label Already Exists"


def test_a_used_label_is_answered_before_its_body_is_sent(double, make_client, sleeps):
    """The replay path of exactly-once: the BE answers a known label at once and
    closes without reading. The client waits for `100 Continue`, so it reads that
    answer (already loaded) instead of failing on a closed connection."""
    big = [b'{"order_id": %d, "note": "%s"}' % (i, b"x" * 900) for i in range(8_000)]  # ~7 MB
    client = make_client(max_attempts=1)
    first = client.load("raw", "raw_orders", "replay_b1", big, LOADED_AT)
    again = client.load("raw", "raw_orders", "replay_b1", big, LOADED_AT)
    assert first.rows_loaded == len(big) and again.already_loaded and sleeps == []
    replay = double.be_requests()[-1]
    assert replay.load_status == "Label Already Exists" and replay.body_bytes == 0
    assert double.be_requests()[0].body_bytes > 7_000_000  # the first load sent it whole
    assert len(double.table_rows("raw", "raw_orders")) == len(big)


def test_running_label_waits_then_finished(double, make_client, sleeps):
    double.script("run_b1", "running")
    result = make_client().load("raw", "raw_orders", "run_b1", payloads(2), LOADED_AT)
    assert result.already_loaded  # the in-flight job loaded it, not a new label
    assert len(sleeps) == 1
    assert [r.headers["label"] for r in double.be_requests()] == ["run_b1", "run_b1"]
    assert len(double.table_rows("raw", "raw_orders")) == 2


def test_running_forever_is_bounded(double, make_client, sleeps):
    double.script("run_b2", "running")
    client = make_client(max_running_waits=0)
    with pytest.raises(WarehouseError, match="still RUNNING"):
        client.load("raw", "raw_orders", "run_b2", payloads(1), LOADED_AT)


def test_fail_then_success_retries_same_label_once_loaded(double, make_client, sleeps):
    double.script("retry_b1", "fail", "fail")
    result = make_client(backoff_seconds=0.5).load(
        "raw", "raw_orders", "retry_b1", payloads(4), LOADED_AT
    )
    assert result.rows_loaded == 4 and not result.already_loaded
    assert [r.headers["label"] for r in double.be_requests()] == ["retry_b1"] * 3
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert len(double.table_rows("raw", "raw_orders")) == 4


def test_fail_forever_raises_with_message_and_error_url(double, make_client, sleeps):
    double.script("bad_b1", "fail", "fail", "fail")
    with pytest.raises(WarehouseError) as err:
        make_client(max_attempts=3).load("raw", "raw_orders", "bad_b1", payloads(1), LOADED_AT)
    text = str(err.value)
    assert "too many filtered rows" in text and "_load_error_log?file=err_bad_b1" in text
    assert "bad_b1" in text and len(double.be_requests()) == 3 and len(sleeps) == 2
    assert double.table_rows("raw", "raw_orders") == []
    assert_no_secret(text)


def test_publish_timeout_is_done_without_retry(double, make_client, sleeps):
    double.script("pub_b1", "publish_timeout")
    result = make_client().load("raw", "raw_orders", "pub_b1", payloads(2), LOADED_AT)
    assert result.rows_loaded == 2 and not result.already_loaded
    assert len(double.be_requests()) == 1 and sleeps == []
    assert len(double.table_rows("raw", "raw_orders")) == 2


def test_401_is_a_clear_error_without_password(double, make_client):
    wrong = "wrong-" + PASSWORD
    with pytest.raises(WarehouseError) as err:
        make_client(password=wrong).load("raw", "raw_orders", "auth_b1", payloads(1), LOADED_AT)
    text = str(err.value)
    assert f"authentication failed for user 'loader' at 127.0.0.1:{double.fe_port}" in text
    assert wrong not in text and err.value.__cause__ is None
    assert len(double.requests) == 1  # no retry on bad credentials


def test_connection_refused_names_host_and_port(make_client, sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WarehouseError, match=rf"127\.0\.0\.1:{port} \(connection refused\)") as err:
        make_client(http_port=port, max_attempts=2).load("raw", "raw_orders", "cr_b1", payloads(1))
    assert len(sleeps) == 1
    assert_no_secret(err.value)


def test_timeout_names_host_and_port(make_client):
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = make_client(http_port=port, max_attempts=1, read_timeout_seconds=0.3)
        with pytest.raises(WarehouseError, match=rf"timed out .*127\.0\.0\.1:{port}"):
            client.load("raw", "raw_orders", "to_b1", payloads(1))


def test_part_labels_are_deterministic_and_short():
    assert part_labels("b1", 1) == ["b1"]
    assert part_labels("b1", 3) == ["b1_p000", "b1_p001", "b1_p002"]
    long_a, long_b = "a" * 120 + "_x", "a" * 120 + "_y"
    la, lb = part_labels(long_a, 2), part_labels(long_b, 2)
    assert la == part_labels(long_a, 2) and set(la).isdisjoint(lb)
    assert all(len(x) <= 128 for x in la + lb + part_labels("z" * 128, 1500))


def test_split_into_parts_then_rerun_after_failed_part_loads_nothing_twice(
    double, make_client, sleeps
):
    label = "big_" + "L" * 120  # forces the hashed, shortened part base
    batch = payloads(10)
    client = make_client(max_request_rows=3, max_attempts=1)
    labels = part_labels(label, 4)
    double.script(labels[2], "fail")
    with pytest.raises(WarehouseError, match="too many filtered rows"):
        client.load("raw", "raw_orders", label, batch, LOADED_AT)
    assert len(double.table_rows("raw", "raw_orders")) == 6  # parts 0 and 1 landed

    result = client.load("raw", "raw_orders", label, batch, LOADED_AT)
    rows = double.table_rows("raw", "raw_orders")
    assert sorted(r["payload"]["order_id"] for r in rows) == list(range(10))  # each exactly once
    assert result.part_labels == tuple(labels) and all(len(x) <= 128 for x in labels)
    assert not result.already_loaded and result.rows_loaded == 4  # parts 2 and 3 only
    assert {r["load_label"] for r in rows} == set(labels)

    third = client.load("raw", "raw_orders", label, batch, LOADED_AT)
    assert (
        third.already_loaded
        and third.rows_loaded == 0
        and len(double.table_rows("raw", "raw_orders")) == 10
    )


def test_split_by_bytes_keeps_every_request_under_the_cap(double, make_client):
    batch = payloads(50)
    cap = 1200
    result = make_client(max_request_bytes=cap).load("raw", "raw_orders", "bytes_b1", batch)
    assert len(result.part_labels) > 1
    assert all(r.body_bytes <= cap for r in double.be_requests())
    assert len(double.table_rows("raw", "raw_orders")) == 50 == result.rows_loaded


def test_password_never_in_errors_logs_or_metadata(double, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    double.script("sec_b1", "fail")
    client = make_client(max_attempts=2)
    result = client.load("raw", "raw_orders", "sec_b1", payloads(1), LOADED_AT)
    double.script("sec_b2", "fail", "fail")
    with pytest.raises(WarehouseError) as err:
        client.load("raw", "raw_orders", "sec_b2", payloads(1), LOADED_AT)
    assert_no_secret(err.value, result, result.as_metadata(), repr(client), caplog.text)


def test_warehouse_load_batch_goes_through_stream_load(double):
    wh = StarRocksWarehouse(
        http_port=double.fe_port, user="loader", password=PASSWORD, retry_backoff_seconds=0
    )
    result = wh.load_batch("raw_orders", "wh_b1", payloads(2) + [MALFORMED], LOADED_AT)
    assert isinstance(result, LoadResult) and result.rows_loaded == 3
    assert len(double.table_rows("raw", "raw_orders")) == 3
    assert wh.load_batch("raw_orders", "wh_b1", payloads(2), LOADED_AT).already_loaded
    assert_no_secret(result.as_metadata(), repr(wh), wh.describe())
    with pytest.raises(WarehouseError, match="invalid load label"):
        wh.load_batch("raw_orders", "bad-label!", payloads(1))
    # The simulator's Arrow arrays load the same way.
    arrow = pa.array([p.decode() for p in payloads(2)], pa.string())
    assert wh.load_batch("raw_orders", "wh_b2", arrow, LOADED_AT).rows_loaded == 2
    assert len(double.table_rows("raw", "raw_orders")) == 5


@pytest.mark.parametrize("made_by", ["retail-sim", "dagster-resource"])
def test_every_stream_load_variable_reaches_the_double(double, monkeypatch, made_by):
    """The README's variables, as a user sets them, reach Stream Load: the FE's HTTP port,
    the credentials, and the BE override for a BE that advertises what cannot be reached."""
    double.advertised_be_host, double.advertised_be_port = "be-container.invalid", 1
    for name, value in {
        "RETAIL_WAREHOUSE": "starrocks",
        "STARROCKS_HOST": "127.0.0.1",
        "STARROCKS_HTTP_PORT": str(double.fe_port),
        "STARROCKS_USER": "loader",
        "STARROCKS_PASSWORD": PASSWORD,
        "STARROCKS_BE_HOST": "127.0.0.1",
        "STARROCKS_BE_PORT": str(double.be_port),
    }.items():
        monkeypatch.setenv(name, value)
    if made_by == "retail-sim":
        from retail_platform.warehouse import warehouse_from_env

        wh = warehouse_from_env()
    else:
        from retail_platform.resources import warehouse_resource

        wh = warehouse_resource().process_config_and_initialize()
    result = wh.load_batch("raw_orders", "env_b1", payloads(2), LOADED_AT)
    assert result.rows_loaded == 2 and len(double.table_rows("raw", "raw_orders")) == 2
    fe, be = double.requests
    assert (fe.server, be.server, be.status_code) == ("fe", "be", 200)
    assert be.headers["authorization"].startswith("Basic ")
