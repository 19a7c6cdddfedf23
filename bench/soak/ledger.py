"""The runs the soak saw live (the retention window may delete some from the instance
before the summary), and the report of what the platform cost: queue waits, the CPU of
its process tree, its footprint."""

from __future__ import annotations

from collections import Counter

from bench import PEAK_RSS_BOUND_MIB
from bench.soak.footprint import report_footprint
from bench.soak.summary import dist
from devtools.live import TERMINAL, Dev


class RunLedger:
    """Every run seen through GraphQL while the soak runs: the retention window may delete
    runs from the instance before the report, so failures and queue waits are counted here."""

    QUERY = """{ runsOrError(limit: 200) { ... on Runs { results {
        runId jobName status creationTime startTime endTime } } } }"""

    def __init__(self) -> None:
        self.runs: dict[str, dict] = {}

    def poll(self, dev: Dev) -> None:
        for r in dev.gql(self.QUERY)["runsOrError"]["results"]:
            self.runs[r["runId"]] = r

    def active(self, job: str | None = None) -> int:
        return sum(
            1 for r in self.runs.values()
            if r["status"] not in TERMINAL and (job is None or r["jobName"] == job)
        )  # fmt: skip

    def finished(self, job: str, status: str = "SUCCESS") -> int:
        return sum(1 for r in self.runs.values() if r["jobName"] == job and r["status"] == status)


def breakdown(cats: dict[str, float], per: float) -> str:
    """CPU seconds by process kind, largest first, divided by `per`."""
    ordered = sorted(cats.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / per:.2f}" for k, v in ordered if v >= 0.05)


def report_platform(ledger: RunLedger, cpu: dict, samples: list) -> int:
    """CPU of the dagster dev tree, queue waits of every run, footprint per batch."""
    problems = []
    print()
    print("runs seen while the soak ran (incl. runs the retention window has deleted since):")
    by = Counter((r["jobName"], r["status"]) for r in ledger.runs.values())
    for (job, status), n in sorted(by.items()):
        print(f"  {job:<22} {status:<10} {n}")
    failed = [r for r in ledger.runs.values() if r["status"] == "FAILURE"]
    if failed:
        problems.append(f"{len(failed)} failed runs (ledger)")
    waits = [r["startTime"] - r["creationTime"] for r in ledger.runs.values() if r["startTime"]]
    print(
        f"queue + start wait (created -> started, s): {dist(waits)}; over 60 s: {sum(w > 60 for w in waits)}"
    )
    print()
    print("CPU of the dagster dev process tree (user+sys, incl. exited processes):")
    if "idle" in cpu:
        c, wall, cats = cpu["idle"]
        print(f"  idle:    {c / wall * 60:6.2f} CPU-s per minute  ({c:.1f} in {wall:.0f} s)")
        print(f"           {breakdown(cats, wall / 60)}  (per minute)")
    if "batches" in cpu:
        c, wall, cats, n = cpu["batches"]
        per = c / n if n else float("nan")
        print(
            f"  batches: {per:6.2f} CPU-s per batch  ({c:.1f} in {wall:.0f} s, {n} batches, {c / wall * 60:.2f} per minute)"
        )
        print(f"           {breakdown(cats, max(n, 1))}  (per batch)")
    if cpu.get("peak_mib"):
        peaks = sorted(cpu["peak_mib"].items(), key=lambda kv: -kv[1])
        print("peak RSS of one process, by kind (VmHWM, MiB; a soak's builds are incremental):")
        print("  " + ", ".join(f"{kind} {mib:,.0f}" for kind, mib in peaks if mib))
        kind, mib = peaks[0]
        verdict = "PASS" if mib <= PEAK_RSS_BOUND_MIB else "FAIL"
        print(f"  largest: {kind} {mib:,.0f}  target <= {PEAK_RSS_BOUND_MIB:,}: {verdict}")
    report_footprint(samples)
    return 1 if problems else 0
