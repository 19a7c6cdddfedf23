"""An analyst's session on the published marts (`retail-sim query`'s way, snapshots.py),
held open for the whole soak (`--reader`)."""

from __future__ import annotations

import threading
from pathlib import Path

from retail_platform import snapshots


class Reader(threading.Thread):
    """An analyst's session held open for the whole soak: one DuckDB connection on the
    published marts (snapshots.py), queried every few seconds, never closed."""

    def __init__(self, folder: Path, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        import duckdb

        self.con = duckdb.connect()
        self.folder = folder
        self.every, self.stopping = every, threading.Event()
        self.reads, self.errors, self.last = 0, [], None

    def read(self) -> tuple[int, float] | None:
        if "fact_daily_sales" not in snapshots.create_views(self.con, self.folder):
            return None
        rows, revenue = self.con.execute(
            "select count(*), coalesce(sum(revenue), 0) from marts.fact_daily_sales"
        ).fetchone()
        return int(rows), float(revenue)

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                self.last = self.read() or self.last
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                self.errors.append(str(exc).splitlines()[0])

    def finish(self, warehouse: Path) -> list[str]:
        """After the platform stopped: the reader's view equals the warehouse's last build."""
        self.stopping.set()
        self.join()
        import duckdb

        final = self.read()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows, revenue = con.execute(
                "select count(*), coalesce(sum(revenue), 0) from marts.fact_daily_sales"
            ).fetchone()
        built = (int(rows), float(revenue))
        print()
        print(
            f"reader: one connection held for the whole soak, {self.reads} reads, "
            f"{len(self.errors)} errors{': ' + '; '.join(self.errors[:3]) if self.errors else ''}"
        )
        print(f"  fact_daily_sales (rows, revenue) read {final}, in the warehouse {built}")
        problems = [f"{len(self.errors)} reader errors"] if self.errors else []
        if final is None or final[0] != built[0] or abs(final[1] - built[1]) > 0.005:
            problems.append("the reader's marts differ from the last build")
        return problems
