"""Naive reference generator: the per-row Faker style, kept as the benchmark baseline.

This is how a simulator is usually first written: loop over rows, call Faker once per
field, ``random.choice`` for categorical values, build a Python dict and ``json.dumps``
it. It produces the same payload shapes as ``retail_platform.simulator`` (see
docs/data_contract.md), including a share of dirty rows, but it is NOT used by the
product: ``bench/bench_simulator.py`` times it to show how far the vectorized
generator is ahead. Written plainly, not deliberately slowed.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from faker import Faker

STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled", "returned"]
CATEGORIES = ["electronics", "home", "clothing", "grocery", "beauty", "sports", "toys"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class NaiveGenerator:
    """Customers, products and orders as JSON payloads, one row at a time."""

    def __init__(self, seed: int = 42, dirty_rate: float = 0.01) -> None:
        self.fake = Faker()
        self.fake.seed_instance(seed)
        random.seed(seed)
        self.dirty_rate = dirty_rate

    def _window(self, day: int) -> tuple[datetime, datetime]:
        start = EPOCH + timedelta(days=day)
        return start, start + timedelta(days=1)

    def _dirty(self, row: dict, id_field: str) -> list[str]:
        """A few faults, the common way: mutate the dict before dumping it."""
        kind = random.choice(["malformed_json", "missing_id", "duplicate", "timestamp_format"])
        if kind == "missing_id":
            row[id_field] = None
        elif kind == "timestamp_format":
            row["updated_at"] = row["updated_at"].replace("T", " ").replace("Z", "+00:00")
        text = json.dumps(row)
        if kind == "malformed_json":
            return [json.dumps(text[: len(text) // 2])]
        if kind == "duplicate":
            return [text, text]
        return [text]

    def _emit(self, row: dict, id_field: str) -> list[str]:
        if random.random() < self.dirty_rate:
            return self._dirty(row, id_field)
        return [json.dumps(row)]

    def customer(self, customer_id: int, day: int = 0) -> list[str]:
        start, end = self._window(day)
        fake = self.fake
        signup = fake.date_time_between(start_date=start, end_date=end, tzinfo=UTC)
        row = {
            "customer_id": customer_id,
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "email": fake.email(),
            "city": fake.city(),
            "country": fake.country(),
            "signup_ts": signup.strftime(TS_FORMAT),
            "updated_at": signup.strftime(TS_FORMAT),
        }
        return self._emit(row, "customer_id")

    def product(self, product_id: int, day: int = 0) -> list[str]:
        start, end = self._window(day)
        fake = self.fake
        row = {
            "product_id": product_id,
            "name": f"{fake.word().title()} {fake.word().title()}",
            "category": random.choice(CATEGORIES),
            "unit_price": float(fake.pydecimal(left_digits=3, right_digits=2, positive=True)),
            "updated_at": fake.date_time_between(
                start_date=start, end_date=end, tzinfo=UTC
            ).strftime(TS_FORMAT),
        }
        return self._emit(row, "product_id")

    def order(self, order_id: int, n_customers: int, n_products: int, day: int = 0) -> list[str]:
        start, end = self._window(day)
        fake = self.fake
        order_ts = fake.date_time_between(start_date=start, end_date=end, tzinfo=UTC)
        updated = order_ts + timedelta(seconds=fake.random_int(0, 3 * 86_400))
        items = [
            {
                "product_id": fake.random_int(1, n_products),
                "quantity": fake.random_int(1, 4),
                "unit_price": float(fake.pydecimal(left_digits=3, right_digits=2, positive=True)),
            }
            for _ in range(random.randint(1, 5))
        ]
        row = {
            "order_id": order_id,
            "customer_id": fake.random_int(1, n_customers),
            "status": random.choice(STATUSES),
            "order_ts": order_ts.strftime(TS_FORMAT),
            "updated_at": updated.strftime(TS_FORMAT),
            "items": items,
        }
        return self._emit(row, "order_id")

    def orders(
        self, count: int, *, first_id: int = 1, n_customers: int = 10_000, n_products: int = 1_000
    ) -> list[bytes]:
        """``count`` orders as load-ready payload bytes (what a loader would send)."""
        out: list[bytes] = []
        for order_id in range(first_id, first_id + count):
            out += [p.encode() for p in self.order(order_id, n_customers, n_products)]
        return out


if __name__ == "__main__":
    gen = NaiveGenerator()
    for payload in gen.orders(3):
        print(payload.decode())
    print(gen.customer(1)[0])
    print(gen.product(1)[0])
