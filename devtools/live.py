"""A live platform to watch from outside: `dagster dev` (or `make serve`'s processes) on
a DAGSTER_HOME and a DuckDB file of the caller's, on a loopback port, and its GraphQL API
(the webserver's `/graphql`, what the UI itself asks).

    home, warehouse = tmp / "dagster_home", tmp / "warehouse.duckdb"
    prepare_home(home)                  # retail_platform.instance
    init_warehouse(warehouse)
    dev = Dev(home, warehouse, free_port(), tmp / "dagster_dev.log")
    dev.wait_loaded(timeout=180)
    run_id = dev.launch("generate_job")
    ...
    dev.kill()
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from retail_platform import dbt_server
from retail_platform.settings import DBT_SERVER_ENV

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "retail_platform"
REPOSITORY = "__repository__"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# `dagster dev` warns at every start that it is superseded by `dg dev` (dagster-dg-cli,
# not installed here; the command still works in 1.13). Exactly that line is silenced,
# so any other start-up warning stands out (the Makefile's `dev` does the same).
DEV_SUPERSEDED = "ignore:Function `dev_command` is superseded"


def logger(tool: str) -> Callable[[str], None]:
    """A `log(message)` printing `[tool HH:MM:SS] message` at once."""

    def log(message: str) -> None:
        print(f"[{tool} {time.strftime('%H:%M:%S')}] {message}", flush=True)

    return log


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def warehouse_env(warehouse: Path) -> dict[str, str]:
    """This process's environment, with `warehouse` as the platform's DuckDB file."""
    return {**os.environ, "RETAIL_DUCKDB_PATH": str(warehouse), "RETAIL_WAREHOUSE": "duckdb"}


def init_warehouse(warehouse: Path) -> None:
    """The schemas and raw tables in `warehouse`, made as `make setup` makes them."""
    subprocess.run(
        [str(BIN / "retail-sim"), "init"],
        cwd=ROOT, env=warehouse_env(warehouse), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def local_postgres(data_dir: Path):
    """`make serve`'s PostgreSQL (deploy/serve.py), not started yet, on a free port: for a
    harness that reads the instance after the platform has stopped."""
    from deploy.serve import LocalPostgres

    return LocalPostgres(data_dir, free_port())


class Dev:
    """`dagster dev` (or, with `serve_state`, `make serve`'s deploy/serve.py) in a process
    group of its own, and its GraphQL endpoint."""

    def __init__(
        self, home: Path, warehouse: Path, port: int, logfile: Path, serve_state: Path | None = None
    ):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/graphql"
        env = warehouse_env(warehouse)
        env.update(DAGSTER_HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
        # A warm dbt of its own (retail_platform/dbt_server.py), unless the caller's
        # environment turns it off: started by its first build, metered with the tree,
        # stopped by kill().
        self.dbt_server: Path | None = None
        if env.get(DBT_SERVER_ENV, "").strip().lower() != "off":
            self.dbt_server = logfile.parent / "dbt.sock"
            env[DBT_SERVER_ENV] = str(self.dbt_server)
        self.env = env
        self.logfile = logfile.open("wb")
        # `python -W` filters only the dagster dev process itself (its services are
        # processes of their own): see DEV_SUPERSEDED.
        argv = [str(BIN / "python"), "-W", DEV_SUPERSEDED, "-m", "dagster", "dev"]
        argv += ["-w", "workspace.yaml", "-h", "127.0.0.1"]
        if serve_state:  # code server, daemon, webserver as separate processes
            argv = [str(BIN / "python"), "deploy/serve.py", "--state-dir", str(serve_state)]
        self.proc = subprocess.Popen(
            [*argv, "-p" if not serve_state else "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole on exit
        )

    def gql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # GraphQL validation errors come as 400
            raise RuntimeError(f"GraphQL {exc.code}: {exc.read()[:500]!r}") from None
        if data.get("errors"):
            raise RuntimeError(f"GraphQL errors: {data['errors']}")
        return data["data"]

    def wait_loaded(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.proc.returncode}")
            try:
                entries = self.gql(query, timeout=5)["workspaceOrError"]["locationEntries"]
                entry = next(e for e in entries if e["name"] == LOCATION)
                loaded = entry["locationOrLoadError"]
                if entry["loadStatus"] == "LOADED" and loaded:
                    if loaded["__typename"] == "PythonError":
                        raise RuntimeError(f"code location failed to load: {loaded['message']}")
                    return
                last = entry["loadStatus"]
            except (OSError, StopIteration, KeyError, TypeError) as exc:
                last = repr(exc)
            time.sleep(1)
        raise RuntimeError(f"dagster dev not ready after {timeout:.0f} s ({last})")

    @staticmethod
    def selector(**name: str) -> dict:
        """A schedule's, sensor's or job's selector: `selector(sensorName="x")`."""
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, **name}

    def launch(self, job: str, run_config: dict | None = None) -> str:
        """Launch a run of `job` (with `run_config`, the launchpad's YAML as a dict); its id."""
        params = {"selector": self.selector(jobName=job)}
        if run_config:
            params["runConfigData"] = run_config
        data = self.gql(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
                __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {"p": params},
        )["launchRun"]
        if data["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launchRun {job}: {data}")
        return data["run"]["runId"]

    def start_schedule(self, name: str) -> None:
        result = self.gql(
            """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
                __typename ... on PythonError { message } ... on ScheduleStateResult {
                scheduleState { status } } } }""",
            {"s": self.selector(scheduleName=name)},
        )["startSchedule"]
        if result["__typename"] != "ScheduleStateResult":
            raise RuntimeError(f"startSchedule {name}: {result}")

    def stop_schedule(self, name: str) -> None:
        state = self.gql(
            """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
                __typename ... on Schedule { scheduleState { id status } } } }""",
            {"s": self.selector(scheduleName=name)},
        )["scheduleOrError"]["scheduleState"]
        if state["status"] == "RUNNING":
            self.gql(
                "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                {"id": state["id"]},
            )

    def stop_sensor(self, name: str) -> None:
        state = self.gql(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                __typename ... on Sensor { sensorState { id status } } } }""",
            {"s": self.selector(sensorName=name)},
        )["sensorOrError"].get("sensorState")
        if state and state["status"] == "RUNNING":  # (None: no such sensor in this code)
            self.gql(
                "mutation($id: String) { stopSensor(id: $id) { __typename } }", {"id": state["id"]}
            )

    def kill(self, timeout: float = 20) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after `timeout`."""
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)  # stragglers (run workers) of the group
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.dbt_server:
            dbt_server.stop(self.dbt_server)
        self.logfile.close()
