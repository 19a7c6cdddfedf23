"""Raw landing tables as observable source assets.

Any writer may append to them (the simulator assets, `retail-sim`, a user's own
loader), so Dagster learns of new rows by observing: the data version changes
exactly when the row count does, which is what eager dbt automation reacts to.
"""

import warnings
from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetSpec,
    BetaWarning,
    DataVersion,
    MetadataValue,
    ObserveResult,
    ResourceParam,
    multi_observable_source_asset,
)

from retail_platform.assets.keys import RAW_KEYS, SIMULATOR_KEYS
from retail_platform.warehouse.base import RAW_TABLES, TableState, Warehouse

# The tag Dagster reads an observation's data version from: what an observable source's
# `DataVersion` becomes, so an observation logged by another op counts the same.
DATA_VERSION_TAG = "dagster/data_version"

RAW_SPECS = [
    AssetSpec(
        RAW_KEYS[table],
        deps=[SIMULATOR_KEYS[table.removeprefix("raw_")]],
        group_name="raw",
        # No FreshnessPolicy: Dagster evaluates one from materializations only, so an
        # observed source stays "unknown". The marts carry it (end to end); here the
        # observations' `dagster/last_updated_timestamp` shows when rows last arrived.
        description=f"Append-only landing table raw.{table}: load_label, loaded_at, JSON payload.",
    )
    for table in RAW_TABLES
]


def _metadata(state: TableState) -> dict[str, MetadataValue]:
    metadata = {"dagster/row_count": MetadataValue.int(state.row_count)}
    if state.last_loaded_at:
        metadata["dagster/last_updated_timestamp"] = MetadataValue.timestamp(state.last_loaded_at)
    return metadata


def observation(key: AssetKey, state: TableState) -> AssetObservation:
    """The same observation as an event any op may log (the simulator does, right after loading)."""
    return AssetObservation(
        asset_key=key, metadata=_metadata(state), tags={DATA_VERSION_TAG: state.data_version}
    )


# multi_observable_source_asset is beta, and no stable API observes several source
# tables in one step; its warning, printed at every process start (each run, the code
# server), is nothing a user can act on. Only that one is silenced.
warnings.filterwarnings("ignore", message=".*multi_observable_source_asset.*", category=BetaWarning)


@multi_observable_source_asset(specs=RAW_SPECS, can_subset=True, name="raw_tables")
def raw_tables(
    context: AssetExecutionContext, warehouse: ResourceParam[Warehouse]
) -> Iterator[ObserveResult]:
    with warehouse.session():
        states = {key: warehouse.observe(key.path[-1]) for key in context.selected_asset_keys}
    for key, state in states.items():
        yield ObserveResult(
            asset_key=key, data_version=DataVersion(state.data_version), metadata=_metadata(state)
        )
