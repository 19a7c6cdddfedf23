"""A loopback stand-in for StarRocks Stream Load: a real FE port and a real BE port.

It follows the contract in /work/shared/STARROCKS.md closely enough for the client's
paths to be exercised for real (sockets, redirects, auth headers, JSON bodies):

- FE: demands Basic auth (401), rejects a missing ``Expect: 100-continue`` with the
  FAILED message, answers ``307`` with ``Location`` to the advertised BE address and
  closes the connection.
- BE: demands Basic auth, parses the JSON array body, stores rows per (db, table),
  remembers labels per db (a second use answers Label Already Exists / FINISHED).
  A request for a label already loaded that asks `Expect: 100-continue` is answered
  at once, before the body, and the connection closed without reading it (the body
  bytes a client sent anyway, not waiting for `100 Continue`, are logged).
- Scripted outcomes, per label or for the next N BE requests: ``fail``,
  ``publish_timeout`` (rows committed), ``running`` (another job with this label is
  in flight and commits the rows; later asks answer FINISHED).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUTCOMES = ("fail", "publish_timeout", "running")
NO_EXPECT_MESSAGE = "class com.starrocks.common.DdlException: There is no 100-continue header"


@dataclass(frozen=True)
class LoggedRequest:
    server: str  # "fe" or "be"
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body_bytes: int
    status_code: int
    load_status: str | None  # JSON Status answered, if any


class StreamLoadDouble:
    def __init__(self, user: str = "loader", password: str = "s3cr3t-pw") -> None:
        self.user, self.password = user, password
        # What the FE puts in Location (tests may advertise an unreachable BE).
        self.advertised_be_host = "127.0.0.1"
        self.advertised_be_port: int | None = None  # None: the real BE port
        self.rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self.labels: dict[tuple[str, str], str] = {}  # (db, label) -> "FINISHED"
        self.requests: list[LoggedRequest] = []
        self._by_label: dict[str, deque[str]] = defaultdict(deque)
        self._next: deque[str] = deque()
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # -- control --------------------------------------------------------------------------

    def script(self, label: str, *outcomes: str) -> None:
        """Answer the next requests for `label` with these outcomes, in order."""
        assert all(o in OUTCOMES for o in outcomes), outcomes
        self._by_label[label].extend(outcomes)

    def script_next(self, *outcomes: str) -> None:
        """Answer the next BE requests (any label) with these outcomes, in order."""
        assert all(o in OUTCOMES for o in outcomes), outcomes
        self._next.extend(outcomes)

    def table_rows(self, db: str, table: str) -> list[dict]:
        with self._lock:
            return list(self.rows[(db, table)])

    def be_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.server == "be"]

    @property
    def fe_port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def be_port(self) -> int:
        return self._servers[1].server_address[1]

    def start(self, fe_port: int = 0, be_port: int = 0) -> StreamLoadDouble:
        """Listen (again, after `stop()`, on the same ports when given: a server back up)."""
        self._servers = []
        for role, port in (("fe", fe_port), ("be", be_port)):
            server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self, role))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # -- behaviour --------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def _take_outcome(self, label: str) -> str | None:
        with self._lock:
            if self._by_label.get(label):
                return self._by_label[label].popleft()
            return self._next.popleft() if self._next else None

    def _be_load(self, db: str, table: str, label: str, body: bytes) -> dict:
        result = {"TxnId": len(self.requests) + 1, "Label": label, "Message": "OK"}
        outcome = self._take_outcome(label)
        with self._lock:
            if (db, label) in self.labels:
                return result | {
                    "Status": "Label Already Exists",
                    "ExistingJobStatus": "FINISHED",
                    "Message": f"Label [{label}] has already been used.",
                }
        if outcome == "fail":
            return result | {
                "Status": "Fail",
                "Message": "too many filtered rows",
                "ErrorURL": f"http://127.0.0.1:{self.be_port}/api/_load_error_log?file=err_{label}",
            }
        try:
            rows = json.loads(body)
            assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
            assert all(set(r) == {"load_label", "loaded_at", "payload"} for r in rows)
        except (ValueError, AssertionError):
            return result | {
                "Status": "Fail",
                "Message": "parse json failed",
                "ErrorURL": f"http://127.0.0.1:{self.be_port}/api/_load_error_log",
            }
        with self._lock:
            self.rows[(db, table)].extend(rows)
            self.labels[(db, label)] = "FINISHED"
        stats = {
            "NumberTotalRows": len(rows),
            "NumberLoadedRows": len(rows),
            "NumberFilteredRows": 0,
            "NumberUnselectedRows": 0,
            "LoadBytes": len(body),
            "LoadTimeMs": 3,
        }
        if outcome == "running":
            return result | {"Status": "Label Already Exists", "ExistingJobStatus": "RUNNING"}
        if outcome == "publish_timeout":
            return (
                result
                | stats
                | {
                    "Status": "Publish Timeout",
                    "Message": "transaction commit successfully, BUT data will be visible later",
                }
            )
        return result | stats | {"Status": "Success"}


def _handler(double: StreamLoadDouble, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 so http.server honours Expect: 100-continue as a real BE does.
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

        def handle_expect_100(self) -> bool:
            parts = self.path.split("?")[0].strip("/").split("/")
            label = self.headers.get("label", "")
            used = len(parts) == 4 and (parts[1], label) in double.labels
            if (
                role != "be"
                or not used
                or not double._authorized(self.headers.get("Authorization"))
            ):
                return super().handle_expect_100()  # 100 Continue, then do_PUT reads the body
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.close_connection = True
            self._answer_json(headers, 0, double._be_load(parts[1], parts[2], label, b""))
            # Log what a client sent anyway, without waiting for 100 Continue.
            self.connection.settimeout(0.3)
            try:
                sent = len(self.connection.recv(1 << 20))
            except OSError:
                sent = 0
            with double._lock:
                double.requests[-1] = replace(double.requests[-1], body_bytes=sent)
            return False

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 4 or parts[0] != "api" or parts[3] != "_stream_load":
                return self._answer(404, headers, len(body), None, b"not found")
            db, table = parts[1], parts[2]
            if not double._authorized(self.headers.get("Authorization")):
                return self._answer(401, headers, len(body), None, b"", auth_challenge=True)
            if role == "fe":
                if headers.get("expect", "").lower() != "100-continue":
                    return self._answer_json(
                        headers, len(body), {"Status": "FAILED", "Message": NO_EXPECT_MESSAGE}
                    )
                port = double.advertised_be_port or double.be_port
                location = f"http://{double.advertised_be_host}:{port}{self.path}"
                return self._answer(307, headers, len(body), None, b"", location=location)
            label = headers.get("label", "")
            self._answer_json(headers, len(body), double._be_load(db, table, label, body))

        def _answer_json(self, headers: dict, body_len: int, data: dict) -> None:
            self._answer(200, headers, body_len, data.get("Status"), json.dumps(data).encode())

        def _answer(
            self,
            code,
            headers,
            body_len,
            load_status,
            payload,
            *,
            location=None,
            auth_challenge=False,
        ) -> None:
            with double._lock:
                double.requests.append(
                    LoggedRequest(
                        role, self.command, self.path, headers, body_len, code, load_status
                    )
                )
            self.send_response(code)
            if location:
                self.send_header("Location", location)
            if auth_challenge:
                self.send_header("WWW-Authenticate", 'Basic realm=""')
            if role == "fe" or self.close_connection:  # the FE always closes after answering
                self.send_header("Connection", "close")
                self.close_connection = True
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
