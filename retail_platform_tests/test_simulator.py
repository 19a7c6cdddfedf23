"""The simulator: reproducible, consistent references, a living business."""

import json
from collections import Counter
from datetime import datetime

import numpy as np

from retail_platform.simulator import runner
from retail_platform.simulator.generator import BatchRecord, plan_batch
from retail_platform.simulator.runner import BatchSizes, run_batch
from retail_platform.warehouse.duckdb import DuckDBWarehouse

PAYLOADS = "select load_label, payload::varchar from raw.{t} order by 1, 2"


def docs(warehouse, table):
    return [json.loads(p) for (p,) in warehouse.query(f"select payload::varchar from raw.{table}")]


def test_same_seed_and_batch_give_identical_payloads(tmp_path):
    a = DuckDBWarehouse(path=str(tmp_path / "a.duckdb"))
    b = DuckDBWarehouse(path=str(tmp_path / "b.duckdb"))
    for wh in (a, b):
        for _ in range(3):
            run_batch(wh, sizes=BatchSizes(60, 10, 300), dirty_rate=0.05, seed=7)
    for table in ("raw_customers", "raw_products", "raw_orders"):
        assert a.query(PAYLOADS.format(t=table)) == b.query(PAYLOADS.format(t=table))
    # A different seed tells another story.
    c = DuckDBWarehouse(path=str(tmp_path / "c.duckdb"))
    run_batch(c, sizes=BatchSizes(60, 10, 300), dirty_rate=0.05, seed=8)
    assert (
        c.query(PAYLOADS.format(t="raw_orders"))[:10]
        != a.query(PAYLOADS.format(t="raw_orders"))[:10]
    )


def test_generation_is_a_pure_function_of_the_log():
    log: list[BatchRecord] = []
    for _ in range(2):
        log.append(
            plan_batch(
                log, seed=3, customers=50, products=5, orders=200, step_seconds=3600, dirty_rate=0.1
            )
        )
    rec = log[-1]
    once = [(label, arr.to_pylist()) for label, arr in runner.generate_payloads(rec, log, "orders")]
    twice = [
        (label, arr.to_pylist()) for label, arr in runner.generate_payloads(rec, log, "orders")
    ]
    assert once == twice


def test_references_clock_and_updates(warehouse):
    for _ in range(4):
        run_batch(warehouse, sizes=BatchSizes(100, 12, 500), dirty_rate=0, step_seconds=86_400)
    customers, products, orders = (
        docs(warehouse, t) for t in ("raw_customers", "raw_products", "raw_orders")
    )
    customer_ids = {c["customer_id"] for c in customers}
    product_ids = {p["product_id"] for p in products}
    assert all(o["customer_id"] in customer_ids for o in orders)
    assert all(i["product_id"] in product_ids for o in orders for i in o["items"])
    assert all(1 <= len(o["items"]) <= 5 for o in orders)

    # Orders spread over the simulated days, following a daily rhythm.
    days = Counter(o["order_ts"][:10] for o in orders)
    assert len(days) >= 4
    hours = Counter(int(o["order_ts"][11:13]) for o in orders)
    assert hours[20] > 3 * hours[3]

    # Popularity is skewed: the top tenth of products sells far more than the bottom half.
    sold = Counter(i["product_id"] for o in orders for i in o["items"])
    ranked = sorted(sold.values(), reverse=True)
    assert sum(ranked[: max(1, len(ranked) // 10)]) > sum(ranked[len(ranked) // 2 :])

    # Later batches carry updates: orders move through their lifecycle, customers move.
    versions = Counter(o["order_id"] for o in orders)
    assert max(versions.values()) >= 2
    by_order: dict[int, list[dict]] = {}
    for o in orders:
        by_order.setdefault(o["order_id"], []).append(o)
    lifecycle = ["placed", "paid", "shipped", "delivered", "returned"]
    for history in by_order.values():
        history.sort(key=lambda o: o["updated_at"])
        statuses = [o["status"] for o in history]
        if "cancelled" not in statuses:
            assert [lifecycle.index(s) for s in statuses] == sorted(
                lifecycle.index(s) for s in statuses
            )
        assert (
            len({o["order_ts"] for o in history}) == 1
            and len({json.dumps(o["items"]) for o in history}) == 1
        )
    assert {"paid", "shipped", "delivered"} <= {o["status"] for o in orders}
    moved = Counter(c["customer_id"] for c in customers)
    assert any(n > 1 for n in moved.values())
    for cid in [c for c, n in moved.items() if n > 1][:20]:
        versions_ = sorted(
            (c for c in customers if c["customer_id"] == cid), key=lambda c: c["updated_at"]
        )
        assert versions_[0]["signup_ts"] == versions_[-1]["signup_ts"]
        assert (versions_[0]["city"], versions_[0]["email"]) != (
            versions_[-1]["city"],
            versions_[-1]["email"],
        )

    # Prices vary by category.
    by_category: dict[str, list[float]] = {}
    for p in products:
        by_category.setdefault(p["category"], []).append(p["unit_price"])
    medians = {c: np.median(v) for c, v in by_category.items() if len(v) >= 3}
    if "electronics" in medians and "grocery" in medians:
        assert medians["electronics"] > 3 * medians["grocery"]
    assert all(
        datetime.fromisoformat(o["updated_at"]) >= datetime.fromisoformat(o["order_ts"])
        for o in orders
    )


def test_dirty_rate_injects_every_fault_kind(warehouse):
    run_batch(warehouse, sizes=BatchSizes(300, 60, 3000), dirty_rate=0.3)
    texts = [p for (p,) in warehouse.query("select payload::varchar from raw.raw_orders")]
    parsed = [json.loads(t) for t in texts]
    assert any(isinstance(p, str) for p in parsed), "malformed JSON kept as a JSON string"
    objects = [p for p in parsed if isinstance(p, dict)]
    assert any(p.get("order_id") is None for p in objects)
    assert any(
        p.get("status") not in {"placed", "paid", "shipped", "delivered", "cancelled", "returned"}
        for p in objects
    )
    assert any(i["quantity"] <= 0 for p in objects for i in p["items"])
    assert any(isinstance(i["unit_price"], str) for p in objects for i in p["items"])
    assert any(p["customer_id"] > 10**8 for p in objects)
    assert any(i["product_id"] > 10**8 for p in objects for i in p["items"])
    assert any(not p["updated_at"].endswith("Z") for p in objects)
    assert len(texts) > len(set(texts)), "exact duplicates"
