from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imax.data import ImageCache, LoadImaged, load_image, preprocess
from imax.schema.errors import InputError, MissingPathError


def test_png_and_jpeg_load_as_uint8_hw(tmp_path):
    arr = np.arange(48 * 40, dtype=np.uint32).reshape(48, 40).astype(np.uint8)
    Image.fromarray(arr, mode="L").save(tmp_path / "a.png")
    Image.fromarray(np.stack([arr] * 3, -1), mode="RGB").save(tmp_path / "b.jpg", quality=95)
    png, jpg = load_image(tmp_path / "a.png"), load_image(tmp_path / "b.jpg")
    assert png.dtype == np.uint8 and png.shape == (48, 40) and np.array_equal(png, arr)
    assert jpg.dtype == np.uint8 and jpg.shape == (48, 40) and np.abs(jpg.astype(int) - arr).mean() < 4


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    arr = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit data in 16-bit PNG
    Image.fromarray(arr).save(tmp_path / "deep.png")
    out = load_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255 and 127 <= np.median(out) <= 128


def test_preprocess_shape_and_range():
    arr = np.array([[0, 255], [128, 64]], dtype=np.uint8).repeat(20, 0).repeat(30, 1)  # (40, 60)
    x = preprocess(arr, 32)
    assert x.shape == (1, 32, 32) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    m = preprocess(arr, 32, mean=0.0, std=1.0)
    assert m.min() >= 0.0 and m.max() <= 1.0


def test_cache_and_dict_wrapper(tmp_path):
    Image.fromarray(np.full((20, 20), 255, np.uint8), mode="L").save(tmp_path / "w.png")
    cache = ImageCache(maxsize=1)
    load = LoadImaged(tmp_path, size=8, cache=cache)
    sample = {"image": "w.png", "id": "x"}
    out = load(sample)
    assert "pixel_values" not in sample and out["id"] == "x"
    assert out["pixel_values"].shape == (1, 8, 8) and np.all(out["pixel_values"] == 1.0)
    load(sample)
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    cache.get(tmp_path / "w.png", 4)  # a new size is a new key; maxsize 1 evicts the old one
    assert len(cache) == 1 and cache.misses == 2


def test_bad_paths_raise_clearly(tmp_path):
    with pytest.raises(MissingPathError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot decode image"):
        load_image(tmp_path / "bad.png")


def test_jpeg_draft_decoding_matches_full_decode(tmp_path):
    yy, xx = np.mgrid[0:512, 0:384]
    arr = ((xx + yy) * 255 // (511 + 383)).astype(np.uint8)
    Image.fromarray(arr, mode="L").save(tmp_path / "big.jpg", quality=95)
    drafted = load_image(tmp_path / "big.jpg", draft=32)
    assert drafted.shape[0] < 512 and min(drafted.shape) >= 32  # the decoder really downscaled
    full = preprocess(load_image(tmp_path / "big.jpg"), 32)
    assert np.abs(preprocess(drafted, 32) - full).max() < 0.05
