"""StarRocks Stream Load client: labeled, idempotent, bounded retries, no secrets in errors.

Protocol facts (see /work/shared/STARROCKS.md): the FE answers ``307`` with the BE
address; an HTTP library would drop the Authorization header on that redirect (the
port changes), so we ask the FE with an empty body, then PUT the body to the BE
ourselves. Every outcome arrives as HTTP 200 with a JSON ``Status``.

``Expect: 100-continue`` is honoured: the body goes only after the server's interim
``100 Continue``. A BE that already knows the label may answer at once and close
without reading the body; that answer is read and the body never sent. (requests,
urllib3 and httpx all send the body at once: hence http.client here.)
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from urllib.parse import urlsplit, urlunsplit

from retail_platform.warehouse.base import LoadResult, WarehouseError, check_identifier, check_label

log = logging.getLogger(__name__)

MAX_LABEL_LEN = 128
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # well under the 100 MB JSON body limit
DEFAULT_MAX_REQUEST_ROWS = 100_000
_PART_DIGITS = 3
# How long to wait for `100 Continue` before sending the body anyway (RFC 9110 15.2.1;
# curl waits 1 s). A BE answers at once; silence means a server that ignores Expect.
CONTINUE_WAIT_SECONDS = 3.0


def part_labels(label: str, n_parts: int) -> list[str]:
    """Deterministic labels for a batch split into `n_parts` requests.

    One request keeps the batch label. Parts are ``<label>_p000``...; when that would
    exceed 128 chars the base is cut and suffixed with a hash of the full label, so
    two long labels sharing a prefix still get different part labels.
    """
    check_label(label)
    if n_parts <= 1:
        return [label]
    digits = max(_PART_DIGITS, len(str(n_parts - 1)))
    suffix_len = 2 + digits  # "_p" + NNN
    base = label
    if len(base) + suffix_len > MAX_LABEL_LEN:
        digest = hashlib.sha1(label.encode()).hexdigest()[:12]
        base = f"{label[: MAX_LABEL_LEN - suffix_len - len(digest) - 1]}_{digest}"
    return [f"{base}_p{i:0{digits}d}" for i in range(n_parts)]


def format_loaded_at(loaded_at: datetime | None) -> str:
    """UTC wall time as StarRocks DATETIME text; naive datetimes are taken as UTC."""
    ts = loaded_at or datetime.now(UTC)
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def _row_prefix(label: str, loaded_at: str) -> bytes:
    # Labels are [A-Za-z0-9_] and the timestamp is digits/punctuation: no JSON escaping needed.
    return b'{"load_label":"%s","loaded_at":"%s","payload":' % (label.encode(), loaded_at.encode())


def build_body(label: str, loaded_at: str, payloads: Sequence[bytes]) -> bytes:
    """One JSON array of row objects, by byte concatenation (payloads are not re-parsed)."""
    prefix = _row_prefix(label, loaded_at)
    return b"[" + prefix + (b"}," + prefix).join(payloads) + b"}]"


def split_payloads(
    payloads: Sequence[bytes], row_overhead: int, max_bytes: int, max_rows: int
) -> list[Sequence[bytes]]:
    """Cut payloads into consecutive chunks whose bodies stay under max_bytes / max_rows.

    Depends only on the payload sizes and the limits, so the same batch always splits
    the same way (its part labels stay stable across re-runs).
    """
    chunks: list[Sequence[bytes]] = []
    start, size = 0, 2  # "[" + "]"
    for i, p in enumerate(payloads):
        row = len(p) + row_overhead + 1  # row bytes + "," separator
        if i > start and (size + row > max_bytes or i - start >= max_rows):
            chunks.append(payloads[start:i])
            start, size = i, 2
        size += row
    if start < len(payloads):
        chunks.append(payloads[start:])
    return chunks


@dataclass(frozen=True)
class _PartOutcome:
    label: str
    already_loaded: bool
    rows_loaded: int
    rows_filtered: int
    bytes: int


class _Retryable(Exception):
    """A failure after which the same label may safely be sent again."""


class StreamLoadClient:
    """Loads labeled JSON batches through Stream Load, exactly once per label."""

    def __init__(
        self,
        host: str,
        http_port: int,
        user: str,
        password: str = "",
        *,
        be_host_override: str | None = None,
        be_port_override: int | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS,
        max_attempts: int = 4,
        max_running_waits: int = 10,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        connect_timeout_seconds: float = 10.0,
        load_timeout_seconds: int = 600,
        read_timeout_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host, self.http_port, self.user = host, http_port, user
        self._password = password
        self.be_host_override, self.be_port_override = be_host_override, be_port_override
        self.max_request_bytes, self.max_request_rows = max_request_bytes, max_request_rows
        self.max_attempts, self.max_running_waits = max_attempts, max_running_waits
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.load_timeout_seconds = load_timeout_seconds
        # The BE answers only when the load is done: wait a little longer than its timeout.
        self.read_timeout_seconds = read_timeout_seconds or load_timeout_seconds + 30.0
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the password
        return f"StreamLoadClient({self.user}@{self.host}:{self.http_port})"

    # -- public ---------------------------------------------------------------------------

    def load(
        self,
        db: str,
        table: str,
        label: str,
        payloads: Sequence[bytes],
        loaded_at: datetime | None = None,
    ) -> LoadResult:
        """Load `payloads` (one JSON value each) into db.table under `label`."""
        check_identifier(db)
        check_identifier(table)
        check_label(label)
        for p in payloads:
            if not p:  # an empty payload would break the whole JSON array
                raise WarehouseError(f"empty payload in batch {label}: send a JSON value")
        if not payloads:  # nothing to send: no request, no label used
            return LoadResult(table=table, label=label, already_loaded=False, rows_loaded=0)
        started = time.monotonic()
        ts = format_loaded_at(loaded_at)
        # Size parts with the longest label a part can get, so bodies never exceed the cap.
        longest = max(len(x) for x in part_labels(label, 2))
        overhead = len(_row_prefix("x" * longest, ts)) + 1
        chunks = split_payloads(payloads, overhead, self.max_request_bytes, self.max_request_rows)
        labels = part_labels(label, len(chunks))
        outcomes = [
            self._load_part(db, table, part_label, build_body(part_label, ts, chunk))
            for part_label, chunk in zip(labels, chunks, strict=True)
        ]
        return LoadResult(
            table=table,
            label=label,
            already_loaded=bool(outcomes) and all(o.already_loaded for o in outcomes),
            rows_loaded=sum(o.rows_loaded for o in outcomes),
            rows_filtered=sum(o.rows_filtered for o in outcomes),
            bytes=sum(o.bytes for o in outcomes),
            seconds=time.monotonic() - started,
            part_labels=tuple(labels),
        )

    # -- one request, with its retry policy -----------------------------------------------

    def _load_part(self, db: str, table: str, label: str, body: bytes) -> _PartOutcome:
        failures = waits = 0
        while True:
            try:
                res = self._put(db, table, label, body)
            except _Retryable as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise WarehouseError(
                        f"Stream Load {db}.{table} label {label} gave up after "
                        f"{failures} attempts: {exc}"
                    ) from None
                log.warning("stream load %s attempt %d: %s; retrying", label, failures, exc)
                self._sleep(self._backoff(failures))
                continue

            status = res.get("Status")
            if status in ("Success", "Publish Timeout"):
                # Publish Timeout: committed, visible shortly; a retry would be a no-op at best.
                return self._outcome(db, table, label, res, body, already=False)
            if status == "Label Already Exists":
                if res.get("ExistingJobStatus") == "FINISHED":
                    return self._outcome(db, table, label, res, body, already=True)
                # In flight elsewhere (or an earlier attempt of ours): ask again, never relabel.
                waits += 1
                if waits > self.max_running_waits:
                    raise WarehouseError(
                        f"Stream Load {db}.{table} label {label} still "
                        f"{res.get('ExistingJobStatus')} after {waits - 1} checks"
                    )
                self._sleep(self._backoff(waits))
                continue
            # Fail (or FE-level FAILED): nothing committed, the same label may be reused.
            failures += 1
            message = self._scrub(str(res.get("Message") or res.get("msg") or "no message"))
            error_url = self._scrub(str(res.get("ErrorURL") or "none"))
            if failures >= self.max_attempts:
                raise WarehouseError(
                    f"Stream Load {db}.{table} label {label} failed after {failures} attempts: "
                    f"Status={status} Message={message} ErrorURL={error_url}"
                )
            log.warning(
                "stream load %s attempt %d: %s %s; retrying", label, failures, status, message
            )
            self._sleep(self._backoff(failures))

    def _put(self, db: str, table: str, label: str, body: bytes) -> dict:
        headers = {
            "Expect": "100-continue",
            "format": "json",
            "strip_outer_array": "true",
            "label": label,
            "timezone": "UTC",
            "max_filter_ratio": "0",
            "timeout": str(self.load_timeout_seconds),
        }
        auth = (self.user, self._password)
        fe_url = f"http://{self.host}:{self.http_port}/api/{db}/{table}/_stream_load"
        # Ask the FE with no body: it only routes, and closes the connection after answering.
        fe = self._request(fe_url, self.host, self.http_port, headers, b"", auth)
        if fe.status_code == 200:
            return self._json(fe, self.host, self.http_port)  # FE refused (Status FAILED)
        if fe.status_code not in (301, 302, 303, 307, 308) or "Location" not in fe.headers:
            where = f"{self.host}:{self.http_port}"
            raise _Retryable(f"unexpected HTTP {fe.status_code} from StarRocks FE at {where}")
        be_url, be_host, be_port = self._be_url(fe.headers["Location"])
        be = self._request(be_url, be_host, be_port, headers, body, auth)
        if be.status_code != 200:
            raise _Retryable(f"HTTP {be.status_code} from StarRocks BE at {be_host}:{be_port}")
        return self._json(be, be_host, be_port)

    def _request(self, url, host, port, headers, body, auth) -> _Response:
        try:
            resp = _put_expecting_continue(
                url, host, port, headers, body, auth,
                self.connect_timeout_seconds, self.read_timeout_seconds,
            )  # fmt: skip
        except TimeoutError:
            raise _Retryable(f"timed out talking to StarRocks at {host}:{port}") from None
        except ConnectionRefusedError:
            raise _Retryable(
                f"cannot reach StarRocks at {host}:{port} (connection refused)"
            ) from None
        except (OSError, http.client.HTTPException):
            raise _Retryable(
                f"cannot reach StarRocks at {host}:{port} (connection failed)"
            ) from None
        if resp.status_code == 401:
            raise WarehouseError(
                f"StarRocks authentication failed for user {self.user!r} at {host}:{port}"
            )
        return resp

    def _be_url(self, location: str) -> tuple[str, str, int]:
        """The BE URL from the FE's Location, with the configured host/port override."""
        parts = urlsplit(location)
        host = self.be_host_override or parts.hostname or self.host
        port = self.be_port_override or parts.port or 8040
        # Drop any userinfo: credentials travel only in the Authorization header.
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return urlunsplit((parts.scheme or "http", netloc, parts.path, parts.query, "")), host, port

    def _json(self, resp: _Response, host: str, port: int) -> dict:
        try:
            data = resp.json()
        except ValueError:
            raise _Retryable(f"non-JSON answer from StarRocks at {host}:{port}") from None
        if not isinstance(data, dict):
            raise _Retryable(f"unexpected answer from StarRocks at {host}:{port}")
        return data

    def _outcome(
        self, db: str, table: str, label: str, res: dict, body: bytes, *, already: bool
    ) -> _PartOutcome:
        out = _PartOutcome(
            label=label,
            already_loaded=already,
            rows_loaded=0 if already else int(res.get("NumberLoadedRows") or 0),
            rows_filtered=0 if already else int(res.get("NumberFilteredRows") or 0),
            bytes=0 if already else int(res.get("LoadBytes") or len(body)),
        )
        log.info(
            "stream load %s.%s label %s: %s, %d rows, %s ms",
            db,
            table,
            label,
            res.get("Status"),
            out.rows_loaded,
            res.get("LoadTimeMs", "?"),
        )
        return out

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)

    def _scrub(self, text: str) -> str:
        # Server text should never hold the password, but make sure it cannot leak.
        return text.replace(self._password, "***") if self._password else text


@dataclass(frozen=True)
class _Response:
    status_code: int
    headers: Message
    content: bytes

    def json(self) -> object:
        return json.loads(self.content)


def _put_expecting_continue(
    url: str,
    host: str,
    port: int,
    headers: dict[str, str],
    body: bytes,
    auth: tuple[str, str],
    connect_timeout: float,
    read_timeout: float,
) -> _Response:
    """One PUT with `Expect: 100-continue` honoured (see the module docstring)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
    try:
        conn.connect()
        conn.sock.settimeout(read_timeout)
        conn.putrequest("PUT", parts.path + (f"?{parts.query}" if parts.query else ""),
                        skip_accept_encoding=True)  # fmt: skip
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        for name, value in {**headers, "Authorization": f"Basic {token}"}.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()  # the headers only
        if _continue_expected(conn.sock):
            try:
                conn.sock.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed while we sent: read that answer
        response = http.client.HTTPResponse(conn.sock, method="PUT")
        response.begin()  # skips an interim 100 still unread
        return _Response(response.status, response.msg, response.read())
    finally:
        conn.close()


def _continue_expected(sock: socket.socket) -> bool:
    """Wait for the server's first answer: True once `100 Continue` was read (or after
    CONTINUE_WAIT_SECONDS of silence), False when a final answer came first (left
    unread in the socket for http.client)."""
    readable, _, _ = select.select([sock], [], [], CONTINUE_WAIT_SECONDS)
    if not readable:
        return True
    head = sock.recv(4096, socket.MSG_PEEK)
    if not head.split(b" ", 2)[1:2] == [b"100"]:
        return False
    # Consume the interim response (status line and headers) and nothing more.
    deadline = time.monotonic() + CONTINUE_WAIT_SECONDS
    while b"\r\n\r\n" not in head:
        if time.monotonic() > deadline:
            raise TimeoutError("interim response cut short")
        time.sleep(0.01)
        head = sock.recv(len(head) + 4096, socket.MSG_PEEK)
    sock.recv(head.index(b"\r\n\r\n") + 4)
    return True
