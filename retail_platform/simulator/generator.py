"""Vectorized generation of customers, products and orders as JSON payloads.

Every attribute is drawn by counter-based hashing from (seed, id, field), so an
entity can be regenerated from its id alone: the batch log (``BatchRecord``) is the
only state the simulator needs. Payloads are assembled column-wise with Arrow
string kernels, never by a per-row ``json.dumps``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from itertools import islice

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from retail_platform.simulator import rng
from retail_platform.simulator.pools import CATEGORIES, EMAIL_DOMAINS, Pools, build_pools

# Simulated time starts here; each batch advances the clock by its step.
EPOCH_SECONDS = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
# Longest an order keeps changing (paid <= 3h, shipped <= 2d, delivered <= 5d, returned <= 14d).
LIFECYCLE_MAX_SECONDS = 22 * DAY

STATUSES = np.array(
    ["placed", "paid", "shipped", "delivered", "cancelled", "returned"], dtype=object
)
PLACED, PAID, SHIPPED, DELIVERED, CANCELLED, RETURNED = range(6)

# Relative order intensity by UTC hour: quiet nights, a lunch bump, an evening peak.
HOURLY_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 13, 12, 10, 9, 9, 10, 12, 14, 15, 13, 8, 4], dtype=float
)
ITEM_COUNT_CUM = np.cumsum([0.35, 0.28, 0.18, 0.12, 0.07])  # 1..5 items
QUANTITY_CUM = np.cumsum([0.70, 0.20, 0.07, 0.03])  # 1..4 units
ZIPF_EXPONENT = 1.1
MAX_ITEMS = 5


class Salt:
    """Field identifiers for the hash streams (any distinct ints)."""

    LOCALE, FIRST, LAST, CITY, DOMAIN, SIGNUP = 1, 2, 3, 4, 5, 6
    CATEGORY, ADJ, NOUN, PRICE_A, PRICE_B, POPULARITY, PRODUCT_TS = 10, 11, 12, 13, 14, 15, 16
    CUSTOMER, ORDER_MINUTE, ORDER_SECOND, ITEM_COUNT = 20, 21, 22, 23
    ITEM_PRODUCT, ITEM_QTY, ITEM_DISCOUNT = 24, 25, 26
    CANCEL, CANCEL_AT, PAID_AT, SHIPPED_AT, DELIVERED_AT, RETURN, RETURN_AT = (
        30,
        31,
        32,
        33,
        34,
        35,
        36,
    )
    UPDATE_PICK, UPDATE_AT, MOVE_CITY, MOVE_DOMAIN = 40, 41, 42, 43


@dataclass(frozen=True)
class BatchRecord:
    """One simulator batch: the row it writes to ``raw.sim_batches``."""

    batch_no: int
    seed: int
    clock_start: int  # epoch seconds, inclusive
    clock_end: int  # epoch seconds, exclusive
    customers_first: int
    customers_count: int
    customer_updates: int
    products_first: int
    products_count: int
    orders_first: int
    orders_count: int
    customers_total: int  # customers that exist once this batch's customers are loaded
    products_total: int
    dirty_rate: float

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> BatchRecord:
        return cls(**orjson.loads(raw))


def plan_batch(
    log: list[BatchRecord],
    *,
    seed: int,
    customers: int,
    products: int,
    orders: int,
    step_seconds: int,
    dirty_rate: float,
) -> BatchRecord:
    """The next batch after everything in ``log``: ids and clock continue where it ended."""
    last = max(log, key=lambda r: r.batch_no) if log else None
    start = last.clock_end if last else EPOCH_SECONDS
    c_first = last.customers_total + 1 if last else 1
    p_first = last.products_total + 1 if last else 1
    o_first = (last.orders_first + last.orders_count) if last else 1
    existing_customers = c_first - 1
    return BatchRecord(
        batch_no=(last.batch_no + 1) if last else 1,
        seed=seed,
        clock_start=start,
        clock_end=start + step_seconds,
        customers_first=c_first,
        customers_count=customers,
        # A share of known customers move or change email in each batch that adds customers.
        customer_updates=min(existing_customers, customers // 4) if customers else 0,
        products_first=p_first,
        products_count=products,
        orders_first=o_first,
        orders_count=orders,
        customers_total=existing_customers + customers,
        products_total=p_first - 1 + products,
        dirty_rate=dirty_rate,
    )


# ---------------------------------------------------------------- string helpers


def _s(values: np.ndarray | pa.Array) -> pa.Array:
    """Any int/str column as an Arrow string array."""
    if isinstance(values, pa.Array):
        arr = values
    elif values.dtype.kind in "iu":
        arr = pa.array(values.astype(np.int64, copy=False))
    else:
        arr = pa.array(values)
    return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())


def _concat(*parts: object) -> pa.Array:
    # Adjacent literals are merged first: every part costs a pass over the rows.
    cols: list[object] = []
    for p in parts:
        if isinstance(p, str) and cols and isinstance(cols[-1], str):
            cols[-1] += p
        else:
            cols.append(p)
    cols = [p if isinstance(p, str) else _s(p) for p in cols]
    return pc.binary_join_element_wise(*cols, "")


@lru_cache(maxsize=64)
def _arrow_pool(pool: tuple[str, ...]) -> pa.Array:
    return pa.array(pool, pa.string())


def _pick(pool: np.ndarray | tuple[str, ...] | pa.Array, index: np.ndarray) -> pa.Array:
    """``pool[index]`` as Arrow strings (pools are converted to Arrow once, then cached)."""
    if not isinstance(pool, pa.Array):
        pool = _arrow_pool(tuple(pool))
    return pool.take(pa.array(np.asarray(index, dtype=np.int64)))


def _fixed_width(rows: np.ndarray) -> pa.Array:
    """An ``(n, width)`` uint8 matrix of ASCII as an Arrow string array (no copy)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    n, width = rows.shape
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows))


# "HH:MM:SS" for every second of a day.
_TIME_OF_DAY = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], dtype="S8"
)


def _iso_fill(out: np.ndarray, col: int, seconds: np.ndarray) -> None:
    """Write date and time of ``YYYY-MM-DDTHH:MM:SSZ`` into each row of ``out`` at ``col``.

    ``out`` is an ``(n, width)`` uint8 matrix whose template already holds the ``T``
    and ``Z``; the 10-byte dates and 8-byte times are copied in as fixed-width fields.
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    if not len(seconds):
        return
    days, sec = np.divmod(seconds, DAY)
    # Dates are formatted once per day of the (short) span the rows cover.
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    dates = np.datetime_as_string(span).astype("S10")
    width = out.shape[1]
    fields = np.dtype(
        {"names": ["d", "t"], "formats": ["S10", "S8"], "offsets": [0, 11], "itemsize": width - col}
    )
    rows = np.ndarray((len(out),), dtype=fields, buffer=out, offset=col, strides=(width,))
    rows["d"] = dates[days - first]
    rows["t"] = _TIME_OF_DAY[sec]


def _template_rows(n: int, template: str) -> np.ndarray:
    """``n`` copies of an ASCII template as a writable ``(n, len(template))`` uint8 matrix."""
    return np.tile(np.frombuffer(template.encode(), np.uint8), (n, 1))


_ISO_TEMPLATE = "0000-00-00T00:00:00Z"


def _timestamps(seconds: np.ndarray) -> pa.Array:
    """ISO-8601 UTC strings, built as fixed-width bytes (no per-row formatting)."""
    out = _template_rows(len(seconds), _ISO_TEMPLATE)
    _iso_fill(out, 0, seconds)
    return _fixed_width(out)


_CENTS = tuple(f"{i:02d}" for i in range(100))


def _money(cents: np.ndarray) -> pa.Array:
    cents = np.asarray(cents, dtype=np.int64)
    whole, frac = np.divmod(cents, 100)
    return _concat(whole, ".", _pick(_CENTS, frac))


def _in_window(seed: int, ids: np.ndarray, salt: int, start: np.ndarray, end: np.ndarray):
    return start + (rng.uniform(seed, ids, salt) * (end - start)).astype(np.int64)


# ---------------------------------------------------------------- customers


def _city_tables(pools: Pools) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(pools.city_locale, minlength=len(pools.locale_cum_weights))
    return np.concatenate([[0], np.cumsum(counts)[:-1]]), counts


def customer_payloads(
    seed: int, ids: np.ndarray, updated_at: np.ndarray, version: np.ndarray, signup: np.ndarray
) -> pa.Array:
    """Customer JSON; ``version`` 0 is the original record, >0 a move (new city, new email)."""
    pools = build_pools(seed)
    n_names = len(pools.first_names) // len(pools.locale_cum_weights)
    loc = rng.choice(seed, ids, Salt.LOCALE, pools.locale_cum_weights)
    first = loc * n_names + rng.integers(seed, ids, Salt.FIRST, 0, n_names)
    last = loc * n_names + rng.integers(seed, ids, Salt.LAST, 0, n_names)
    offsets, counts = _city_tables(pools)
    keyed = ids * np.uint64(1_000_003) + version.astype(np.uint64)  # a fresh draw per version
    u_city = np.where(
        version > 0, rng.uniform(seed, keyed, Salt.MOVE_CITY), rng.uniform(seed, ids, Salt.CITY)
    )
    u_domain = np.where(
        version > 0, rng.uniform(seed, keyed, Salt.MOVE_DOMAIN), rng.uniform(seed, ids, Salt.DOMAIN)
    )
    city = offsets[loc] + (u_city * counts[loc]).astype(np.int64)
    domain = (u_domain * len(EMAIL_DOMAINS)).astype(np.int64)
    email = _concat(
        '"',
        _pick(pools.first_slugs, first),
        ".",
        _pick(pools.last_slugs, last),
        ids.astype(np.int64),
        "@",
        _pick(EMAIL_DOMAINS, domain),
        '"',
    )
    return _concat(
        '{"customer_id":',
        ids.astype(np.int64),
        ',"first_name":',
        _pick(pools.first_names, first),
        ',"last_name":',
        _pick(pools.last_names, last),
        ',"email":',
        email,
        ',"city":',
        _pick(pools.cities, city),
        ',"country":',
        _pick(pools.city_country, city),
        ',"signup_ts":"',
        _timestamps(signup),
        '","updated_at":"',
        _timestamps(updated_at),
        '"}',
    )


def _creation_windows(
    log: list[BatchRecord], first_attr: str, count_attr: str, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[BatchRecord], np.ndarray]:
    """For each id, the clock window of the batch that created it.

    Also returns the creating batches (``made``) and, per id, its index into them.
    """
    made = sorted((r for r in log if getattr(r, count_attr)), key=lambda r: getattr(r, first_attr))
    firsts = np.array([getattr(r, first_attr) for r in made], dtype=np.int64)
    ids = ids.astype(np.int64)
    if len(made) == 1:
        at = np.zeros(len(ids), dtype=np.int64)  # the common case: one batch made them all
    else:
        at = np.searchsorted(firsts, ids, side="right") - 1
    starts = np.array([r.clock_start for r in made], dtype=np.int64)[at]
    ends = np.array([r.clock_end for r in made], dtype=np.int64)[at]
    return starts, ends, made, at


def customers_batch(seed: int, rec: BatchRecord, log: list[BatchRecord]) -> pa.Array:
    """New customers of the batch, then moves (new city and email) of earlier customers."""
    start, end = np.int64(rec.clock_start), np.int64(rec.clock_end)
    new = np.arange(rec.customers_first, rec.customers_first + rec.customers_count, dtype=np.uint64)
    signup = _in_window(seed, new, Salt.SIGNUP, start, end)
    parts = [customer_payloads(seed, new, signup, np.zeros(len(new), np.int64), signup)]
    if rec.customer_updates:
        picks = np.arange(rec.customer_updates, dtype=np.uint64) + np.uint64(rec.batch_no << 32)
        existing = rec.customers_first - 1
        moved = np.unique(rng.integers(seed, picks, Salt.UPDATE_PICK, 1, existing + 1)).astype(
            np.uint64
        )
        c_start, c_end, _, _ = _creation_windows(log, "customers_first", "customers_count", moved)
        signup_old = _in_window(seed, moved, Salt.SIGNUP, c_start, c_end)
        keyed = moved * np.uint64(1_000_003) + np.uint64(rec.batch_no)
        when = _in_window(seed, keyed, Salt.UPDATE_AT, start, end)
        version = np.full(len(moved), rec.batch_no, np.int64)
        parts.append(customer_payloads(seed, moved, when, version, signup_old))
    return pa.concat_arrays(parts)


# ---------------------------------------------------------------- products

_CATEGORY_NAMES = tuple(CATEGORIES)
_CATEGORY_CUM = np.cumsum([v[0] for v in CATEGORIES.values()])
_CATEGORY_CUM = _CATEGORY_CUM / _CATEGORY_CUM[-1]
_MEDIAN = np.array([v[1] for v in CATEGORIES.values()])
_SIGMA = np.array([v[2] for v in CATEGORIES.values()])


def _product_names() -> np.ndarray:
    from retail_platform.simulator.pools import ADJECTIVES

    names = [
        f"{adj} {noun}"
        for _, _, _, nouns in CATEGORIES.values()
        for adj in ADJECTIVES
        for noun in nouns
    ]
    return np.array([orjson.dumps(n).decode() for n in names], dtype=object)


_NAMES = _product_names()
_NAMES_PER_CATEGORY = len(_NAMES) // len(CATEGORIES)


def product_category(seed: int, pids: np.ndarray) -> np.ndarray:
    return rng.choice(seed, pids, Salt.CATEGORY, _CATEGORY_CUM)


def product_price_cents(seed: int, pids: np.ndarray) -> np.ndarray:
    """List price, lognormal around the category's median, ending in .99."""
    cat = product_category(seed, pids)
    u1, u2 = rng.uniform(seed, pids, Salt.PRICE_A), rng.uniform(seed, pids, Salt.PRICE_B)
    z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    price = _MEDIAN[cat] * np.exp(_SIGMA[cat] * z)
    return np.maximum(np.round(price), 2).astype(np.int64) * 100 - 1


def products_batch(seed: int, rec: BatchRecord) -> pa.Array:
    pids = np.arange(rec.products_first, rec.products_first + rec.products_count, dtype=np.uint64)
    cat = product_category(seed, pids)
    from retail_platform.simulator.pools import ADJECTIVES

    adj = rng.integers(seed, pids, Salt.ADJ, 0, len(ADJECTIVES))
    noun = rng.integers(seed, pids, Salt.NOUN, 0, 5)
    created = _in_window(
        seed, pids, Salt.PRODUCT_TS, np.int64(rec.clock_start), np.int64(rec.clock_end)
    )
    return _concat(
        '{"product_id":',
        pids.astype(np.int64),
        ',"name":',
        _pick(_NAMES, cat * _NAMES_PER_CATEGORY + adj * 5 + noun),
        ',"category":"',
        _pick(np.array(_CATEGORY_NAMES, dtype=object), cat),
        '","unit_price":',
        _money(product_price_cents(seed, pids)),
        ',"updated_at":"',
        _timestamps(created),
        '"}',
    )


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False  # cached: no caller may change it
    return arr


@lru_cache(maxsize=8)
def _popularity_cum(seed: int, n_products: int) -> np.ndarray:
    # Pareto-distributed weights: a few products sell a lot, most sell a little (Zipf-like).
    weights = (
        1.0 - rng.uniform(seed, np.arange(1, n_products + 1, dtype=np.uint64), Salt.POPULARITY)
    ) ** (-1.0 / ZIPF_EXPONENT)
    return _readonly(np.cumsum(weights))


@dataclass(frozen=True)
class _GuidedTable:
    """``searchsorted(cum, x, side="right")`` sped up by a guide over equal-width buckets.

    ``guide[k]`` is the answer at the k-th bucket edge. The answer for ``x`` lies between
    the guide values a bucket either side of x's bucket; where those agree (almost
    always) it is exact without a search; only the rest are binary-searched.
    """

    cum: np.ndarray
    guide: np.ndarray
    scale: float  # buckets per unit of x

    @classmethod
    def build(cls, cum: np.ndarray, buckets_per_entry: int = 64) -> _GuidedTable:
        n_buckets = int(min(max(buckets_per_entry * len(cum), 1024), 1 << 22))
        scale = n_buckets / float(cum[-1])
        guide = np.searchsorted(cum, np.arange(n_buckets + 1) / scale, side="right")
        guide[-1] = len(cum)  # the bound for anything at or past the last edge
        return cls(_readonly(cum), _readonly(guide), scale)

    def search(self, x: np.ndarray) -> np.ndarray:
        last = len(self.guide) - 1
        k = np.clip((x * self.scale).astype(np.int64), 0, last)
        lo = self.guide[np.maximum(k - 1, 0)]
        hi = self.guide[np.minimum(k + 2, last)]
        unsure = np.flatnonzero(lo != hi)
        lo[unsure] = np.searchsorted(self.cum, x[unsure], side="right")
        return lo


@lru_cache(maxsize=8)
def _popularity_table(seed: int, n_products: int) -> _GuidedTable:
    return _GuidedTable.build(np.array(_popularity_cum(seed, n_products)))


@lru_cache(maxsize=8)
def _price_table(seed: int, n_products: int) -> np.ndarray:
    """List price in cents of products 1..n (index = product id - 1), computed once."""
    return _readonly(product_price_cents(seed, np.arange(1, n_products + 1, dtype=np.uint64)))


# ---------------------------------------------------------------- orders

_HOURLY_CUM = np.concatenate([[0.0], np.cumsum(HOURLY_WEIGHTS)])
_DAY_WEIGHT = _HOURLY_CUM[-1]


def _intensity(t: np.ndarray) -> np.ndarray:
    """Cumulative order intensity since the epoch (piecewise linear, daily period)."""
    s = t - EPOCH_SECONDS
    day, sec = np.divmod(s, DAY)
    hour = sec // 3600
    return day * _DAY_WEIGHT + _HOURLY_CUM[hour] + (sec % 3600) / 3600.0 * HOURLY_WEIGHTS[hour]


def _inverse_intensity(level: np.ndarray) -> np.ndarray:
    day = np.floor(level / _DAY_WEIGHT)
    rest = level - day * _DAY_WEIGHT
    hour = np.clip(np.searchsorted(_HOURLY_CUM[1:], rest, side="right"), 0, 23)
    frac = (rest - _HOURLY_CUM[hour]) / HOURLY_WEIGHTS[hour]
    return (EPOCH_SECONDS + day * DAY + hour * 3600 + np.floor(frac * 3600)).astype(np.int64)


@dataclass
class Orders:
    """Column arrays for a set of orders, with their whole lifecycle."""

    ids: np.ndarray
    customer_id: np.ndarray
    order_ts: np.ndarray
    item_offsets: np.ndarray  # len(ids) + 1
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_cents: np.ndarray
    cancelled: np.ndarray
    cancel_at: np.ndarray
    paid_at: np.ndarray
    shipped_at: np.ndarray
    delivered_at: np.ndarray
    returned: np.ndarray
    returned_at: np.ndarray
    item_discount: np.ndarray | None = None  # per item: index into _DISCOUNTS
    seed: int = 0  # what the orders were built with (to find cached item tables)
    n_products: int = 0  # the catalogue size the item tables were built for

    def status_at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Status code and the time it was reached, as of time ``t``."""
        code = np.full(len(self.ids), PLACED)
        since = self.order_ts.copy()
        for reached, at, value in (
            (~self.cancelled, self.paid_at, PAID),
            (~self.cancelled, self.shipped_at, SHIPPED),
            (~self.cancelled, self.delivered_at, DELIVERED),
            (self.returned & ~self.cancelled, self.returned_at, RETURNED),
            (self.cancelled, self.cancel_at, CANCELLED),
        ):
            hit = reached & (at < t)
            code[hit], since[hit] = value, at[hit]
        return code, since

    def take(self, mask: np.ndarray) -> Orders:
        keep = np.flatnonzero(mask)
        counts = np.diff(self.item_offsets)[keep]
        starts = self.item_offsets[:-1][keep]
        item_idx = np.repeat(starts, counts) + (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        columns = {}
        for k, v in vars(self).items():
            if not isinstance(v, np.ndarray) or k == "item_offsets":
                columns[k] = v
            else:
                columns[k] = v[item_idx] if k.startswith("item_") else v[keep]
        columns["item_offsets"] = np.concatenate([[0], np.cumsum(counts)])
        return Orders(**columns)


# Item discounts: code 0 = list price, 1 = 10% off (10% of items), 2 = 20% off (5%).
_DISCOUNTS = np.array([1.0, 0.9, 0.8])
# Up to this many products, every possible item JSON (product x discount x quantity) is
# built once and items are picked from it; above, items are assembled per chunk.
ITEM_TABLE_MAX_PRODUCTS = 50_000
_N_QUANTITIES = len(QUANTITY_CUM)


def build_orders(seed: int, ids: np.ndarray, log: list[BatchRecord]) -> Orders:
    """Regenerate orders (any ids that some batch in ``log`` created) from their ids."""
    ids = np.asarray(ids, dtype=np.uint64)
    start, end, made, at = _creation_windows(log, "orders_first", "orders_count", ids)
    customers_total = np.array([r.customers_total for r in made], dtype=np.int64)[at]
    products_total = np.array([r.products_total for r in made], dtype=np.int64)[at]

    # Intensity at the window edges: once per creating batch, not once per order.
    lo = _intensity(np.array([r.clock_start for r in made], dtype=np.int64))[at]
    hi = _intensity(np.array([r.clock_end for r in made], dtype=np.int64))[at]
    order_ts = _inverse_intensity(lo + rng.uniform(seed, ids, Salt.ORDER_MINUTE) * (hi - lo))
    order_ts = np.clip(order_ts, start, end - 1)
    customer = 1 + (rng.uniform(seed, ids, Salt.CUSTOMER) * customers_total).astype(np.int64)

    n_items = 1 + rng.choice(seed, ids, Salt.ITEM_COUNT, ITEM_COUNT_CUM)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(n_items, out=offsets[1:])
    line = np.arange(offsets[-1]) - np.repeat(offsets[:-1], n_items)
    item_keys = np.repeat(ids, n_items) * np.uint64(8) + line.astype(np.uint64)
    # The tables below are built for the whole catalogue the log knows, not for the
    # products that existed when these orders were made: an entry depends on its product
    # alone, so a smaller table is a prefix of this one, and every chunk of a batch (new
    # orders, updates of orders from each of the last 22 days) shares one table per
    # process rather than building one per creating batch.
    n_products = max(r.products_total for r in made) if len(ids) else 1
    popularity = _popularity_table(seed, n_products)
    cap = popularity.cum[np.repeat(products_total, n_items) - 1]
    product = 1 + popularity.search(rng.uniform(seed, item_keys, Salt.ITEM_PRODUCT) * cap)
    quantity = 1 + rng.choice(seed, item_keys, Salt.ITEM_QTY, QUANTITY_CUM)
    u_disc = rng.uniform(seed, item_keys, Salt.ITEM_DISCOUNT)
    discount = np.where(u_disc < 0.10, 1, np.where(u_disc < 0.15, 2, 0)).astype(np.int8)
    list_cents = _price_table(seed, n_products)[product - 1]
    cents = np.round(list_cents * _DISCOUNTS[discount]).astype(np.int64)

    def after(base: np.ndarray, salt: int, lo_s: int, hi_s: int) -> np.ndarray:
        return base + lo_s + (rng.uniform(seed, ids, salt) * (hi_s - lo_s)).astype(np.int64)

    paid = after(order_ts, Salt.PAID_AT, 300, 3 * 3600)
    shipped = after(paid, Salt.SHIPPED_AT, 4 * 3600, 48 * 3600)
    delivered = after(shipped, Salt.DELIVERED_AT, DAY, 5 * DAY)
    return Orders(
        ids=ids,
        customer_id=customer,
        order_ts=order_ts,
        item_offsets=offsets,
        item_product=product,
        item_quantity=quantity,
        item_cents=cents,
        cancelled=rng.uniform(seed, ids, Salt.CANCEL) < 0.06,
        cancel_at=after(order_ts, Salt.CANCEL_AT, 600, 6 * 3600),
        paid_at=paid,
        shipped_at=shipped,
        delivered_at=delivered,
        returned=rng.uniform(seed, ids, Salt.RETURN) < 0.05,
        returned_at=after(delivered, Salt.RETURN_AT, DAY, 14 * DAY),
        item_discount=discount,
        seed=seed,
        n_products=n_products,
    )


def _item_json(product: np.ndarray, quantity: np.ndarray, cents: np.ndarray) -> pa.Array:
    return _concat(
        '{"product_id":',
        product,
        ',"quantity":',
        quantity,
        ',"unit_price":',
        _money(cents),
        "}",
    )


@lru_cache(maxsize=4)
def _item_table(seed: int, n_products: int) -> pa.Array:
    """Item JSON for every (product, discount, quantity): index ((p - 1) * 3 + d) * 4 + q - 1."""
    n_d, n_q = len(_DISCOUNTS), _N_QUANTITIES
    product = np.repeat(np.arange(1, n_products + 1), n_d * n_q)
    discount = np.tile(np.repeat(np.arange(n_d), n_q), n_products)
    quantity = np.tile(np.arange(1, n_q + 1), n_products * n_d)
    cents = np.round(_price_table(seed, n_products)[product - 1] * _DISCOUNTS[discount])
    return _item_json(product, quantity, cents.astype(np.int64))


def _items(orders: Orders) -> pa.Array:
    if orders.item_discount is not None and 0 < orders.n_products <= ITEM_TABLE_MAX_PRODUCTS:
        index = (
            (orders.item_product - 1) * len(_DISCOUNTS) + orders.item_discount
        ) * _N_QUANTITIES + (orders.item_quantity - 1)
        return _item_table(orders.seed, orders.n_products).take(pa.array(index))
    return _item_json(orders.item_product, orders.item_quantity, orders.item_cents)


# Status with the literals around it, and the fixed-width block of both timestamps.
_STATUS_PARTS = tuple(f',"status":"{s}","order_ts":"' for s in STATUSES)
_TS_BLOCK = _ISO_TEMPLATE + '","updated_at":"' + _ISO_TEMPLATE + '","items":['
_TS_SECOND = 20 + len('","updated_at":"')


def order_payloads(orders: Orders, as_of: int) -> pa.Array:
    """Each order's JSON as of time ``as_of`` (its status then, updated_at when reached)."""
    code, since = orders.status_at(as_of)
    item_lists = pa.ListArray.from_arrays(pa.array(orders.item_offsets, pa.int32()), _items(orders))
    ts_block = _template_rows(len(orders.ids), _TS_BLOCK)
    _iso_fill(ts_block, 0, orders.order_ts)
    _iso_fill(ts_block, _TS_SECOND, since)
    return _concat(
        '{"order_id":',
        orders.ids,
        ',"customer_id":',
        orders.customer_id,
        _pick(_STATUS_PARTS, code),
        _fixed_width(ts_block),
        pc.binary_join(item_lists, ","),
        "]}",
    )


# Chunks generated ahead, in parallel threads (numpy and Arrow release the GIL in their
# kernels). Output order, and so every byte, is the same as with one thread.
PREFETCH_WORKERS = min(2, os.cpu_count() or 1)


def _in_order[T](tasks: list[Callable[[], T]], workers: int) -> Iterator[T]:
    """Results of ``tasks`` in order, at most ``workers`` of them computed ahead."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield task()
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="retail-sim") as pool:
        pending: deque[Future[T]] = deque()
        todo = iter(tasks)
        for task in islice(todo, workers):
            pending.append(pool.submit(task))
        while pending:
            result = pending.popleft().result()
            task = next(todo, None)
            if task is not None:
                pending.append(pool.submit(task))
            yield result


def orders_batch(
    seed: int,
    rec: BatchRecord,
    log: list[BatchRecord],
    chunk_size: int,
    workers: int | None = None,
) -> Iterator[pa.Array]:
    """New orders of the batch, then lifecycle updates of recent orders, in chunks."""
    history = [r for r in log if r.batch_no < rec.batch_no] + [rec]

    def new(first: int, last: int) -> pa.Array | None:
        return order_payloads(build_orders(seed, np.arange(first, last), history), rec.clock_end)

    def updates(first: int, last: int) -> pa.Array | None:
        orders = build_orders(seed, np.arange(first, last), history)
        before, _ = orders.status_at(rec.clock_start)
        after_, _ = orders.status_at(rec.clock_end)
        changed = before != after_
        return order_payloads(orders.take(changed), rec.clock_end) if changed.any() else None

    tasks: list[Callable[[], pa.Array | None]] = []
    for first in range(rec.orders_first, rec.orders_first + rec.orders_count, chunk_size):
        last = min(first + chunk_size, rec.orders_first + rec.orders_count)
        tasks.append(partial(new, first, last))
    # Orders from earlier batches whose status changed during this batch's window.
    recent = [
        r
        for r in log
        if r.batch_no < rec.batch_no
        and r.orders_count
        and r.clock_end > rec.clock_start - LIFECYCLE_MAX_SECONDS
    ]
    for r in sorted(recent, key=lambda r: r.orders_first):
        for first in range(r.orders_first, r.orders_first + r.orders_count, chunk_size):
            last = min(first + chunk_size, r.orders_first + r.orders_count)
            tasks.append(partial(updates, first, last))
    for payloads in _in_order(tasks, PREFETCH_WORKERS if workers is None else workers):
        if payloads is not None:
            yield payloads
