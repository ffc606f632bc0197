"""CheXmask run-length encoding (source-formats.md §3.3): row-major, 1-based starts, "start length ..."."""

from __future__ import annotations

import numpy as np


def encode(mask: np.ndarray) -> str:
    """RLE of a 2-D boolean mask (H, W), flattened in C order; "" for an empty mask.

    Worked example: a 4×5 mask with ones at (1, 1..3) and (2, 2..3) encodes as "7 3 13 2".
    """
    flat = np.asarray(mask, dtype=bool).ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat.size and flat[0]:
        edges = np.concatenate([[0], edges])
    if flat.size and flat[-1]:
        edges = np.concatenate([edges, [flat.size]])
    starts, ends = edges[0::2], edges[1::2]
    runs = np.empty(2 * starts.size, dtype=np.int64)
    runs[0::2] = starts + 1
    runs[1::2] = ends - starts
    return " ".join(map(str, runs.tolist()))
