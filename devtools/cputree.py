"""CPU seconds (user+sys) of a whole process tree, including the processes that exited.

`dagster dev` starts a webserver, a daemon and a code server, and every run is one
more process (plus dbt's) that lives for seconds. Sampling live processes misses most
of that, so the meter counts it the way the kernel does:

- the meter makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a process
  whose parent dies before it (a run worker's orphaned `dbt`) is re-parented to it
  instead of to init, and its CPU time stays in the tree;
- total = for every live process of the tree, its own user+sys plus its reaped
  children's (`cutime`/`cstime` in /proc/PID/stat, which a parent collects when it
  waits on a child, recursively), plus what the meter itself reaped.

Categories (webserver, daemon, code server, run workers, dbt, ...) come from sampling
`/proc` every `interval` seconds: a process that lives shorter than that is counted by
its parent's `cutime` in the total, and only its category may be missed. So does each
category's peak RSS: the largest `VmHWM` (the kernel's own high-water mark of a
process) seen, which misses only what a process grows in its last `interval`.
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@dataclass
class Proc:
    pid: int
    ppid: int
    own: float  # utime + stime
    reaped: float  # cutime + cstime
    cmdline: str
    state: str  # "R", "S", ...; "Z": exited, not yet waited for


def read_proc(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    own, reaped = (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK
    return Proc(pid, int(fields[1]), own, reaped, cmd, fields[0])


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the highest RSS of the process's life so far (0 once it exited or vanished)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def processes() -> dict[int, Proc]:
    """Every process this one can see, by pid."""
    found = (read_proc(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return {p.pid: p for p in found if p}


def category(cmd: str) -> str:
    if "dagster-webserver" in cmd or "dagster_webserver" in cmd:
        return "webserver"
    if "dagster-daemon" in cmd or "dagster._daemon" in cmd or " daemon run" in cmd:
        return "daemon"
    if "spawn_main" in cmd or "multiprocessing" in cmd:
        return "run workers"
    if "api grpc" in cmd or "code-server" in cmd:
        return "code server"
    # dbt_server.py: the warm dbt and the builds it forks
    if "/dbt " in cmd or cmd.endswith("/dbt") or " dbt " in cmd or "dbt_server.py" in cmd:
        return "dbt"
    if " dev " in cmd or cmd.endswith(" dev"):
        return "dagster dev"
    return "other"


@dataclass
class Meter:
    """Meters the tree under `root_pid` (a child of this process) from now on."""

    root_pid: int
    exclude: set = field(default_factory=set)  # pids that are not the tree's (a CPU burner)
    interval: float = 0.5
    by_category: Counter = field(default_factory=Counter)
    peak_kib: Counter = field(default_factory=Counter)  # category -> largest VmHWM seen
    _last: dict = field(default_factory=dict)  # pid -> (category, own, reaped)
    _reaped_self: float = 0.0
    _base: float = 0.0

    def __post_init__(self) -> None:
        self._children_base = self._children_cpu()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._base = self._sample()
        self.by_category.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def _tree(self) -> list[Proc]:
        procs = processes()
        me, out, stack = os.getpid(), [], [self.root_pid]
        # Orphans re-parented to this (subreaper) process belong to the tree too.
        stack += [
            p.pid for p in procs.values()
            if p.ppid == me and p.pid != self.root_pid and p.pid not in self.exclude
        ]  # fmt: skip
        children: dict[int, list[int]] = {}
        for p in procs.values():
            children.setdefault(p.ppid, []).append(p.pid)
        seen = set()
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in procs:
                continue
            seen.add(pid)
            out.append(procs[pid])
            stack += children.get(pid, [])
        return out

    def _reap_orphans(self, tree: list[Proc]) -> None:
        """Reap re-parented orphans that exited (not the root: its owner waits on it)."""
        for p in tree:
            if p.ppid == os.getpid() and p.pid != self.root_pid and p.pid not in self.exclude:
                try:
                    os.waitpid(p.pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def _sample(self) -> float:
        with self._lock:
            tree = self._tree()
            self._reap_orphans(tree)
            total = sum(p.own + p.reaped for p in tree)
            total += self._children_cpu() - self._children_base
            alive = set()
            for p in tree:
                alive.add(p.pid)
                cat = category(p.cmdline)
                _, own0, _ = self._last.get(p.pid, (cat, 0.0, 0.0))
                self.by_category[cat] += max(0.0, p.own - own0)
                self.peak_kib[cat] = max(self.peak_kib[cat], peak_rss_kib(p.pid))
                self._last[p.pid] = (cat, p.own, p.reaped)
            for pid in list(self._last):
                if pid not in alive:
                    del self._last[pid]
            return total

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def total(self) -> float:
        """CPU seconds used by the tree since the meter started."""
        return self._sample() - self._base

    def categories(self) -> dict[str, float]:
        with self._lock:
            return dict(self.by_category)

    def peaks_mib(self) -> dict[str, float]:
        """Each category's largest peak RSS (MiB): the highest of its processes seen."""
        with self._lock:
            return {cat: kib / 1024 for cat, kib in self.peak_kib.items()}

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.total()


class Window:
    """CPU seconds and wall time between two points of a meter's life."""

    def __init__(self, meter: Meter):
        self.meter = meter
        self.cpu0, self.t0 = meter.total(), time.monotonic()
        self.cat0 = meter.categories()

    def close(self) -> tuple[float, float, dict[str, float]]:
        cpu, wall = self.meter.total() - self.cpu0, time.monotonic() - self.t0
        cats = self.meter.categories()
        return cpu, wall, {k: v - self.cat0.get(k, 0.0) for k, v in cats.items()}
