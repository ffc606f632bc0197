"""Byte-level scan of RLE text: boxes straight from an Arrow string buffer (numpy, no tokens).

Why: at MIMIC size the CheXmask RLE columns hold ~0.8 billion integers (one run per mask row, ~700 per
lung). Splitting them into polars strings and casting costs ~40 ns an integer (~35 s of CPU); this scan
costs ~15 (boxes included; measured single-threaded on a busy 2-core box).

How (:func:`scan_chunk`): a token ends at a space or at the end of its row. The 8 bytes before each end
are loaded as one little-endian uint64 (two aligned loads and a shift), the bytes before the token's
start are masked off (they become leading zeros) and the digits are combined with three multiply-shift
steps (SWAR, as in simdjson's ``parse_eight_digits``). Runs then give boxes as in
:func:`imax.sources.rle.rle_boxes`. Only the official encoder's exact output is taken: integers of 1–8
ASCII digits separated by single spaces, an even count. A row with anything else (other whitespace or
characters, a 9+ digit integer, an odd count) is returned as ``slow`` for the exact polars path.

Every large array is a reused buffer (:class:`Scratch`) written with ``out=``: fresh numpy
temporaries of a few hundred KB are mmapped and page-faulted on each call (glibc returns them to the
OS), which made this scan 3–4x slower.
"""

from __future__ import annotations

import numpy as np

_U = np.uint64
_ZERO = _U(0x3030_3030_3030_3030)
_KEEP = np.array([0] + [((1 << 64) - 1) ^ ((1 << (8 * (8 - n))) - 1) for n in range(1, 9)], dtype=np.uint64)
"""_KEEP[n]: the top n bytes of a word (a token of n digits ends at the word's top byte)."""
_SWAR = (
    (_U(2561), _U(8), _U(0x00FF_00FF_00FF_00FF)),  # pairs of digits: 10 * first + second
    (_U(6553601), _U(16), _U(0x0000_FFFF_0000_FFFF)),  # pairs of pairs: 100 * first + second
    (_U(42949672960001), _U(32), None),  # halves: 10_000 * first + second
)
MAX_DIGITS = 8
SPACE, DIGIT_0 = 32, 48


class Scratch:
    """Reusable arrays for one scan at a time, grown on demand (see module docstring)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: type) -> np.ndarray:
        """An uninitialised array of ``n`` items (a view of the buffer ``name``)."""
        a = self._arrays.get(name)
        if a is None or a.size < n:
            a = self._arrays[name] = np.empty(max(n, 1024) * 5 // 4, dtype=dtype)
        return a[:n]


def scan_chunk(
    data: np.ndarray, offsets: np.ndarray, height: np.ndarray, width: np.ndarray, s: Scratch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes of the RLE rows in one byte buffer.

    Args:
        data: uint8 bytes of the rows, back to back (a slice of an Arrow string column's data buffer).
        offsets: (rows + 1,) int64 row boundaries into ``data``, ``offsets[0] == 0``.
        height, width: (rows,) mask sizes.
        s: buffers no other scan uses meanwhile.

    Returns:
        ``boxes`` (rows, 4) int64 xyxy (``-1`` for empty, bad and slow rows), ``bad`` (rows,) runs outside
        the mask or not increasing, ``slow`` (rows,) not canonical: left to the polars path.
    """
    n, rows = data.size, offsets.size - 1
    boxes = np.full((rows, 4), -1, dtype=np.int64)
    bad = np.zeros(rows, dtype=bool)
    slow = np.zeros(rows, dtype=bool)
    length = np.diff(offsets)
    nonempty = length > 0
    if not nonempty.any():
        return boxes, bad, slow
    # Bytes: only digits and spaces; no leading space (it would merge with the previous row's end).
    mark = s.get("mark", n + 1, bool)
    np.equal(data, SPACE, out=mark[:n])
    mark[n] = False
    digit = s.get("digit", n, bool)
    np.less(np.subtract(data, DIGIT_0, out=s.get("u8", n, np.uint8)), 10, out=digit)
    np.logical_or(digit, mark[:n], out=digit)
    if not digit.all():
        slow[np.searchsorted(offsets, np.flatnonzero(~digit), side="right") - 1] = True
    slow[nonempty] |= data[offsets[:-1][nonempty]] == SPACE
    # Tokens end at the spaces and at every row end.
    mark[offsets[1:][nonempty]] = True
    ends = np.flatnonzero(mark)  # (np.compress into a buffer is slower than this allocation)
    k = ends.size
    cum = np.searchsorted(ends, offsets, side="right")  # tokens ending in rows before each boundary
    count = np.diff(cum)
    slow |= count % 2 == 1
    # A token starts one past the previous end (a space), except a row's first token: at the row start.
    starts = s.get("starts", k, np.int64)
    starts[0] = 0
    np.add(ends[:-1], 1, out=starts[1:])
    first = nonempty & (count > 0)
    starts[cum[:-1][first]] = offsets[:-1][first]
    size = np.subtract(ends, starts, out=starts)
    if int(size.min()) < 1 or int(size.max()) > MAX_DIGITS:  # empty token (double space) or 9+ digits
        row = np.searchsorted(cum, np.flatnonzero((size < 1) | (size > MAX_DIGITS)), side="right") - 1
        slow[row[row >= 0]] = True  # (a token before row 0 is a leading space: already slow)
    values = _parse(data, ends, size, s)
    use = ~slow & (count > 0)
    if not use.any():
        return boxes, bad, slow
    if cum[0] > 0 or (count[slow] > 0).any():  # rare: drop the tokens of slow rows
        values = values[cum[0] : cum[-1]][np.repeat(use, count)]
    rows_used = np.flatnonzero(use)
    b, rb = _boxes(values, count[use] // 2, height[rows_used], width[rows_used], s)
    b[rb] = -1
    boxes[rows_used] = b
    bad[rows_used] = rb
    return boxes, bad, slow


def _parse(data: np.ndarray, ends: np.ndarray, size: np.ndarray, s: Scratch) -> np.ndarray:
    """int64 value of each token (``size`` 1..8 digits ending at ``ends``); garbage for other sizes."""
    k = ends.size
    pad = s.get("pad", ((data.size + 31) >> 3) << 3, np.uint8)
    pad[:8] = 0
    pad[8 : 8 + data.size] = data
    pad[8 + data.size :] = 0
    words = pad.view(np.uint64)
    # bytes [end - 8, end) of data are pad[end : end + 8): two aligned words and a byte shift
    w = np.right_shift(ends, 3, out=s.get("w", k, np.int64))
    shift = np.bitwise_and(ends.view(np.uint64), _U(7), out=s.get("shift", k, np.uint64))
    shift <<= _U(3)
    x = np.take(words, w, out=s.get("x", k, np.uint64), mode="clip")
    x >>= shift
    hi = np.take(words[1:], w, out=s.get("hi", k, np.uint64), mode="clip")
    # << (64 - shift) as << 1 << (63 - shift): a shift by 64 is undefined (shift == 0)
    hi <<= _U(1)
    hi <<= np.subtract(_U(63), shift, out=shift)
    x |= hi
    # digits only: bytes before the token's start become leading zeros
    keep = np.take(_KEEP, size, out=hi, mode="clip")  # (sizes over 8 are clipped: their rows are slow)
    x ^= _ZERO
    x &= keep
    for mul, sh, mask in _SWAR:
        x *= mul
        x >>= sh
        if mask is not None:
            x &= mask
    return x.view(np.int64)


def _boxes(
    flat: np.ndarray, nruns: np.ndarray, h: np.ndarray, w: np.ndarray, s: Scratch
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and a bad flag of masks whose (start, length) integers are concatenated in ``flat``.

    Row-major runs: a run on one row spans its own columns; a run that wraps into a later row touches
    both the last and the first column, so its mask spans the full width.
    """
    m = flat.size // 2
    seg = np.zeros(nruns.size, dtype=np.int64)
    np.cumsum(nruns[:-1], out=seg[1:])
    seg_last = seg + nruns - 1
    start = np.subtract(flat[0::2], 1, out=s.get("start", m, np.int64))
    length = flat[1::2]
    wr = w[0] if (w == w[0]).all() else np.repeat(w, nruns)  # one width: numpy divides by a scalar fast
    row = np.floor_divide(start, wr, out=s.get("row", m, np.int64))
    col = np.multiply(row, wr, out=row)
    np.subtract(start, col, out=col)  # first column of each run
    end = np.add(col, length, out=s.get("end", m, np.int64))  # one past its last column, if it stays
    wraps = np.logical_or.reduceat(np.greater(end, wr, out=s.get("wraps", m, bool)), seg)
    last = start[seg_last] + length[seg_last] - 1  # the mask's last pixel
    out = np.empty((nruns.size, 4), dtype=np.int64)
    out[:, 0] = np.where(wraps, 0, np.minimum.reduceat(col, seg))
    out[:, 2] = np.where(wraps, w, np.maximum.reduceat(end, seg))
    out[:, 1] = (
        start[seg] // w
    )  # runs increase (checked below): the first has the top row, the last the bottom
    out[:, 3] = last // w + 1
    # Checks: every run non-empty and starting after the previous one's end; the first run inside the
    # mask (then all are, as they increase) and the last one too.
    ok = np.greater_equal(length, 1, out=s.get("ok", m, bool))
    step = s.get("step", m, bool)
    gap = np.subtract(start[1:], start[:-1], out=s.get("gap", m - 1, np.int64))
    np.greater_equal(gap, length[:-1], out=step[1:])
    step[seg] = True
    ok &= step
    bad = ~np.logical_and.reduceat(ok, seg)
    bad |= (start[seg] < 0) | (last >= h * w)
    return out, bad
