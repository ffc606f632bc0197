"""CheXmask run-length encoding: exact decode/encode, and vectorised boxes straight from the runs.

Convention (source-formats.md §3.3, the official ``get_RLE_from_mask``): ``"start length start length …"``,
starts 1-based, over the **row-major** (C order) flattening of a Height × Width mask. A run may wrap
from the end of one row into the next. An empty string / null is an all-zero mask.

Worked example: 4×5 with ones at row 1 cols 1–3 and row 2 cols 2–3 → ``"7 3 13 2"``.

:func:`rle_boxes` never decodes a mask: a run covering flat pixels ``a..b`` spans rows ``a//W..b//W``; if
it stays on one row its columns are ``a%W..b%W``, and if it wraps it touches column W−1 (end of its first
row) and column 0 (start of the next), so its column extent is the full width. Per-mask extents are
then numpy ``reduceat`` minima/maxima over the runs — O(number of runs), no Python loop over rows.
The run integers are read straight from the string bytes (:mod:`imax.sources.rle_scan`, ~4x faster
than polars tokens); only rows that are not the official encoder's exact output take the token path.
"""

from __future__ import annotations

import itertools
import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa

from imax.sources.rle_scan import Scratch, scan_chunk

RLE_RE = r"^\s*(?:\d{1,15}\s+\d{1,15}(?:\s+|$))*\s*$"
"""Well-formed RLE text: pairs of non-negative integers (null/empty is an empty mask)."""


def decode_rle(rle: str | None, height: int, width: int) -> np.ndarray:
    """RLE → boolean mask of shape (height, width). Raises ValueError on a malformed string."""
    mask = np.zeros(height * width, dtype=bool)
    if rle is None or not str(rle).strip():
        return mask.reshape(height, width)
    runs = np.asarray([int(x) for x in str(rle).split()], dtype=np.int64)
    if runs.size % 2:
        raise ValueError("odd number of RLE integers")
    for s, n in zip(runs[0::2], runs[1::2], strict=True):
        if s < 1 or n < 1 or s - 1 + n > height * width:
            raise ValueError(f"RLE run ({s}, {n}) outside a {height}x{width} mask")
        mask[s - 1 : s - 1 + n] = True
    return mask.reshape(height, width)


def encode_rle(mask: np.ndarray) -> str:
    """Boolean/0-255 mask (height, width) → RLE string (the official encoder's output)."""
    pixels = np.concatenate([[0], (np.asarray(mask).reshape(-1) > 0).astype(np.int8), [0]])
    runs = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1
    runs[1::2] -= runs[0::2]
    return " ".join(str(int(x)) for x in runs)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel-edge xyxy box of a mask (x2/y2 one past the last pixel), or None when empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


CANONICAL_RE = r"^\d{1,15} \d{1,15}(?: \d{1,15} \d{1,15})*$"
"""The official encoder's exact output (single spaces): split on " " without a regex."""
_CHUNK_TOKENS = 8_000_000
"""The polars path processes masks in chunks of about this many integers (~64 MB per array)."""
_CHUNK_BYTES = 1 << 20
"""The byte scan works on chunks of about this much text (~200K integers). Why not smaller: each numpy
call releases and retakes the GIL, and with 256 KB chunks (calls of ~20 µs) two threads spent their time
handing the GIL over (no faster than one thread, 1.7x its CPU); at 1 MB two threads scan 1.6x faster
than one for ~10 % more CPU. Larger chunks fall out of the 2 MB L2 cache."""
_THREADS = max(1, min(4, os.cpu_count() or 1))
_RUN_ERROR = "RLE run outside the Height x Width mask or runs not increasing"
_SCRATCH: queue.SimpleQueue[Scratch] = queue.SimpleQueue()
"""Scan buffers kept between calls (each call runs a fresh thread pool: buffers are not per thread)."""


def _outputs(
    rle: pl.Series, height: np.ndarray, width: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pl.Series]:
    """What both box paths start from: int64 sizes, ``boxes`` (n, 4) all -1 (empty), ``error`` (n,) all
    None, and the RLE as strings."""
    n = rle.len()
    boxes = np.full((n, 4), -1, dtype=np.int64)
    error = np.full(n, None, dtype=object)
    sizes = np.asarray(height, dtype=np.int64), np.asarray(width, dtype=np.int64)
    return *sizes, boxes, error, rle.cast(pl.String)


def rle_boxes(rle: pl.Series, height: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of many RLE masks at once, without decoding them.

    Args:
        rle: n RLE strings (null/empty = empty mask).
        height, width: (n,) mask sizes (positive ints).

    Returns:
        ``boxes`` (n, 4) int64 pixel-edge xyxy (x2/y2 exclusive; ``-1`` rows for empty or bad masks)
        and ``error`` (n,) object array: None, or why the RLE is malformed (bad text, run outside the
        mask, runs not increasing).

    The official encoder's exact output (single spaces, integers of up to 8 digits) is read from the
    string bytes (:func:`imax.sources.rle_scan.scan_chunk`) in chunks, on a few threads (numpy releases
    the GIL); any other row (extra whitespace, junk, huge integers) takes the exact polars token path.
    """
    n = rle.len()
    height, width, boxes, error, text = _outputs(rle, height, width)
    arr = text.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    valid = np.ones(n, dtype=bool) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    slow = np.zeros(n, dtype=bool)

    def chunk(lo: int, hi: int) -> None:
        off = offsets[lo : hi + 1]
        try:
            scratch = _SCRATCH.get_nowait()
        except queue.Empty:
            scratch = Scratch()
        try:
            b, bad, slow_rows = scan_chunk(
                data[off[0] : off[-1]], off - off[0], height[lo:hi], width[lo:hi], scratch
            )
        finally:
            _SCRATCH.put(scratch)
        # a null row is an empty mask, whatever bytes its slot holds
        b[~valid[lo:hi]], bad[~valid[lo:hi]] = -1, False
        boxes[lo:hi], slow[lo:hi] = b, slow_rows & valid[lo:hi]
        error[lo:hi][bad] = _RUN_ERROR

    parts = _row_chunks(offsets, _CHUNK_BYTES)
    if len(parts) > 1 and _THREADS > 1:
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            list(pool.map(lambda p: chunk(*p), parts))
    else:
        for lo, hi in parts:
            chunk(lo, hi)
    idx = np.flatnonzero(slow)
    if idx.size:
        b, e = _token_boxes(text.gather(idx), height[idx], width[idx])
        boxes[idx], error[idx] = b, e
    return boxes, error


def _row_chunks(offsets: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of about ``size`` bytes each (a longer row is a chunk of its own)."""
    n = offsets.size - 1
    marks = offsets[0] + np.arange(size, offsets[-1] - offsets[0], size)
    cut = np.unique(np.searchsorted(offsets, marks))
    edges = [0, *cut[(cut > 0) & (cut < n)].tolist(), n]
    return list(itertools.pairwise(edges))


def _token_boxes(rle: pl.Series, height: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rle_boxes` through polars tokens: exact for any text (lenient whitespace, long integers)."""
    height, width, boxes, error, text = _outputs(rle, height, width)
    blank = (text.is_null() | (text.str.strip_chars() == "")).to_numpy()
    canon = text.str.contains(CANONICAL_RE).fill_null(False).to_numpy()
    lenient = canon.copy()
    other = np.flatnonzero(~canon & ~blank)  # the lenient regex runs on non-canonical rows only
    if other.size:
        lenient[other] = text.gather(other).str.contains(RLE_RE).fill_null(True).to_numpy()
    lenient |= blank
    malformed = ~blank & ~lenient
    error[malformed] = "malformed RLE text (expected 'start length' integer pairs)"
    fix = np.flatnonzero(~blank & lenient & ~canon)
    if fix.size:  # rare: extra whitespace; normalise those rows only
        text = text.scatter(fix, text.gather(fix).str.replace_all(r"\s+", " ").str.strip_chars())
    rows = np.flatnonzero(~blank & lenient)
    if rows.size == 0:
        return boxes, error
    ntok = (text.gather(rows).str.count_matches(" ", literal=True) + 1).to_numpy().astype(np.int64)
    bounds = np.searchsorted(
        np.cumsum(ntok), np.arange(_CHUNK_TOKENS, ntok.sum() + _CHUNK_TOKENS, _CHUNK_TOKENS)
    )
    lo = 0
    for hi in [*np.unique(np.minimum(bounds + 1, rows.size)).tolist()]:
        if hi <= lo:
            continue
        idx = rows[lo:hi]
        tokens = text.gather(idx).str.split(" ").explode()
        # int32 halves the memory traffic of the numpy pass; fall back to int64 for huge canvases.
        flat = tokens.cast(pl.Int32, strict=False)
        if flat.null_count() or (flat.max() or 0) >= 2**30:
            flat = tokens.cast(pl.Int64)
        flat = flat.to_numpy()
        b, bad = _chunk_boxes(flat, ntok[lo:hi] // 2, height[idx], width[idx])
        boxes[idx] = b
        error[idx[bad]] = _RUN_ERROR
        boxes[idx[bad]] = -1
        lo = hi
    return boxes, error


def _chunk_boxes(
    flat: np.ndarray, nruns: np.ndarray, h: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and a bad-mask flag for masks whose run integers are concatenated in ``flat``."""
    seg = np.concatenate([[0], np.cumsum(nruns)[:-1]])
    seg_last = seg + nruns - 1
    starts = flat[0::2] - 1
    last = starts + flat[1::2] - 1
    # Row-major runs: a run on one row spans its own columns; a wrapping run spans the full width.
    wr = np.repeat(w.astype(flat.dtype), nruns)
    r1, r2 = starts // wr, last // wr
    same = r1 == r2
    x1 = np.where(same, starts - r1 * wr, 0)
    x2 = np.where(same, last - r2 * wr, wr - 1)
    out = np.empty((nruns.size, 4), dtype=np.int64)
    out[:, 0] = np.minimum.reduceat(x1, seg)
    out[:, 2] = np.maximum.reduceat(x2, seg) + 1
    out[:, 1] = r1[seg]  # runs increase (checked below): first run has the top row, last the bottom
    out[:, 3] = r2[seg_last] + 1
    # Checks: every run non-empty and after the previous one's end; the last run inside the mask.
    step_ok = np.ones(starts.size, dtype=bool)
    np.greater(starts[1:], last[:-1], out=step_ok[1:])
    step_ok[seg] = True
    run_ok = step_ok & (starts >= 0) & (last >= starts)
    bad = np.logical_and.reduceat(run_ok, seg) == 0
    bad |= last[seg_last].astype(np.int64) >= h * w
    return out, bad
