"""Realistic faults injected into a share of payloads (``--dirty-rate``).

Which rows get which fault is drawn from (seed, batch, chunk, row), so dirty batches
are as reproducible as clean ones. Faults are applied to the few chosen rows in
Python; the clean bulk is never re-parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import orjson
import pyarrow as pa

from retail_platform.simulator import rng

ID_FIELD = {"customers": "customer_id", "products": "product_id", "orders": "order_id"}
OTHER_TS = {"customers": "signup_ts", "products": None, "orders": "order_ts"}
# Ids this far up are never issued, so they reference nothing.
UNKNOWN_ID_OFFSET = 900_000_000

FAULTS = {
    "customers": ("malformed_json", "missing_id", "timestamp_format", "duplicate"),
    "products": (
        "malformed_json",
        "missing_id",
        "price_as_string",
        "timestamp_format",
        "duplicate",
    ),
    "orders": (
        "malformed_json",
        "missing_id",
        "status_spelling",
        "invalid_quantity",
        "price_as_string",
        "unknown_customer",
        "unknown_product",
        "duplicate",
        "timestamp_format",
    ),
}
_HIT, _KIND, _DETAIL = 50, 51, 52


def _reformat(ts: str, variant: int) -> str:
    """The same instant written another way: with an offset, or with no zone at all."""
    t = datetime.fromisoformat(ts).astimezone(UTC)  # "...Z" (Python >= 3.11)
    if variant == 0:
        return t.astimezone(timezone(timedelta(hours=1))).strftime("%Y-%m-%d %H:%M:%S+01:00")
    if variant == 1:
        return t.strftime("%Y-%m-%dT%H:%M:%S")
    return t.astimezone(timezone(timedelta(hours=-5))).strftime("%Y-%m-%dT%H:%M:%S-05:00")


def _apply(entity: str, kind: str, text: str, detail: int) -> list[str]:
    """The payload(s) that replace ``text`` for one fault."""
    if kind == "malformed_json":
        return [orjson.dumps(text[: max(5, len(text) // 2)]).decode()]
    if kind == "duplicate":
        return [text, text]
    d = orjson.loads(text)
    if kind == "missing_id":
        if detail % 2:
            d[ID_FIELD[entity]] = None
        else:
            del d[ID_FIELD[entity]]
    elif kind == "status_spelling":
        s = d["status"]
        d["status"] = (s.capitalize(), f" {s} ", s.upper())[detail % 3]
    elif kind == "invalid_quantity":
        d["items"][detail % len(d["items"])]["quantity"] = -(detail % 2)  # 0 or -1
    elif kind == "price_as_string":
        holder = d["items"][detail % len(d["items"])] if entity == "orders" else d
        holder["unit_price"] = f"{holder['unit_price']:.2f}"
    elif kind == "unknown_customer":
        d["customer_id"] += UNKNOWN_ID_OFFSET
    elif kind == "unknown_product":
        d["items"][detail % len(d["items"])]["product_id"] += UNKNOWN_ID_OFFSET
    elif kind == "timestamp_format":
        d["updated_at"] = _reformat(d["updated_at"], detail % 3)
        if OTHER_TS[entity]:
            d[OTHER_TS[entity]] = _reformat(d[OTHER_TS[entity]], detail % 3)
    return [orjson.dumps(d).decode()]


def inject(entity: str, payloads: pa.Array, *, seed: int, stream: int, rate: float) -> pa.Array:
    """Return ``payloads`` with faults in about ``rate`` of the rows (duplicates appended)."""
    if rate <= 0 or len(payloads) == 0:
        return payloads
    keys = np.arange(len(payloads), dtype=np.uint64) + np.uint64(stream << 32)
    hit = np.flatnonzero(rng.uniform(seed, keys, _HIT) < rate)
    if not len(hit):
        return payloads
    kinds = rng.integers(seed, keys[hit], _KIND, 0, len(FAULTS[entity]))
    details = rng.integers(seed, keys[hit], _DETAIL, 0, 1 << 30)
    # Only the hit rows leave Arrow; the rest is copied once by a take.
    originals = payloads.take(pa.array(hit)).to_pylist()
    replaced: list[str] = []
    extra: list[str] = []
    for text, kind, detail in zip(originals, kinds, details, strict=True):
        first, *more = _apply(entity, FAULTS[entity][kind], text, int(detail))
        replaced.append(first)
        extra += more
    # One copy: the clean runs between hit rows, each replacement, then the extra copies.
    payloads = payloads.cast(pa.string())
    fixes = pa.array(replaced + extra, pa.string())
    pieces, start = [], 0
    for j, row in enumerate(hit.tolist()):
        pieces += [payloads.slice(start, row - start), fixes.slice(j, 1)]
        start = row + 1
    pieces += [payloads.slice(start), fixes.slice(len(hit))]
    return pa.concat_arrays(pieces)
