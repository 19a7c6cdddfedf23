"""`make serve`: the deployed process layout, on this machine.

The same processes the compose file runs, each its own OS process:

- PostgreSQL for the Dagster instance (run, event-log and schedule storage), started
  from the OS binaries with its data under `.retail/serve/postgres`, unless
  DAGSTER_POSTGRES_HOST names one already running;
- the code location as a gRPC code server (`dagster code-server start`);
- `dagster-daemon run` and `dagster-webserver`, both loading the location from that
  server (deploy/workspace.yaml), on instance/dagster.yaml with deploy/dagster.yaml's
  PostgreSQL storage (retail_platform/instance.py merges the two).

A process that exits on its own is reported and started again (what the compose
file's `restart: unless-stopped` does there). Ctrl-C or SIGTERM stops them all, the
webserver first and Postgres last. Why not a process manager from PyPI: honcho stops
everything when one process exits (nickstenning/honcho#175); supervisor starts the next
program without waiting for the code server to answer (Supervisor/supervisor#122), which
the daemon and webserver need to load the location; circus can wait in a `before_start`
hook, but would bring ZeroMQ, Tornado and a control socket to replace the `Service` class
and the loop in `main`, while PostgreSQL, the instance and that wait stay here.

    .venv/bin/python deploy/serve.py [--port 3000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STATE = ROOT / ".retail" / "serve"
RESTARTS_PER_WINDOW = 5  # a process restarted more often than this in 5 minutes: give up


def log(message: str) -> None:
    print(f"[serve {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_binary(name: str) -> Path | None:
    """`initdb`/`pg_ctl` on PATH, or from Debian's postgresql package (not on PATH)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: p.parts[-3])
    return versions[-1] if versions else None


@dataclass
class LocalPostgres:
    """A PostgreSQL server of our own: `initdb` + `pg_ctl` into `data_dir`, loopback only.

    Postgres refuses to run as root; under root (containers, CI) the server runs as the
    `postgres` user that Debian's package creates.
    """

    data_dir: Path
    port: int
    user: str = "dagster"
    db: str = "dagster"

    def _run(self, *argv: str | Path) -> subprocess.CompletedProcess:
        argv_s = [str(a) for a in argv]
        if os.geteuid() == 0:
            argv_s = ["runuser", "-u", "postgres", "--", *argv_s]
        return subprocess.run(argv_s, capture_output=True, text=True, check=False)

    def start(self) -> dict[str, str]:
        initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb/pg_ctl): install it "
                "(Debian: apt-get install postgresql) or set DAGSTER_POSTGRES_HOST to a server"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            done = self._run(
                initdb, "-D", self.data_dir, "-U", self.user, "--auth=trust", "-E", "UTF8"
            )
            if done.returncode:
                raise RuntimeError(f"initdb failed:\n{done.stderr}")
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        logfile = self.data_dir / "server.log"
        done = self._run(pg_ctl, "-D", self.data_dir, "-o", options, "-l", logfile, "-w", "start")
        if done.returncode:
            raise RuntimeError(f"PostgreSQL did not start:\n{done.stderr}{done.stdout}")
        self._create_db()
        return self.env()

    def _create_db(self) -> None:
        self.create_database(self.db)

    def create_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        import psycopg2  # dagster-postgres' driver

        conn = psycopg2.connect(**self.connect_args("postgres"))
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{name}"')
        finally:
            conn.close()

    def connect_args(self, db: str | None = None) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "dbname": db or self.db}

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_POSTGRES_HOST": "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(self.port),
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": "",
            "DAGSTER_POSTGRES_DB": self.db,
        }

    def stop(self) -> None:
        pg_ctl = postgres_binary("pg_ctl")
        if pg_ctl and (self.data_dir / "postmaster.pid").exists():
            self._run(pg_ctl, "-D", self.data_dir, "-m", "fast", "-w", "stop")


@dataclass
class Service:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    starts: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        self.starts = [t for t in self.starts if t > time.monotonic() - 300] + [time.monotonic()]
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env, start_new_session=True)
        log(f"{self.name} started (pid {self.proc.pid})")

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        log(f"{self.name} stopped")


def prepare_instance(env: dict[str, str]) -> None:
    """DAGSTER_HOME with deploy/dagster.yaml's storage, once its PostgreSQL answers (retail_platform/instance.py)."""
    done = subprocess.run(
        [str(BIN / "python"), "-m", "retail_platform.instance", env["DAGSTER_HOME"],
         str(ROOT / "deploy" / "dagster.yaml")],
        env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the instance in {env['DAGSTER_HOME']} could not be prepared (above)")


def wait_for_code_server(port: int, env: dict[str, str], proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the code server exited while loading the definitions")
        probe = subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
            env=env, capture_output=True, check=False,
        )  # fmt: skip
        if probe.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError("the code server did not answer within 180 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DAGSTER_WEBSERVER_PORT", "3000"))
    )
    parser.add_argument("--host", default=os.environ.get("DAGSTER_WEBSERVER_HOST", "127.0.0.1"))
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=STATE,
        help="instance and PostgreSQL data (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env["DAGSTER_HOME"] = env.get("DAGSTER_HOME") or str(args.state_dir / "dagster_home")
    stopping = False

    def on_signal(signum, _frame):  # noqa: ANN001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    postgres = None
    if not env.get("DAGSTER_POSTGRES_HOST"):
        port = int(env.get("DAGSTER_POSTGRES_PORT") or free_port())
        postgres = LocalPostgres(args.state_dir / "postgres", port)
        try:
            env.update(postgres.start())
        except RuntimeError as exc:
            log(str(exc))
            return 2
        log(f"PostgreSQL on 127.0.0.1:{port} (data in {postgres.data_dir})")

    code_port = int(env.get("DAGSTER_CODE_SERVER_PORT") or free_port())
    env.update(DAGSTER_CODE_SERVER_HOST="127.0.0.1", DAGSTER_CODE_SERVER_PORT=str(code_port))
    workspace = str(ROOT / "deploy" / "workspace.yaml")
    code_server = Service(
        "code server",
        [str(BIN / "dagster"), "code-server", "start", "-m", "retail_platform.definitions",
         "-h", "127.0.0.1", "-p", str(code_port)],
    )  # fmt: skip
    others = [
        Service("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace]),
        Service(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                args.host,
                "-p",
                str(args.port),
            ],
        ),
    ]
    services = [code_server, *others]
    code = 0
    try:
        prepare_instance(env)
        code_server.start(env)
        wait_for_code_server(code_port, env, code_server.proc)
        for service in others:
            service.start(env)
        log(f"UI on http://{args.host}:{args.port}  (Ctrl-C stops everything)")
        while not stopping:
            time.sleep(1)
            for service in services:
                if stopping or service.proc.poll() is None:
                    continue
                log(f"{service.name} exited with status {service.proc.returncode}")
                if len(service.starts) >= RESTARTS_PER_WINDOW:
                    log(f"{service.name} exited {RESTARTS_PER_WINDOW} times in 5 minutes: stopping")
                    stopping, code = True, 1
                    break
                service.start(env)
    except RuntimeError as exc:
        log(str(exc))
        code = 1
    finally:
        for service in reversed(services):
            service.stop()
        if postgres:
            postgres.stop()
            log("PostgreSQL stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
