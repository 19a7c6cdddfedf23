"""A warm dbt: each dbt command runs in a fork of a process that has imported dbt already.

Over a quarter of a batch's `dbt build` went before dbt read the project: Python's start
and importing dbt (mashumaro compiles its dataclasses) and its adapters. This server pays
that once. So too the Jinja templates of the macros a build calls, which dbt compiles in
every process that calls them (0.3 to 0.7 CPU-s of a build): each fork reports the ones
it compiled, and the server compiles them for the forks after it. And dbt formats
every event for every logger before the logger's level drops it (each statement's SQL,
as JSON and through its secrets regex, twice): here only the events a logger writes
are formatted (`_format_only_what_is_written`), and dbt builds the type tester of each
query's result once per set of text columns, not once per query (`_reuse_type_testers`).

`retail-dbt` (dbt_child.py) connects to its Unix socket and sends its argv,
environment and working directory with its stdin, stdout and stderr (the file
descriptors themselves, so dagster-dbt reads dbt's events from the same pipe as
before); the server forks, and the child becomes that dbt command: it runs dbt's own
command-line entry point and sends back the exit code. The server itself never opens a
warehouse.

A child is bound to its caller as a dbt process is to the run worker that started it:
the caller dies with the worker (`PR_SET_PDEATHSIG`), its end of the socket closes, and
the child kills itself; a signal the caller receives (dagster-dbt's SIGINT when a run is
cancelled) is forwarded to the child.

`retail-dbt` starts the server when it finds none (and runs that command itself, the
old way). The server exits after `idle` seconds without a command, and at the first
command after dbt's environment or this file changed on disk (the caller then runs dbt
itself and starts a new server).

Runs in .venv-dbt's interpreter as a script (`python -P dbt_server.py SOCKET IDLE`) and
is imported by `retail-dbt` in the Dagster venv: the standard library only, apart from
dbt. Linux only (dbt_child.py).
"""

from __future__ import annotations

import atexit
import ctypes
import faulthandler
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import NamedTuple

PR_SET_NAME = 15
# The names `ps -o comm` and /proc/PID/comm show: the forks share the server's cmdline.
SERVER_NAME, CHILD_NAME = b"retail-dbt-srv", b"retail-dbt"
# What a caller passes on to its build (dagster-dbt stops a cancelled one with SIGINT).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Macro templates a server keeps compiled for its forks: a project's builds call ~150.
TEMPLATES_KEPT = 2000


# --- the caller's side (retail-dbt) ---------------------------------------------------


class Ended(NamedTuple):
    code: int  # dbt's exit code
    peak_rss_kib: int | None  # the build's own peak RSS (None: it died without saying)


def run(
    path: Path, argv: list[str], env: dict[str, str], fds: tuple[int, int, int] = (0, 1, 2)
) -> Ended | None:
    """Run one dbt command in the server at `path`, with `fds` as its stdin, stdout and
    stderr; how it ended, or None when no server took it (none listening, or one about
    to exit): the caller then runs dbt itself."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        sock.settimeout(10)  # a live server forks at once; a stopped one is no server
        request = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}).encode() + b"\n"
        sent = socket.send_fds(sock, [request], list(fds))
        sock.sendall(request[sent:])
        reply = _Lines(sock)
        started = reply.next()
        if not started.startswith("started "):
            sock.close()
            return None
        sock.settimeout(None)
    except OSError:
        sock.close()
        return None

    def forward(signum: int, _frame: object) -> None:
        try:
            sock.sendall(f"signal {signum}\n".encode())
        except OSError:
            pass  # the child is gone: its exit code (or EOF) is on its way

    # A signal this process ignores is not passed on: dbt would have ignored it too.
    forwarded = [s for s in FORWARDED if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, forward) for signum in forwarded}
    try:
        done = reply.next()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
    if done.startswith("exit "):
        _, code, peak = done.split()
        return Ended(int(code), int(peak))
    pid = started.split()[1]
    print(
        f"retail-dbt: dbt (pid {pid}, in the dbt server) ended without an exit code "
        f"(the server logs how: {log_path(path)})",
        file=sys.stderr,
    )
    return Ended(1, None)


def log_path(path: Path) -> Path:
    """Where the server at `path` writes its errors and how each build it ran was killed."""
    return path.with_suffix(".log")


def start(path: Path, python: Path, env: dict[str, str], idle: float) -> None:
    """Start a server at `path` in the background, for the next command."""
    try:
        err = open(log_path(path), "wb")  # the server's own errors, if any
    except OSError:
        return  # no folder for it: every command runs in a process of its own
    with err:
        subprocess.Popen(
            # -P: not this file's folder on sys.path, where dbt would take the project's
            # dbt_*.py modules for plugins of its own and import them.
            [str(python), "-P", __file__, str(path), f"{idle:g}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # a Ctrl-C meant for the caller's terminal is not for it
        )


def server_pid(path: Path) -> int | None:
    """The pid of the server that answers at `path`, if one does."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[0]
    except OSError:
        return None
    finally:
        sock.close()


def wait_until_up(path: Path, timeout: float) -> int | None:
    """The pid of the server at `path` once it answers, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (pid := server_pid(path)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid


def stop(path: Path) -> None:
    """Stop the server at `path`, if one answers there (builds in flight run to their end)."""
    pid = server_pid(path)
    if pid:
        os.kill(pid, signal.SIGTERM)


class _Lines:
    """Newline-terminated messages from a stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def next(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                return ""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


# --- the server -------------------------------------------------------------------------


def _stamp() -> tuple[int, int]:
    """Changes when this file or the installed packages change (`make setup`, an upgrade)."""
    return (
        os.stat(__file__).st_mtime_ns,
        os.stat(sysconfig.get_paths()["purelib"]).st_mtime_ns,
    )


def _set_name(name: bytes) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_NAME, name, 0, 0, 0)


def serve(path: Path, idle: float) -> None:
    # The point of the server: dbt and its adapters imported once, here. Nothing that
    # starts a thread or opens a warehouse (a fork keeps only the forking thread).
    import dbt.cli.main  # noqa: F401

    for adapter in ("dbt.adapters.duckdb", "dbt.adapters.starrocks"):
        importlib.import_module(adapter)
    _format_only_what_is_written()
    _reuse_type_testers()

    stamp = _stamp()
    _set_name(SERVER_NAME)
    os.chdir("/")  # each command gets its caller's; the server holds no folder of anyone's
    stopping = threading.Event()  # SIGTERM (stop()): the loop ends within a second
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    bound = _listen(path)
    if bound is None:
        return  # another server answers there
    listener, ours = bound
    listener.settimeout(1.0)
    reports = Path(tempfile.mkdtemp(prefix="retail-dbt-templates-"))  # the forks' reports
    children: set[int] = set()
    last = time.monotonic()
    try:
        while True:
            for pid in _reaped(children):
                children.discard(pid)
                _learn_templates(reports / str(pid))
            if stopping.is_set():
                return
            if not children and (time.monotonic() - last > idle or not _holds(path, ours)):
                return  # unused, or a server started at the same moment took the path
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if _stamp() != stamp:
                conn.close()  # the caller runs dbt itself, and starts a server of the new code
                return
            pid = os.fork()
            if pid == 0:
                # A build acts on what its caller forwards (only the signals the caller
                # does not ignore) as a dbt of the caller's own would, whatever the
                # server was started with: a SIGINT ignored where the server started
                # would keep a cancelled run's build going.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                listener.close()
                _child(conn, reports)  # never returns
            conn.close()
            children.add(pid)
            last = time.monotonic()
    finally:
        if _holds(path, ours):
            path.unlink(missing_ok=True)
        listener.close()
        shutil.rmtree(reports, ignore_errors=True)


def _listen(path: Path) -> tuple[socket.socket, int] | None:
    """A listening socket at `path` and the file's inode, unless a live server holds it."""
    if server_pid(path) is not None:
        return None
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Bound under a name of its own, then renamed over a dead server's socket file:
    # a caller never finds no file at all while a server starts.
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    listener.bind(str(tmp))
    os.chmod(tmp, 0o600)
    listener.listen(16)
    inode = os.stat(tmp).st_ino
    os.replace(tmp, path)
    return listener, inode


def _holds(path: Path, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _reaped(children: set[int]) -> set[int]:
    done = set()
    for pid in children:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            if reaped:
                done.add(pid)
                if os.WIFSIGNALED(status):  # to the server's log: the caller only saw EOF
                    sig = signal.Signals(os.WTERMSIG(status)).name
                    print(f"dbt (pid {pid}) was killed by {sig}", file=sys.stderr, flush=True)
        except ChildProcessError:
            done.add(pid)
    return done


def _format_only_what_is_written() -> None:
    """Make dbt's loggers format an event only when they write it. `_Logger.write_line`
    formats the line first (`create_line`: the event as JSON, then a regex for secrets
    over it) and lets the Python logger drop it by level after: the debug events of
    every statement, with its SQL, for the JSON stdout and for the file log at `warn`.
    The same lines are written (test_dbt_server.py); about 0.4 CPU-s less a build."""
    from dbt_common.events import logger

    write_line = logger._Logger.write_line

    def write_line_if_written(self, msg) -> None:
        python_logger = self._python_logger
        if python_logger is None:
            return  # the line went nowhere
        level = logger._log_level_map[logger.EventLevel(msg.info.level)]
        if logger._is_print_event(msg) or python_logger.isEnabledFor(level):
            write_line(self, msg)

    logger._Logger.write_line = write_line_if_written


def _reuse_type_testers() -> None:
    """Make dbt build the type tester of a query's result once per set of text columns.
    dbt builds one for every statement it fetches (`table_from_data_flat`), and its Date
    and DateTime types each build a parsedatetime calendar: a third of the ~5 ms each
    query costs dbt, some 280 queries a build. A tester holds only its settings (dbt's
    own DEFAULT_TYPE_TESTER is shared the same way), so the types are the same."""
    import functools

    from dbt_common.clients import agate_helper

    build = functools.lru_cache(maxsize=256)(agate_helper.build_type_tester)

    def build_type_tester(text_columns, string_null_values=("null", "")):
        nulls = None if string_null_values is None else tuple(string_null_values)
        return build(frozenset(text_columns), nulls)

    agate_helper.build_type_tester = build_type_tester
    build_type_tester((), ())  # the forks inherit it: a result without text columns


def _learn_templates(report: Path) -> None:
    """Compile the macro templates a fork reported compiling for itself into dbt's own
    cache (keyed by a macro's text, and compiled the same whatever calls it), so the
    forks after it inherit them. A text that does not compile is left to the forks, which
    report its error with its node."""
    try:
        texts = json.loads(report.read_text())
    except (OSError, ValueError):
        return  # no report: the fork compiled nothing new, or died first
    finally:
        report.unlink(missing_ok=True)
    from dbt_common.clients.jinja import get_template, template_cache

    cache = template_cache.file_cache
    compiled = 0
    for text in texts:
        if text not in cache and len(cache) < TEMPLATES_KEPT:
            try:
                cache[text] = get_template(text, ctx={})
            except Exception:
                continue
            compiled += 1
    if compiled:
        print(
            f"compiled {compiled} macro templates for the next builds", file=sys.stderr, flush=True
        )


def _report_templates(folder: Path, inherited: set[str]) -> None:
    """Name, for the server, the macro templates this fork compiled (_learn_templates)."""
    from dbt_common.clients.jinja import template_cache

    texts = [text for text in template_cache.file_cache if text not in inherited]
    if texts:
        report = folder / str(os.getpid())
        partial = report.with_suffix(".partial")  # the server reads a whole report or none
        partial.write_text(json.dumps(texts))
        partial.rename(report)


def _child(conn: socket.socket, reports: Path) -> None:
    """Become the caller's dbt command; exit with its code."""
    code = 1
    try:
        conn.settimeout(None)
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        while not data.endswith(b"\n"):
            chunk = conn.recv(1 << 16)
            if not chunk:
                os._exit(1)
            data += chunk
        request = json.loads(data)
        for target, fd in enumerate(fds):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.chdir(request["cwd"])
        _set_name(CHILD_NAME)
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)  # events reach dagster-dbt as dbt emits them
        conn.sendall(f"started {os.getpid()}\n".encode())
        faulthandler.enable()  # a crash says where, on the caller's stderr, not only "ended"
        ended = threading.Event()
        threading.Thread(target=_obey, args=(conn, ended), daemon=True).start()
        sys.argv = request["argv"]
        from dbt_common.clients.jinja import template_cache

        inherited = set(template_cache.file_cache)
        code = _dbt_main()
        atexit._run_exitfuncs()  # as dbt's exit would (multiprocessing's clean-up among them)
        sys.stdout.flush()
        sys.stderr.flush()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, as wait4 reports it
        ended.set()  # the caller closes its end once it has the code: not a reason to die
        conn.sendall(f"exit {code} {peak}\n".encode())
        _report_templates(reports, inherited)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _obey(conn: socket.socket, ended: threading.Event) -> None:
    """Signals from the caller; when the caller is gone (its end closed) before dbt
    ended, die at once."""
    lines = _Lines(conn)
    while True:
        try:
            line = lines.next()
        except OSError:
            line = ""
        if not line:
            if ended.is_set():
                return  # exiting with dbt's code
            os.kill(os.getpid(), signal.SIGKILL)
        if line.startswith("signal "):
            os.kill(os.getpid(), int(line.split()[1]))


def _dbt_main() -> int:
    """dbt's console script, as `.venv-dbt/bin/dbt` runs it, with its exit code."""
    from dbt.cli.main import cli

    try:
        cli()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(sys.argv[2]))
