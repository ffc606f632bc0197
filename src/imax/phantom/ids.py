"""MIMIC-style identifiers and paths (formats: source-formats.md §0)."""

from __future__ import annotations

import hashlib

import numpy as np

SUBJECT_RANGES: dict[str, tuple[int, int]] = {"study": (10_000_000, 19_000_000), "pretrain": (19_000_000, 20_000_000)}
"""Subject-id block of each kind of phantom, half-open. The pretraining pool of the tiny base draws from a
block no study phantom ever uses, so no pool patient can be a study patient whatever the seeds."""
STUDY_RANGES: dict[str, tuple[int, int]] = {"study": (50_000_000, 59_000_000), "pretrain": (59_000_000, 60_000_000)}
"""Study-id block of each kind of phantom (the same split as :data:`SUBJECT_RANGES`)."""


def dicom_id(seed: int, index: int, block: str = "study") -> str:
    """44-char id: five dash-separated groups of 8 hex digits, unique per (block, seed, image index)."""
    salt = "imax-phantom" if block == "study" else f"imax-phantom-{block}"
    h = hashlib.sha1(f"{salt}:{seed}:{index}".encode()).hexdigest()  # 40 hex digits
    return "-".join(h[i : i + 8] for i in range(0, 40, 8))


def _unique_ints(seed: int, stream: int, n: int, lo: int, hi: int) -> list[int]:
    # Sample without replacement in one shot; `choice` on a range never materialises it.
    r = np.random.default_rng([seed, stream])
    return sorted(int(v) + lo for v in r.choice(hi - lo, size=n, replace=False))


def _block_ints(seed: int, stream: int, n: int, ranges: dict[str, tuple[int, int]], block: str) -> list[int]:
    """``n`` distinct ints of ``block``'s range, ascending.

    The study block keeps the draw it always had over the whole 8-digit range (so a seed's ids, and the
    patient splits hashed from them, are those of earlier phantoms) and redraws only the few ids that
    fall into another block's range, from its own range, with a seeded generator of its own."""
    if block != "study":
        return _unique_ints(seed, stream, n, *ranges[block])
    lo, hi = ranges["study"]
    full_hi = max(b for _, b in ranges.values())
    ids = _unique_ints(seed, stream, n, lo, full_hi)
    keep = [v for v in ids if v < hi]
    used = set(keep)
    r = np.random.default_rng([seed, stream, 1])
    while len(keep) < n:
        v = int(r.integers(lo, hi))
        if v not in used:
            used.add(v)
            keep.append(v)
    return sorted(keep)


def subject_ids(seed: int, n: int, block: str = "study") -> list[int]:
    """``n`` distinct 8-digit subject ids starting with 1, ascending, from the block's range."""
    return _block_ints(seed, 10, n, SUBJECT_RANGES, block)


def study_ids(seed: int, n: int, block: str = "study") -> list[int]:
    """``n`` distinct 8-digit study ids starting with 5, in random order (as real study ids are)."""
    ids = _block_ints(seed, 11, n, STUDY_RANGES, block)
    r = np.random.default_rng([seed, 12])
    return [ids[i] for i in r.permutation(n)]


def study_dir(subject_id: int, study_id: int) -> str:
    s = str(subject_id)
    return f"files/p{s[:2]}/p{s}/s{study_id}"


def image_path(subject_id: int, study_id: int, dicom: str) -> str:
    """``files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg`` relative to the data root."""
    return f"{study_dir(subject_id, study_id)}/{dicom}.jpg"


def report_path(subject_id: int, study_id: int) -> str:
    """``files/pXX/pSUBJECT/sSTUDY.txt`` (the report sits next to the study folder)."""
    return f"{study_dir(subject_id, study_id)}.txt"
