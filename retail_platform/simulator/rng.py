"""Counter-based randomness: every draw is a pure function of (seed, entity id, field).

This is what makes batches reproducible whatever the chunking or wall clock, and what
lets a later batch regenerate an earlier order (to move it through its lifecycle)
without storing it: the order is recomputed from its id.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
# Weighted tables up to this size are indexed by comparisons, not a binary search.
_SMALL_TABLE = 16


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64 finalizer: a cheap, well-distributed 64-bit hash.
    x = x ^ (x >> _S30)  # a new array: the caller's is never modified
    # Then in place (numpy scalars just rebind): one temporary per step, not two.
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def hash64(seed: int, ids: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit hash per id; different salts give independent streams."""
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + np.uint64(salt))
        return _mix(np.asarray(ids, dtype=np.uint64) * _GOLDEN ^ key)


def uniform(seed: int, ids: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per id."""
    h = hash64(seed, ids, salt)
    h >>= _S11
    u = h.astype(np.float64)
    u *= 1.0 / (1 << 53)
    return u


def integers(seed: int, ids: np.ndarray, salt: int, low: int, high: int) -> np.ndarray:
    """Integers in [low, high), one per id."""
    return low + (uniform(seed, ids, salt) * (high - low)).astype(np.int64)


def choice(seed: int, ids: np.ndarray, salt: int, cum_weights: np.ndarray) -> np.ndarray:
    """Index into a weighted table (cumulative weights, last = 1.0), one per id."""
    u = uniform(seed, ids, salt)
    if len(cum_weights) > _SMALL_TABLE:
        return np.searchsorted(cum_weights, u, side="right")
    # Same result as searchsorted(side="right") (how many weights are <= u), without a
    # per-element binary search: a few vectorized comparisons.
    index = np.zeros(len(u), dtype=np.int64)
    for w in cum_weights:
        index += u >= w
    return index
