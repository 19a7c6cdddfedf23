"""Asset keys and the pool shared by the asset modules."""

from dagster import AssetKey

from retail_platform.warehouse.base import RAW_TABLES

ENTITIES = ("customers", "products", "orders")
SIMULATOR_KEYS = {entity: AssetKey(["simulator", entity]) for entity in ENTITIES}
RAW_KEYS = {table: AssetKey(["raw", table]) for table in RAW_TABLES}
# Every op that writes the warehouse runs in this pool; dagster.yaml limits it to one
# at a time, which is what a single-writer DuckDB file needs.
WAREHOUSE_POOL = "warehouse"
