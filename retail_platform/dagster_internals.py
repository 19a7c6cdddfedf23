"""Where the platform relies on Dagster beyond its public API: housekeeping that no public
API does (Dagster 1.13), each piece here and nowhere else.

- `forget_check_executions`: `DagsterInstance.delete_run` deletes a run's events but not
  its asset check executions, an index table of their own (dagster-io/dagster#18341,
  open); without this, about 140 KB a batch of dbt tests and checks is never removed.
- `delete_run_file`: SQLite event storage keeps one file per run that `delete_run`
  empties but leaves (about 150 KB each, a run a minute); no upstream issue asks for it.
- `seed_run_retry_cursors`: with run retries on, the daemon's run-retry consumer reads
  the event log from a cursor per event type; a fresh instance has none, so it logs a
  WARNING per type at its first start and starts from the newest event. Storing that
  same starting point first leaves the behaviour unchanged and the start-up quiet.

retail_platform_tests/test_dagster_internals.py holds a test for each that fails, naming
the upstream issue or Dagster source file, when a Dagster upgrade changes what it relies
on. Two more live apart, a storage each: sqlite_storage.py and postgres_storage.py (the
instances' pooled storages, dagster-io/dagster#33935), so that processes on SQLite never
import dagster-postgres.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

# The daemon's own key names (dagster/_daemon/auto_run_reexecution/event_log_consumer.py:
# `_create_cursor_key` of its `DAGSTER_EVENT_TYPES`), built from the event types' stored
# values (e.g. PIPELINE_FAILURE).
RUN_RETRY_CURSOR_KEYS = tuple(
    f"EVENT_LOG_CONSUMER_CURSOR-{event_type.value}"
    for event_type in (DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_SUCCESS)
)


def forget_check_executions(instance: DagsterInstance, run_ids: Iterable[str]) -> None:
    """Delete the asset check executions of (deleted) runs `run_ids`, but each check's
    latest, in the event log's own table (SQLite and Postgres alike)."""
    run_ids = list(run_ids)
    connect = getattr(instance.event_log_storage, "index_connection", None)
    if not run_ids or connect is None:
        return
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as table

    latest = sa.select(sa.func.max(table.c.id)).group_by(table.c.asset_key, table.c.check_name)
    statement = table.delete().where(table.c.run_id.in_(run_ids), table.c.id.not_in(latest))
    with connect() as conn:
        conn.execute(statement)


def delete_run_file(instance: DagsterInstance, run_id: str) -> None:
    """Remove the per-run file of SQLite event storage (a deleted run's, left empty)."""
    storage = instance.event_log_storage
    if storage.is_run_sharded:  # SQLite's default storage; Postgres keeps no file per run
        Path(storage.path_for_shard(run_id)).unlink(missing_ok=True)


def seed_run_retry_cursors(instance: DagsterInstance) -> None:
    """Store the run-retry consumer's cursors where it would start without them (the
    newest event); cursors already there (the daemon moved them) are kept."""
    cursors, keys = instance.daemon_cursor_storage, set(RUN_RETRY_CURSOR_KEYS)
    missing = keys - cursors.get_cursor_values(keys).keys()
    if missing:
        newest = instance.event_log_storage.get_maximum_record_id() or 0
        cursors.set_cursor_values({key: str(newest) for key in missing})
