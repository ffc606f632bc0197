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


def _variants(rng: np.random.Generator, n: int) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Canonical RLEs of random masks plus damaged copies (whitespace, junk, long/zero-padded ints)."""
    edits = [
        lambda t: " " + t,
        lambda t: t + " ",
        lambda t: t.replace(" ", "  ", 1),
        lambda t: t.replace(" ", "\t", 1),
        lambda t: t + " 5",
        lambda t: "0000" + t,
        lambda t: "123456789 " + t,
        lambda t: t.replace("1", "x", 1),
        lambda t: t + "\n",
        lambda t: "é" + t,
        lambda t: " ",
        lambda t: "",
        lambda t: None,
        lambda t: "999999999999999 1",
        lambda t: t.replace(" ", ":", 1),
        lambda t: t.replace("2", "/", 1),
    ]
    rles, hs, ws = [], [], []
    for _ in range(n):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        text = encode_rle(rng.random((h, w)) < rng.choice([0.0, 0.05, 0.5, 0.95]))
        if rng.random() < 0.3:
            text = edits[int(rng.integers(len(edits)))](text)
        if rng.random() < 0.05 and text:  # runs out of order / outside the mask
            text = f"{h * w} 3 " + text
        rles.append(text)
        hs.append(h)
        ws.append(w)
    return rles, np.array(hs), np.array(ws)


@pytest.mark.parametrize("chunk", [1 << 20, 7])
def test_byte_scan_matches_token_path(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """The byte scan (and its fallback) gives exactly the polars token path's boxes and errors."""
    from imax.sources import rle

    monkeypatch.setattr(rle, "_CHUNK_BYTES", chunk)  # 7 bytes: many chunks, threads, chunk edges
    rles, hs, ws = _variants(np.random.default_rng(1), 3000)
    series = pl.Series(rles, dtype=pl.String)
    boxes, err = rle_boxes(series, hs, ws)
    want_boxes, want_err = rle._token_boxes(series, hs, ws)
    assert boxes.tolist() == want_boxes.tolist()
    assert err.tolist() == want_err.tolist()
    assert sum(e is not None for e in err) > 100  # the damaged rows really were exercised


def test_byte_scan_varying_widths_and_big_canvas() -> None:
    """Per-row widths (OriginalResolution) and 8-digit run starts take the byte path exactly."""
    rng = np.random.default_rng(2)
    hs = rng.integers(2000, 4000, 50)
    ws = rng.integers(2000, 4000, 50)
    rles = []
    for h, w in zip(hs.tolist(), ws.tolist(), strict=True):
        rows = np.sort(rng.choice(h, 5, replace=False))
        c0 = rng.integers(0, w - 10, 5)
        rles.append(
            " ".join(f"{r * w + c + 1} {int(rng.integers(1, 10))}" for r, c in zip(rows, c0, strict=True))
        )
    series = pl.Series(rles)
    boxes, err = rle_boxes(series, hs, ws)
    from imax.sources.rle import _token_boxes

    want, want_err = _token_boxes(series, hs, ws)
    assert all(e is None for e in err) and err.tolist() == want_err.tolist()
    assert boxes.tolist() == want.tolist()
    assert int(boxes[:, 3].max()) > 2000  # 8-digit starts
