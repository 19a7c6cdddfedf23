"""Raw landing tables as observable source assets.

Any writer may append to them (the simulator assets, `retail-sim`, a user's own
loader), so Dagster learns of new rows by observing: the data version changes
exactly when the row count does, which is what eager dbt automation reacts to.
"""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DataVersion,
    MetadataValue,
    ObserveResult,
    multi_observable_source_asset,
)

from retail_platform.assets.simulator import SIMULATOR_KEYS
from retail_platform.warehouse.base import RAW_TABLES, TableState, Warehouse

RAW_KEYS = {table: AssetKey(["raw", table]) for table in RAW_TABLES}

RAW_SPECS = [
    AssetSpec(
        RAW_KEYS[table],
        deps=[SIMULATOR_KEYS[table.removeprefix("raw_")]],
        group_name="raw",
        description=f"Append-only landing table raw.{table}: load_label, loaded_at, JSON payload.",
    )
    for table in RAW_TABLES
]


def observation(key: AssetKey, state: TableState) -> ObserveResult:
    metadata: dict[str, object] = {"dagster/row_count": MetadataValue.int(state.row_count)}
    if state.last_loaded_at:
        metadata["dagster/last_updated_timestamp"] = MetadataValue.timestamp(state.last_loaded_at)
    return ObserveResult(
        asset_key=key, data_version=DataVersion(state.data_version), metadata=metadata
    )


@multi_observable_source_asset(specs=RAW_SPECS, can_subset=True, name="raw_tables")
def raw_tables(context: AssetExecutionContext, warehouse: Warehouse) -> Iterator[ObserveResult]:
    for key in context.selected_asset_keys:
        yield observation(key, warehouse.observe(key.path[-1]))
