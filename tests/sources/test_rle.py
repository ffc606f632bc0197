"""CheXmask RLE: the worked examples of source-formats.md §3.3 and vectorised boxes vs full decode."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from imax.sources.rle import decode_rle, encode_rle, mask_box, rle_boxes


def test_worked_example_4x5() -> None:
    mask = np.zeros((4, 5), dtype=bool)
    mask[1, 1:4] = True
    mask[2, 2:4] = True
    assert encode_rle(mask) == "7 3 13 2"
    assert (decode_rle("7 3 13 2", 4, 5) == mask).all()


def test_wrap_example_3x4() -> None:
    mask = np.zeros((3, 4), dtype=bool)
    mask[0, 2:4] = True
    mask[1, 0:2] = True
    assert encode_rle(mask) == "3 4"
    assert (decode_rle("3 4", 3, 4) == mask).all()
    boxes, err = rle_boxes(pl.Series(["3 4"]), np.array([3]), np.array([4]))
    assert err[0] is None
    assert boxes[0].tolist() == [0, 0, 4, 2]  # wrapping run spans the full width


def test_empty_mask_and_255_input() -> None:
    assert encode_rle(np.zeros((2, 2))) == ""
    assert not decode_rle("", 2, 2).any() and not decode_rle(None, 2, 2).any()
    assert encode_rle(np.array([[0, 255], [255, 0]])) == "2 2"


def test_decode_rejects_bad_runs() -> None:
    with pytest.raises(ValueError):
        decode_rle("7 3 13", 4, 5)
    with pytest.raises(ValueError):
        decode_rle("19 5", 4, 5)


def test_vectorised_boxes_match_decode() -> None:
    rng = np.random.default_rng(0)
    rles, hs, ws, want = [], [], [], []
    for _ in range(200):
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        mask = rng.random((h, w)) < rng.choice([0.0, 0.1, 0.5, 0.9])
        rles.append(encode_rle(mask) or None)
        hs.append(h)
        ws.append(w)
        box = mask_box(mask)
        want.append(list(box) if box else [-1, -1, -1, -1])
    boxes, err = rle_boxes(pl.Series(rles, dtype=pl.String), np.array(hs), np.array(ws))
    assert all(e is None for e in err)
    assert boxes.tolist() == want


def test_vectorised_errors() -> None:
    s = pl.Series(["7 3 13 2", "7 3 x", "1 2 3", "19 5", "5 2 3 1", "1 0", " 7  3 \n13 2 "])
    boxes, err = rle_boxes(s, np.full(7, 4), np.full(7, 5))
    assert err[0] is None and boxes[0].tolist() == [1, 1, 4, 3]
    assert "malformed" in err[1] and "malformed" in err[2]
    assert (
        err[3] is not None and err[4] is not None and err[5] is not None
    )  # outside / overlapping / empty run
    assert err[6] is None and boxes[6].tolist() == [1, 1, 4, 3]  # any whitespace separates
    assert (boxes[1:6] == -1).all()
