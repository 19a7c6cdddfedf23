"""One simulator batch end to end: plan from the batch log, generate, load, log.

Shared by the Dagster assets and the ``retail-sim`` CLI, so both continue one story.
Exactly-once without transactions across tables: every chunk loads under a label
derived from (seed, batch, entity, chunk), and the batch log row is written last.
A run that dies half-way is re-run by planning the same batch again from the same
log: chunks already loaded are skipped by label, the rest load, then the log row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from retail_platform.simulator import dirty
from retail_platform.simulator.batch import (
    DEFAULT_DIRTY_RATE,
    DEFAULT_SEED,
    DEFAULT_SIZES,
    DEFAULT_STEP_SECONDS,
    BatchSizes,
    SimulatorError,
    validate_batch,
)
from retail_platform.simulator.generator import (
    BatchRecord,
    customers_batch,
    orders_batch,
    plan_batch,
    products_batch,
)
from retail_platform.warehouse.base import (
    ENTITIES,
    RAW_SCHEMA,
    RAW_TABLE,
    SIM_BATCHES_TABLE,
    LoadResult,
    Warehouse,
)

# Rows per load request: big enough to keep StarRocks tablet versions low, small enough
# to stream millions of orders in bounded memory. Fixed, since labels depend on it.
CHUNK_ROWS = 100_000


@dataclass
class EntityLoad:
    entity: str
    table: str
    results: list[LoadResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.results)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.results]

    @property
    def already_loaded(self) -> bool:
        return bool(self.results) and all(r.already_loaded for r in self.results)

    def metadata(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "label": self.labels[0]
            if len(self.labels) == 1
            else ",".join(self.labels[:3]) + ("..." if len(self.labels) > 3 else ""),
            "requests": len(self.results),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "already_loaded": self.already_loaded,
            "rows_filtered": sum(r.rows_filtered for r in self.results),
        }


@dataclass
class BatchOutcome:
    record: BatchRecord
    loads: dict[str, EntityLoad]


def batch_label(seed: int, batch_no: int, entity: str, chunk: int) -> str:
    return f"sim_s{seed}_b{batch_no:07d}_{entity}_c{chunk:05d}"


def read_log(warehouse: Warehouse) -> list[BatchRecord]:
    rows = warehouse.query(f"select payload from {RAW_SCHEMA}.{SIM_BATCHES_TABLE}")
    by_batch: dict[int, BatchRecord] = {}
    for (payload,) in rows:
        rec = BatchRecord.from_json(payload)
        by_batch.setdefault(rec.batch_no, rec)
    return sorted(by_batch.values(), key=lambda r: r.batch_no)


def _chunks(entity: str, rec: BatchRecord, log: list[BatchRecord]) -> Iterator[pa.Array]:
    if entity == "customers":
        yield customers_batch(rec.seed, rec, log)
    elif entity == "products":
        yield products_batch(rec.seed, rec)
    else:
        yield from orders_batch(rec.seed, rec, log, CHUNK_ROWS)


def generate_payloads(
    rec: BatchRecord, log: list[BatchRecord], entity: str
) -> Iterator[tuple[str, pa.Array]]:
    """(label, payload strings) per chunk of one entity of a batch, faults included."""
    full_log = [r for r in log if r.batch_no < rec.batch_no] + [rec]
    for chunk, payloads in enumerate(_chunks(entity, rec, full_log)):
        label = batch_label(rec.seed, rec.batch_no, entity, chunk)
        stream = rec.batch_no * 1_000 + chunk * 10 + ENTITIES.index(entity)
        yield (
            label,
            dirty.inject(entity, payloads, seed=rec.seed, stream=stream, rate=rec.dirty_rate),
        )


def run_batch(
    warehouse: Warehouse,
    *,
    sizes: BatchSizes = DEFAULT_SIZES,
    seed: int = DEFAULT_SEED,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    dirty_rate: float = DEFAULT_DIRTY_RATE,
    entities: Iterable[str] = ENTITIES,
    on_progress: Callable[[str, int], None] | None = None,
) -> BatchOutcome:
    """Generate and load the next batch of the selected entities."""
    validate_batch(sizes, step_seconds, dirty_rate)
    selected = [e for e in ENTITIES if e in set(entities)]
    with warehouse.session():  # one connection for the whole batch
        return _run_batch(warehouse, selected, sizes, seed, step_seconds, dirty_rate, on_progress)


def _run_batch(
    warehouse: Warehouse,
    selected: list[str],
    sizes: BatchSizes,
    seed: int,
    step_seconds: int,
    dirty_rate: float,
    on_progress: Callable[[str, int], None] | None,
) -> BatchOutcome:
    warehouse.setup()  # idempotent: a fresh warehouse needs no separate init step
    log = read_log(warehouse)
    rec = plan_batch(
        log,
        seed=seed,
        customers=sizes.customers if "customers" in selected else 0,
        products=sizes.products if "products" in selected else 0,
        orders=sizes.orders if "orders" in selected else 0,
        step_seconds=step_seconds,
        dirty_rate=dirty_rate,
    )
    if rec.orders_count and not (rec.customers_total and rec.products_total):
        raise SimulatorError(
            "orders need customers and products: generate customers and products first"
        )
    loads: dict[str, EntityLoad] = {}
    for entity in selected:
        load = loads[entity] = EntityLoad(entity, RAW_TABLE[entity])
        started = time.perf_counter()
        for label, payloads in generate_payloads(rec, log, entity):
            load.results.append(warehouse.load_batch(load.table, label, payloads))
            if on_progress:
                on_progress(entity, len(payloads))
        load.seconds = time.perf_counter() - started
    # Written last: the batch exists for the next plan only once all of it is loaded.
    warehouse.load_batch(
        SIM_BATCHES_TABLE, batch_label(seed, rec.batch_no, "log", 0), [rec.to_json()]
    )
    return BatchOutcome(rec, loads)
