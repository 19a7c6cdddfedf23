"""An independent pandas computation of staging and marts from the raw payloads.

It follows docs/data_contract.md, not the dbt SQL: JSON is parsed by Python's json,
timestamps by datetime.fromisoformat, money by Decimal. Tests compare every mart
row with what this computes from the same raw rows.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

STATUSES = {"placed", "paid", "shipped", "delivered", "cancelled", "returned"}
CENT = Decimal("0.01")


def _ts(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:  # no zone means UTC (contract)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return int(number) if number == number.to_integral_value() else None


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).strip()).quantize(CENT)
    except ArithmeticError:
        return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _parse(text: str) -> object:
    # A malformed source payload is stored as a JSON string; StarRocks casts that to its
    # bare text, DuckDB to the quoted string: either way it is not an object.
    try:
        return json.loads(text)
    except ValueError:
        return text


def payload_key(text: str | None) -> str | None:
    """A payload as written, whatever text form the warehouse gives it: an object's keys
    and values, or a malformed payload's own text."""
    if text is None:
        return None
    doc = _parse(text)
    while isinstance(doc, str) and doc != text:  # a JSON string holding the raw text
        text, doc = doc, _parse(doc)
    return json.dumps(doc, sort_keys=True) if isinstance(doc, dict) else text


def raw_frame(rows: list[tuple]) -> pd.DataFrame:
    """(load_label, loaded_at, payload_text) rows -> frame with the parsed payload."""
    frame = pd.DataFrame(rows, columns=["load_label", "loaded_at", "payload_text"])
    frame["doc"] = [_parse(text) for text in frame["payload_text"]]
    # The first copy of an identical payload is the event; later copies are duplicates.
    frame = frame.sort_values(["loaded_at", "load_label"], kind="stable")
    frame["copy_no"] = frame.groupby("payload_text").cumcount()
    return frame


def _classify(frame: pd.DataFrame, id_field: str) -> pd.Series:
    def reason(row) -> str | None:
        if not isinstance(row.doc, dict):
            return "malformed_json"
        if _int(row.doc.get(id_field)) is None:
            return "missing_id"
        if row.copy_no > 0:
            return "duplicate"
        return None

    return frame.apply(reason, axis=1)


def _latest(frame: pd.DataFrame, id_field: str) -> pd.DataFrame:
    ordered = frame.sort_values(["updated_at", "loaded_at", "load_label"])
    return ordered.groupby(id_field, as_index=False).tail(1).sort_values(id_field)


@dataclass
class Truth:
    dim_customers: pd.DataFrame
    dim_products: pd.DataFrame
    fact_daily_sales: pd.DataFrame
    stg_orders: pd.DataFrame
    # each latest clean order's items, numbered from 1 in the payload's order
    stg_order_items: pd.DataFrame
    quarantine_counts: dict[str, dict[str, int]]
    # (reason, payload text) of every row set aside, per entity
    quarantined: dict[str, Counter]
    # distinct orders sold per order_date (an order may hold several products)
    orders_per_day: dict


def compute(customers: pd.DataFrame, products: pd.DataFrame, orders: pd.DataFrame) -> Truth:
    customers = customers.assign(reason=_classify(customers, "customer_id"))
    clean_c = customers[customers.reason.isna()].copy()
    clean_c["customer_id"] = [_int(d["customer_id"]) for d in clean_c.doc]
    for field in ("first_name", "last_name", "city"):
        clean_c[field] = [_text(d.get(field)) for d in clean_c.doc]
    clean_c["email"] = [(_text(d.get("email")) or "").lower() or None for d in clean_c.doc]
    clean_c["country"] = [d.get("country") for d in clean_c.doc]
    clean_c["signup_ts"] = [_ts(d.get("signup_ts")) for d in clean_c.doc]
    clean_c["updated_at"] = [_ts(d.get("updated_at")) for d in clean_c.doc]
    dim_customers = _latest(clean_c, "customer_id")[
        [
            "customer_id",
            "first_name",
            "last_name",
            "email",
            "city",
            "country",
            "signup_ts",
            "updated_at",
        ]
    ]

    products = products.assign(reason=_classify(products, "product_id"))
    clean_p = products[products.reason.isna()].copy()
    clean_p["product_id"] = [_int(d["product_id"]) for d in clean_p.doc]
    clean_p["product_name"] = [_text(d.get("name")) for d in clean_p.doc]
    clean_p["category"] = [_text(d.get("category")) for d in clean_p.doc]
    clean_p["unit_price"] = [_money(d.get("unit_price")) for d in clean_p.doc]
    clean_p["updated_at"] = [_ts(d.get("updated_at")) for d in clean_p.doc]
    dim_products = _latest(clean_p, "product_id")[
        ["product_id", "product_name", "category", "unit_price", "updated_at"]
    ]

    known_customers = set(dim_customers.customer_id)
    known_products = set(dim_products.product_id)
    base = _classify(orders, "order_id")

    def order_reason(doc: object, first: str | None) -> str | None:
        if first is not None:
            return first
        items = doc.get("items") or []
        if any((_int(i.get("quantity")) or 0) <= 0 for i in items):
            return "invalid_quantity"
        if _int(doc.get("customer_id")) not in known_customers:
            return "unknown_customer"
        if any(_int(i.get("product_id")) not in known_products for i in items):
            return "unknown_product"
        return None

    orders = orders.assign(
        reason=[
            order_reason(d, r if isinstance(r, str) else None)
            for d, r in zip(orders.doc, base, strict=True)
        ]
    )
    clean_o = orders[orders.reason.isna()].copy()
    clean_o["order_id"] = [_int(d["order_id"]) for d in clean_o.doc]
    clean_o["customer_id"] = [_int(d["customer_id"]) for d in clean_o.doc]
    clean_o["status"] = [d["status"].strip().lower() for d in clean_o.doc]
    clean_o["order_ts"] = [_ts(d.get("order_ts")) for d in clean_o.doc]
    clean_o["updated_at"] = [_ts(d.get("updated_at")) for d in clean_o.doc]
    latest = _latest(clean_o, "order_id")
    assert set(latest.status) <= STATUSES, set(latest.status) - STATUSES

    order_items = pd.DataFrame(
        [
            (o.order_id, n, _int(i["product_id"]), _int(i["quantity"]), _money(i["unit_price"]))
            for o in latest.sort_values("order_id").itertuples()
            for n, i in enumerate(o.doc["items"], start=1)
        ],
        columns=["order_id", "line_number", "product_id", "quantity", "unit_price"],
    )
    sold = latest[latest.status != "cancelled"]
    lines = [
        (
            o.order_ts.date(),
            _int(i["product_id"]),
            o.order_id,
            _int(i["quantity"]),
            _money(i["unit_price"]),
        )
        for o in sold.itertuples()
        for i in o.doc["items"]
    ]
    items = pd.DataFrame(
        lines, columns=["order_date", "product_id", "order_id", "quantity", "unit_price"]
    )
    items["amount"] = [q * p for q, p in zip(items.quantity, items.unit_price, strict=True)]
    fact = (
        items.groupby(["order_date", "product_id"], as_index=False)
        .agg(
            order_count=("order_id", "nunique"),
            units_sold=("quantity", "sum"),
            revenue=("amount", lambda s: sum(s, Decimal(0))),
        )
        .sort_values(["order_date", "product_id"])
    )
    entities = (("customers", customers), ("products", products), ("orders", orders))
    counts = {name: frame.reason.dropna().value_counts().to_dict() for name, frame in entities}
    quarantined = {
        name: Counter(zip(aside.reason, map(payload_key, aside.payload_text), strict=True))
        for name, aside in ((name, frame[frame.reason.notna()]) for name, frame in entities)
    }
    return Truth(
        dim_customers.reset_index(drop=True),
        dim_products.reset_index(drop=True),
        fact.reset_index(drop=True),
        latest[["order_id", "customer_id", "status", "order_ts", "updated_at"]].reset_index(
            drop=True
        ),
        order_items,
        counts,
        quarantined,
        items.groupby("order_date").order_id.nunique().to_dict(),
    )
