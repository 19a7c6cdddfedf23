"""The warm dbt (retail_platform/dbt_server.py): a command it runs behaves as one run by a
dbt process of its own, and its build dies with the run worker that asked for it."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail_platform import dbt_server
from retail_platform.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR, DBT_SERVER_ENV

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dbt server is Linux-only (dbt_child.py)"
)
RETAIL_DBT = Path(sys.executable).parent / "retail-dbt"
# A build that is busy for minutes in Python (Jinja), where an interrupt lands at once.
SPIN = """{% macro spin() %}
  {% do log("spinning", info=True) %}
  {% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}
{% endmacro %}
"""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def start_server(path: Path, script: str = dbt_server.__file__) -> int:
    """A server at `path`, started as `retail-dbt` starts one; its pid once it answers.
    Started with SIGINT ignored, the worst case (a platform started from a shell that
    ignored it): what a caller forwards must still act on its build."""
    subprocess.Popen(
        [str(DBT_EXECUTABLE.parent / "python"), "-P", script, str(path), "120"],
        stderr=dbt_server.log_path(path).open("wb"),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    pid = dbt_server.wait_until_up(path, timeout=60)
    assert pid is not None, dbt_server.log_path(path).read_text()
    return pid


def server_log(folder: Path) -> str:
    """What the server fixture's server wrote to its log (start_server)."""
    log = dbt_server.log_path(folder / "dbt.sock")
    return log.read_text() if log.exists() else ""


def builds_of(server: int) -> list[int]:
    """The server's forks that run a command (the ones that answer a probe exit unnamed)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive(int(entry)):
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(") ", 1)[1].split()[1])
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if ppid == server and comm == dbt_server.CHILD_NAME.decode():
                found.append(int(entry))
    return found


@pytest.fixture(params=["served", "own process"])
def server(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int | None]:
    """Commands run by a server of the test's own (its pid), or each in a dbt process of
    its own (None), as `RETAIL_DBT_SERVER=off` makes them."""
    if request.param == "own process":
        monkeypatch.setenv(DBT_SERVER_ENV, "off")
        yield None
        return
    path = tmp_path / "dbt.sock"
    monkeypatch.setenv(DBT_SERVER_ENV, str(path))
    pid = start_server(path)
    yield pid
    for build in builds_of(pid):  # what a failed test left behind
        os.kill(build, signal.SIGKILL)
    dbt_server.stop(path)


def run_operation(folder: Path, name: str, macro: str) -> list[str]:
    """`retail-dbt run-operation NAME` of a project of its own under `folder`, holding
    only `macro` (NAME's definition), on this project's profile."""
    project = folder / name
    (project / "macros").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(f"name: {name}\nversion: '1.0'\nprofile: retail\n")
    (project / "macros" / f"{name}.sql").write_text(macro)
    return [
        str(RETAIL_DBT), "run-operation", name, "--project-dir", str(project),
        "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(project / "target"),
        "--log-path", str(project / "logs"),
    ]  # fmt: skip


@pytest.fixture
def spin(tmp_path: Path, warehouse_path: Path) -> list[str]:
    """`retail-dbt run-operation spin`: a dbt command that runs for minutes."""
    return run_operation(tmp_path, "spin", SPIN)


def the_build(server: int | None, caller: int) -> int:
    """The pid that runs the command `caller` (retail-dbt) was given, once it runs."""
    if server is None:
        return caller  # retail-dbt became dbt
    deadline = time.monotonic() + 60
    while not (builds := builds_of(server)):
        assert time.monotonic() < deadline, "the server never started the build"
        time.sleep(0.1)
    return builds[0]


def test_a_command_behaves_as_in_a_dbt_process_of_its_own(server, tmp_path):
    """The same exit codes and output, for a good and a failing command, served or not."""
    (tmp_path / "no_project").mkdir()  # a folder, not a dbt project: dbt's own error
    good = subprocess.run(
        [
            str(RETAIL_DBT), "parse", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
            "--log-path", str(tmp_path / "logs"),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    bad = subprocess.run(
        [
            str(RETAIL_DBT), "run", "--project-dir", str(tmp_path / "no_project"),
            "--profiles-dir", str(DBT_PROJECT_DIR),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Performance info" in good.stdout  # dbt's last line of a parse
    assert (tmp_path / "target" / "manifest.json").exists()
    assert bad.returncode == 2
    assert "No dbt_project.yml found" in bad.stdout
    if server:
        assert not builds_of(server), "a command's fork outlived it"
        assert "killed" not in server_log(tmp_path)  # only real kills are logged


def test_the_build_dies_with_the_run_worker_that_started_it(server, spin, tmp_path):
    """A worker killed with SIGKILL takes its build with it: no orphan keeps the file."""
    worker = subprocess.Popen(
        [
            sys.executable, "-c",
            "import subprocess, sys, time\n"
            "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "print(child.pid, flush=True); time.sleep(600)",
            *spin,
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    build = the_build(server, int(worker.stdout.readline()))
    time.sleep(3)  # into the operation
    assert alive(build)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 5
    while alive(build) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(build), "the build outlived the worker that started it"
    if server:  # the caller only saw its socket close: the server's log says how
        deadline = time.monotonic() + 5
        while "killed" not in server_log(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)  # the server reaps its forks between commands, every second
        assert f"dbt (pid {build}) was killed by SIGKILL" in server_log(tmp_path)


@pytest.mark.parametrize("dbt_ended", [False, True])
def test_a_closed_caller_kills_a_build_only_before_dbt_ended(dbt_ended):
    """The caller closes its end when its worker dies, and also as soon as it has dbt's
    exit code: only the first is a reason for the build to kill itself (the second,
    racing the build's own exit, logged ended builds as killed)."""
    probe = (
        "import socket, threading, sys\n"
        "from retail_platform import dbt_server\n"
        "ours, callers = socket.socketpair()\n"
        "ended = threading.Event()\n"
        f"if {dbt_ended}: ended.set()\n"
        "obey = threading.Thread(target=dbt_server._obey, args=(ours, ended))\n"
        "obey.start(); callers.close(); obey.join(); print('exited on its own')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if dbt_ended:
        assert done.returncode == 0 and "exited on its own" in done.stdout, done
    else:
        assert done.returncode == -signal.SIGKILL, done


def test_an_interrupt_stops_the_build_as_it_stops_dbt(server, spin):
    """dagster-dbt stops a cancelled build with SIGINT to `retail-dbt`: dbt is interrupted
    and exits with its error code, served or not."""
    # SIGINT handled by default in the caller, as in a run worker, whatever started the
    # suite: bash without job control starts a background command with SIGINT ignored,
    # which retail-dbt and dbt keep (the next test).
    caller = subprocess.Popen(
        spin,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    build = the_build(server, caller.pid)
    out = ""
    while "spinning" not in out:
        out += caller.stdout.readline()
    time.sleep(1)
    caller.send_signal(signal.SIGINT)
    out += caller.communicate(timeout=30)[0]
    assert caller.returncode == 2, out  # dbt's code for an error it did not handle
    assert "KeyboardInterrupt" in out
    assert not alive(build)


def test_an_interrupt_the_caller_ignores_the_build_ignores(server, spin):
    """A signal ignored where `retail-dbt` starts is ignored by dbt, as exec keeps it."""
    caller = subprocess.Popen(
        spin,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    build = the_build(server, caller.pid)
    out = ""
    while "spinning" not in out:
        out += caller.stdout.readline()
    caller.send_signal(signal.SIGINT)
    time.sleep(2)
    try:
        assert alive(build) and caller.poll() is None, "an ignored SIGINT stopped the build"
    finally:
        caller.kill()
        caller.wait()


def test_forks_after_the_first_inherit_the_macro_templates_it_compiled(
    tmp_path, warehouse_path, monkeypatch
):
    """dbt compiles the Jinja template of every macro it calls, in every process: the
    server compiles the ones its first fork reported, and the next fork compiles none."""
    path = tmp_path / "dbt.sock"
    monkeypatch.setenv(DBT_SERVER_ENV, str(path))
    command = run_operation(
        tmp_path,
        "hello",
        "{% macro hello() %}{% do log('hello from ' ~ adapter.type(), info=True) %}{% endmacro %}",
    )
    pid = start_server(path)
    try:
        for _ in range(2):
            done = subprocess.run(command, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "hello from duckdb" in done.stdout
            deadline = time.monotonic() + 10  # reaped within the server's 1 s accept timeout
            while builds_of(pid) or "compiled" not in server_log(tmp_path):
                assert time.monotonic() < deadline, server_log(tmp_path)
                time.sleep(0.1)
            time.sleep(1.5)  # and what it reported, if anything, learned
        learned = re.findall(r"compiled (\d+) macro templates", server_log(tmp_path))
        assert len(learned) == 1, server_log(tmp_path)  # the second fork had them all
        assert int(learned[0]) >= 1  # hello
    finally:
        dbt_server.stop(path)


def last_line_of(probe: str) -> str:
    """What a probe of the server's patches (run in dbt's interpreter, given the
    server's file) printed last."""
    done = subprocess.run(
        [str(DBT_EXECUTABLE.parent / "python"), "-P", "-c", probe, dbt_server.__file__],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("\n")[-2]


FORMATTED_PROBE = """
import importlib.util, io, sys
spec = importlib.util.spec_from_file_location("server", sys.argv[1])
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
server._format_only_what_is_written()
from dbt_common.events import logger
from dbt_common.events.base_types import EventLevel, msg_from_base_event
from dbt.events.types import JinjaLogDebug, JinjaLogInfo
stream = io.StringIO()
config = logger.LoggerConfig(
    name="probe", level=EventLevel.INFO, line_format=logger.LineFormat.Json, output_stream=stream
)
json_logger = logger._JsonLogger(config)
formatted = []
create_line = json_logger.create_line
json_logger.create_line = lambda msg: formatted.append(msg.info.level) or create_line(msg)
for event in (JinjaLogDebug(msg="quiet"), JinjaLogInfo(msg="loud")):
    json_logger.write_line(msg_from_base_event(event))
print(formatted, "quiet" in stream.getvalue(), "loud" in stream.getvalue())
"""


def test_the_forks_format_only_the_events_a_logger_writes():
    """An info-level logger formats and writes the info event, and does not even format
    the debug one (dbt formats both, then drops the debug line: each statement's SQL)."""
    assert last_line_of(FORMATTED_PROBE) == "['info'] False True"


TYPES_PROBE = """
import datetime, importlib.util, sys
import agate
spec = importlib.util.spec_from_file_location("server", sys.argv[1])
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
from dbt_common.clients import agate_helper
rows = [{"day": datetime.date(2026, 3, 1), "n": 3, "x": 1.5, "name": "a", "at": "2026-03-01 10:00:00"}]
columns = list(rows[0])
def described(table):
    return [type(column.data_type).__name__ for column in table.columns], list(table.rows[0])
dbt_own = described(agate_helper.table_from_data_flat(rows, columns))
server._reuse_type_testers()
built = []
init = agate.TypeTester.__init__
agate.TypeTester.__init__ = lambda self, *a, **k: built.append(1) or init(self, *a, **k)
tables = [agate_helper.table_from_data_flat(rows, columns) for _ in range(3)]
tables.append(agate_helper.table_from_data_flat([{"n": 1}], ["n"]))
print(len(built), all(described(t) == dbt_own for t in tables[:3]), described(tables[3]))
"""


def test_the_forks_build_a_type_tester_once_per_set_of_text_columns():
    """dbt builds a type tester for every result it fetches (a parsedatetime calendar in
    each of its date types): here once per set of text columns, the one without any
    before the forks. The results are typed as dbt types them."""
    assert last_line_of(TYPES_PROBE) == "1 True (['Integer'], [1])"


def test_a_server_of_old_code_gives_way(tmp_path):
    """After `make setup` changed dbt or the server's code, the next command runs in a
    process of its own, and the old server exits."""
    path = tmp_path / "dbt.sock"
    script = tmp_path / "dbt_server.py"  # a copy, to age without touching the checkout's
    shutil.copy(dbt_server.__file__, script)
    pid = start_server(path, str(script))
    try:
        os.utime(script)
        assert dbt_server.run(path, [str(DBT_EXECUTABLE), "--version"], dict(os.environ)) is None
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid)
    finally:
        dbt_server.stop(path)
