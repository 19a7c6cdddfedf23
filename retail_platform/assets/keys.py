"""Asset keys and the pool shared by the asset modules."""

import os

from dagster import AssetKey, Backoff, Jitter, RetryPolicy

from retail_platform.warehouse.base import ENTITIES, RAW_TABLES

SIMULATOR_KEYS = {entity: AssetKey(["simulator", entity]) for entity in ENTITIES}
RAW_KEYS = {table: AssetKey(["raw", table]) for table in RAW_TABLES}
# Every op that writes the warehouse runs in this pool; instance/dagster.yaml limits it to one
# at a time, which is what a single-writer DuckDB file needs.
WAREHOUSE_POOL = "warehouse"
# Ops that talk to the warehouse retry with backoff (3 s, 6 s, 12 s): loads are idempotent
# by label and dbt rebuilds from raw, so a retry after a dropped connection is safe.
# RETAIL_RETRY_DELAY_SECONDS sets the first wait (the test suite sets 0).
WAREHOUSE_RETRY = RetryPolicy(
    max_retries=3,
    delay=float(os.environ.get("RETAIL_RETRY_DELAY_SECONDS") or 3),
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.PLUS_MINUS,
)
