"""What the platform keeps besides the warehouse data, and for how long.

One window, `RETAIL_RETENTION_MINUTES` (default 3 days, as long as StarRocks keeps load
labels), bounds everything that would otherwise grow with every batch:

- Dagster's run history: finished runs older than the window, with their event logs
  and compute logs, and sensor/schedule/automation ticks and evaluations (the
  `prune_history` sensor below; instance/dagster.yaml's `retention:` trims ticks by days too);
- dbt's per-invocation target folders (assets/dbt.py: removed after a successful
  build, a failed one's kept for its dbt.log until the window has passed);
- the DuckDB label ledger (warehouse/duckdb.py: `label_retention_seconds`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from retail_platform.dagster_internals import delete_run_file, forget_check_executions
from retail_platform.settings import retention_minutes

# The newest runs are kept whatever their age: they hold the latest materializations and
# observations that the automation and the raw sensor compare against.
KEEP_NEWEST_RUNS = 50
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def retention_window() -> timedelta:
    """The window, read when it is needed (never at import time)."""
    return timedelta(minutes=retention_minutes())


def prune_paths(paths: Iterable[Path], older_than: timedelta) -> int:
    """Remove the files and folders among `paths` last modified before `older_than` ago."""
    import shutil

    cutoff, removed = time.time() - older_than.total_seconds(), 0
    for path in paths:
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
        except FileNotFoundError:
            continue  # a parallel prune got there first
    return removed


@sensor(
    name="prune_history",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Delete finished runs (events, compute logs) and ticks older than RETAIL_RETENTION_MINUTES.",
)
def prune_history(context: SensorEvaluationContext):
    # A sensor, not a job: it runs in the code server already up, so pruning starts no
    # run process, and it launches nothing.
    instance, window = context.instance, retention_window()
    cutoff = datetime.now(UTC) - window
    newest = {r.dagster_run.run_id for r in instance.get_run_records(limit=KEEP_NEWEST_RUNS)}
    old = instance.get_run_records(
        RunsFilter(statuses=FINISHED, created_before=cutoff), limit=500, ascending=True
    )
    deleted: list[str] = []
    for record in old:
        run_id = record.dagster_run.run_id
        if run_id in newest:
            continue
        instance.delete_run(run_id)
        instance.compute_log_manager.delete_logs(prefix=[run_id])
        delete_run_file(instance, run_id)  # what delete_run leaves: dagster_internals.py
        deleted.append(run_id)
    forget_check_executions(instance, deleted)
    for state in instance.all_instigator_state():
        instance.purge_ticks(state.instigator_origin_id, state.selector_id, cutoff.timestamp())
    instance.schedule_storage.purge_asset_evaluations(cutoff.timestamp())
    return SkipReason(
        f"deleted {len(deleted)} finished runs and the ticks created before {cutoff:%Y-%m-%d %H:%M} UTC "
        f"(window {window})"
    )
