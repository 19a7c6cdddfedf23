"""Simulator assets: each materialization generates one batch and loads it into raw."""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    ResourceParam,
    multi_asset,
)
from pydantic import Field

from retail_platform.assets.keys import (
    RAW_KEYS,
    SIMULATOR_KEYS,
    WAREHOUSE_POOL,
    WAREHOUSE_RETRY,
)
from retail_platform.assets.raw import observation
from retail_platform.simulator.batch import (
    DEFAULT_DIRTY_RATE,
    DEFAULT_SEED,
    DEFAULT_STEP_SECONDS,
    BatchSizes,
)
from retail_platform.warehouse.base import ENTITIES, Warehouse


class SimulatorConfig(Config):
    # Checked by the simulator itself (batch.validate_batch), as for the CLI.
    customers: int = Field(BatchSizes.customers, description="New customers in the batch (>= 0).")
    products: int = Field(BatchSizes.products, description="New products in the batch (>= 0).")
    orders: int = Field(BatchSizes.orders, description="New orders in the batch (>= 0).")
    seed: int = Field(DEFAULT_SEED, description="Same seed + same batch number = same payloads.")
    dirty_rate: float = Field(
        DEFAULT_DIRTY_RATE, description="Share of payloads with faults (0 to 1)."
    )
    step_minutes: int = Field(
        DEFAULT_STEP_SECONDS // 60, description="Simulated minutes each batch covers (> 0)."
    )


@multi_asset(
    name="simulator_batches",
    specs=[
        AssetSpec(SIMULATOR_KEYS["customers"], description="A batch of new and moved customers."),
        AssetSpec(SIMULATOR_KEYS["products"], description="A batch of new products."),
        AssetSpec(
            SIMULATOR_KEYS["orders"],
            description="A batch of new orders plus lifecycle updates of recent ones.",
            deps=[SIMULATOR_KEYS["customers"], SIMULATOR_KEYS["products"]],
        ),
    ],
    group_name="simulator",
    can_subset=True,
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
)
def simulator_batches(
    context: AssetExecutionContext, config: SimulatorConfig, warehouse: ResourceParam[Warehouse]
) -> Iterator[MaterializeResult]:
    # Imported here: the generator (Faker, pyarrow.compute) only in runs that generate.
    from retail_platform.simulator.runner import run_batch

    # In dependency order: a multi-asset must yield customers/products before orders.
    entities = [e for e in ENTITIES if SIMULATOR_KEYS[e] in context.selected_asset_keys]
    with warehouse.session():  # one connection for the loads and the counts after them
        outcome = run_batch(
            warehouse,
            sizes=BatchSizes(config.customers, config.products, config.orders),
            seed=config.seed,
            step_seconds=config.step_minutes * 60,
            dirty_rate=config.dirty_rate,
            entities=entities,
            on_progress=lambda entity, rows: context.log.info(f"loaded {rows} {entity} payloads"),
        )
        tables = [outcome.loads[entity].table for entity in entities]
        states = {table: warehouse.observe(table) for table in tables}
    rec = outcome.record
    # Observe the raw tables just written, in the run that builds downstream of them: the
    # look then finds nothing new, and automation sees the rows built in the same run.
    for table in tables:
        context.log_event(observation(RAW_KEYS[table], states[table]))
    for entity in entities:
        load = outcome.loads[entity]
        if load.already_loaded:
            context.log.info(f"batch {rec.batch_no} {entity} was already loaded: nothing changed")
        yield MaterializeResult(
            asset_key=SIMULATOR_KEYS[entity],
            metadata={
                **load.metadata(),
                "batch_no": rec.batch_no,
                "warehouse": warehouse.describe(),
            },
        )
