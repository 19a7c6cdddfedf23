"""A batch's parameters: defaults and the one check of them. Light (no numpy): the CLI's
argument parser and the simulator asset's config read it before anything runs."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SEED = 42
DEFAULT_STEP_SECONDS = 86_400  # one simulated day per batch: fact_daily_sales grows a day at a time
DEFAULT_DIRTY_RATE = 0.01


class SimulatorError(RuntimeError):
    """A simulator problem worth one clear line to the user."""


@dataclass(frozen=True)
class BatchSizes:
    customers: int = 200
    products: int = 20
    orders: int = 1_000


DEFAULT_SIZES = BatchSizes()


def validate_batch(sizes: BatchSizes, step_seconds: int, dirty_rate: float) -> None:
    """The one check of a batch's parameters (the CLI, the asset's config, run_batch)."""
    for name in ("customers", "products", "orders"):
        if getattr(sizes, name) < 0:
            raise SimulatorError(f"{name} must be >= 0, got {getattr(sizes, name)}")
    if step_seconds <= 0:
        raise SimulatorError(f"the step must be positive, got {step_seconds / 60:g} minutes")
    if not 0.0 <= dirty_rate <= 1.0:
        raise SimulatorError(f"the dirty rate must be between 0 and 1, got {dirty_rate}")
