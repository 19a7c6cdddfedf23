"""What the platform keeps besides the warehouse data (DAGSTER_HOME by part, dbt's
folders, the label ledger), sampled while the soak runs, and its growth per batch."""

from __future__ import annotations

import statistics
from pathlib import Path

from devtools.live import ROOT
from retail_platform import snapshots


def footprint(home: Path, warehouse: Path) -> dict[str, int]:
    """Bytes of what the platform keeps besides the warehouse data."""
    from retail_platform.warehouse.base import WarehouseError
    from retail_platform.warehouse.duckdb import DuckDBWarehouse

    def size(files) -> int:
        total = 0
        for f in files:
            try:  # pruning, dbt, SQLite (its -wal / -journal files) and the marts'
                # publication remove files while we count
                if f.is_file() and not f.is_symlink():
                    total += f.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def du(path: Path) -> int:
        return size(path.rglob("*")) if path.exists() else 0

    history = home / "history"
    out = {
        "DAGSTER_HOME": du(home),
        "  ticks+evaluations": du(home / "schedules"),
        "  run storage": size(history.glob("runs.db*")),
        "  event index": size((history / "runs").glob("index.db*")),
        "  event log per run": size(
            f for f in (history / "runs").glob("*.db*") if not f.name.startswith("index.db")
        ),
        "  compute logs": du(home / "storage"),
        "dbt target": du(ROOT / "dbt_project" / "target"),
        "dbt logs": du(ROOT / "dbt_project" / "logs"),
        # The marts' copies for readers grow with the marts (data): shown, not in the total.
        " marts copies": du(snapshots.snapshot_dir(warehouse)),
        # What the window holds varies with the batch rate: bytes per kept run do not.
        " runs kept": runs_kept(history / "runs.db"),
    }
    # Bookkeeping tables, in bytes of their values: the label ledger (dbt keeps none of
    # its own: its incremental state is the run stamp on the models' rows).
    sql = {
        "ledger raw._loads": "select coalesce(sum(length(label) + length(table_name) + 16), 0) from raw._loads",
    }
    wh = DuckDBWarehouse(path=str(warehouse))
    for name, query in sql.items():
        try:
            out[name] = int(wh.query(query, lock_timeout_seconds=5)[0][0])
        except WarehouseError:
            out[name] = -1  # busy or not there yet
    return out


def runs_kept(runs_db: Path) -> int:
    """Runs in the instance's run storage (SQLite; -1 elsewhere or while busy)."""
    import sqlite3

    if not runs_db.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{runs_db}?mode=ro", uri=True, timeout=2) as con:
            return con.execute("select count(*) from runs").fetchone()[0]
    except sqlite3.Error:
        return -1


def report_footprint(samples: list[tuple[int, dict[str, int]]]) -> None:
    """Bytes kept besides the warehouse data, by part, over the batches: the first
    half against the second, and the second half's trend (needs 4 samples)."""
    if len(samples) < 4:
        return
    print()
    print("footprint besides the warehouse data (bytes):")
    names = list(samples[-1][1])
    half = samples[len(samples) // 2]
    first, last = samples[0], samples[-1]
    print(
        f"  {'':<20} {'at ' + str(first[0]):>14} {'at ' + str(half[0]):>14} {'at ' + str(last[0]):>14}  per batch, 2nd half"
    )
    for name in names:
        growth = (last[1][name] - half[1][name]) / max(1, last[0] - half[0])
        print(
            f"  {name:<20} {first[1][name]:>14,} {half[1][name]:>14,} {last[1][name]:>14,}  {growth:12,.0f}"
        )
    total = lambda s: sum(v for k, v in s[1].items() if v > 0 and not k.startswith(" "))  # noqa: E731
    early = (total(half) - total(first)) / max(1, half[0] - first[0])
    late = (total(last) - total(half)) / max(1, last[0] - half[0])
    print(f"  total per batch: first half {early:,.0f} B, second half {late:,.0f} B")
    # Two samples land at different phases of prune_history's 5-minute cycle: the
    # trend of every sample of the second half says more than their difference.
    second = [(sample[0], total(sample)) for sample in samples[len(samples) // 2 :]]
    xs, ys = [b for b, _ in second], [t for _, t in second]
    slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
    print(
        f"  second half, {len(second)} samples: total between {min(ys):,} and {max(ys):,} B, "
        f"trend {slope:,.0f} B per batch"
    )
    # The window keeps more runs when batches come faster: per kept run, a bounded
    # footprint is flat whatever the rate.
    per_run = [(b, total((b, f)) / f[" runs kept"]) for b, f in samples[len(samples) // 2 :]]
    per_run = [(b, v) for b, v in per_run if v > 0]
    if len(per_run) > 2:
        kept = [f[" runs kept"] for _, f in samples[len(samples) // 2 :]]
        xs, ys = [b for b, _ in per_run], [v for _, v in per_run]
        slope = statistics.linear_regression(xs, ys).slope
        print(
            f"  runs kept in the second half: {min(kept)} to {max(kept)}; bytes per kept run "
            f"{min(ys):,.0f} to {max(ys):,.0f}, trend {slope:,.0f} B per batch"
        )
    step = max(1, len(samples) // 12)
    series = ", ".join(f"{b}: {total((b, f)) / 1e6:.1f}" for b, f in samples[::step])
    print(f"  total MB by batches done: {series}")
