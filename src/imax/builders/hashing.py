"""Stable, vectorised hashes for every seeded choice of the build.

Why not ``polars.Expr.hash``: polars documents it as unstable across versions, and a dataset must be
rebuildable byte for byte. SplitMix64 over integer keys is a fixed function of (key, seed).
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray, seed: int) -> np.ndarray:
    """SplitMix64 finaliser of ``x ^ mix(seed)``: uint64 array of the same shape."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True) ^ (np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN)
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def unit_interval(h: np.ndarray) -> np.ndarray:
    """uint64 hashes → floats uniform in [0, 1) (top 53 bits)."""
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def str_keys(values: pl.Series) -> np.ndarray:
    """Strings → uint64 keys (vectorised for hex ids, e.g. MIMIC's 40 hex digits with dashes).

    Key = mix of the first and the last 16 hex digits, so ids that share a prefix (sequential
    suffixes) still get distinct keys. Non-hex strings (or fewer than 16 hex digits) fall back to
    blake2b per value. Keys order and seed draws; nothing counts on them being unique.
    """
    hexed = values.str.replace_all("-", "", literal=True)
    ok = (hexed.str.len_chars() >= 16) & hexed.str.contains(r"^[0-9a-fA-F]+$")
    head = hexed.str.slice(0, 16).str.to_integer(base=16, strict=False, dtype=pl.UInt64)
    tail = hexed.str.slice(-16).str.to_integer(base=16, strict=False, dtype=pl.UInt64)
    good = pl.select(ok.fill_null(False)).to_series().to_numpy()
    out = np.zeros(len(values), dtype=np.uint64)
    if good.any():
        h = head.filter(pl.Series(good)).to_numpy().astype(np.uint64)
        t = tail.filter(pl.Series(good)).to_numpy().astype(np.uint64)
        out[good] = splitmix64(h ^ splitmix64(t, 0x7A11), 0)
    if not good.all():
        out[~good] = np.array(
            [int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little")
             for v in values.filter(pl.Series(~good)).to_list()],
            dtype=np.uint64,
        )
    return out


def seeded_unit(keys: np.ndarray, seed: int, salt: int = 0) -> np.ndarray:
    """uint64 keys → uniform [0, 1) floats, a fixed function of (key, seed, salt)."""
    return unit_interval(splitmix64(splitmix64(keys, salt), seed))
