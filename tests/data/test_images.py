from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from transformers import CLIPImageProcessor, SiglipImageProcessor

from imax.data import ImageCache, ImageSpec, LoadImaged, load_image, pad_to_square, preprocess
from imax.schema.box import Box
from imax.schema.errors import InputError, MissingPathError

GREY = ImageSpec(size=32, mean=(0.5,), std=(0.5,), resample=2)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


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
    x = preprocess(arr, GREY)
    assert x.shape == (1, 32, 32) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    m = preprocess(arr, ImageSpec(size=32, mean=(0.0,), std=(1.0,)))
    assert m.min() >= 0.0 and m.max() <= 1.0
    rgb = preprocess(arr, ImageSpec(size=32, mean=CLIP_MEAN, std=CLIP_STD))  # grey → 3 channels
    assert rgb.shape == (3, 32, 32) and not np.allclose(rgb[0], rgb[2])  # each channel its own mean/std
    assert np.allclose(rgb[1] * CLIP_STD[1] + CLIP_MEAN[1], rgb[2] * CLIP_STD[2] + CLIP_MEAN[2], atol=1e-6)


def test_cache_and_dict_wrapper(tmp_path):
    Image.fromarray(np.full((20, 20), 255, np.uint8), mode="L").save(tmp_path / "w.png")
    cache = ImageCache(maxsize=1)
    load = LoadImaged(tmp_path, ImageSpec(size=8, mean=(0.5,), std=(0.5,)), cache=cache)
    sample = {"image": "w.png", "id": "x"}
    out = load(sample)
    assert "pixel_values" not in sample and out["id"] == "x"
    assert out["pixel_values"].shape == (1, 8, 8) and np.all(out["pixel_values"] == 1.0)
    load(sample)
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    cache.get(tmp_path / "w.png", ImageSpec(size=4, mean=(0.5,), std=(0.5,)))  # new size, new key; evicts
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
    full = preprocess(load_image(tmp_path / "big.jpg"), GREY)
    assert np.abs(preprocess(drafted, GREY) - full).max() < 0.05


@pytest.mark.parametrize("kind", ["clip", "siglip", "grey"])
def test_pixels_equal_the_checkpoints_processor_on_the_padded_image(kind):
    """The spec read from a processor reproduces that processor (resample, rescale, mean/std, channels)."""
    if kind == "clip":  # llava-1.5: shortest edge + centre crop, CLIP mean/std, bicubic, RGB
        proc = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                  image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), resample=3)
    elif kind == "siglip":
        proc = SiglipImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    else:  # imax's tiny base: one channel, no RGB conversion
        proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                  image_mean=[0.5], image_std=[0.5], resample=2, do_convert_rgb=False)
    spec = ImageSpec.from_processor(proc)
    arr = np.random.default_rng(0).integers(0, 256, size=(70, 50), dtype=np.uint8)  # portrait film
    square = Image.fromarray(pad_to_square(arr, spec.fill))
    ref = proc(images=square.convert("RGB") if spec.channels == 3 else square, return_tensors="np")
    ref = ref["pixel_values"][0]
    ours = spec(arr)
    assert ours.shape == ref.shape == (spec.channels, spec.size, spec.size)
    assert np.abs(ours - ref).max() < 1e-5


def test_clip_crop_would_cut_anatomy_the_pad_geometry_keeps_it():
    """A CLIP processor on the raw portrait film centre-crops its top and bottom away; the spec pads."""
    proc = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28},
                              image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    spec = ImageSpec.from_processor(proc)
    arr = np.zeros((84, 56), np.uint8)
    arr[:6] = 255  # an apex marker at the very top of the film
    raw = proc(images=Image.fromarray(arr).convert("RGB"), return_tensors="np")["pixel_values"][0]
    ours = spec(arr)
    assert raw[0].max() < 0  # the marker is cropped away: only black film is left, (0 - mean) / std < 0
    assert ours[0].max() > 1.5  # kept: (1 - mean) / std ≈ 1.93


@pytest.mark.parametrize("shape", [(60, 40), (40, 60), (48, 48)])
def test_a_box_drawn_on_the_image_lands_on_the_same_pixels(shape):
    """Draw a box on a non-square film; after preprocessing, the bright pixels are exactly the box that
    ``ImageSpec.to_input`` maps it to (up to the resampling's one-pixel blur), and ``from_input`` inverts."""
    h, w = shape
    spec = ImageSpec(size=24, mean=(0.5,) * 3, std=(0.5,) * 3, resample=0)  # nearest: crisp edges
    box = Box(10, 15, 30, 35, w, h)
    arr = np.zeros(shape, np.uint8)
    arr[15:35, 10:30] = 255
    x = spec(arr)[0]
    mapped = spec.to_input(box)
    bright = x > 0.9
    rows, cols = np.nonzero(bright)
    assert bright.any()
    assert abs(cols.min() - mapped.x1) <= 1 and abs(cols.max() + 1 - mapped.x2) <= 1
    assert abs(rows.min() - mapped.y1) <= 1 and abs(rows.max() + 1 - mapped.y2) <= 1
    back = spec.from_input(mapped, w, h)
    assert np.allclose([back.x1, back.y1, back.x2, back.y2], [10, 15, 30, 35])
    # the padding is the processor's mean grey, which normalises to ~0 (never mistaken for anatomy)
    if h != w:
        assert abs(x[0, 0]) < 0.01


def test_spec_from_processor_reads_size_channels_and_policy():
    clip = ImageSpec.from_processor(CLIPImageProcessor(size={"shortest_edge": 336},
                                                       crop_size={"height": 336, "width": 336}))
    assert clip.size == 336 and clip.channels == 3 and clip.resample == 3
    assert ImageSpec.from_processor(SiglipImageProcessor(size={"height": 384, "width": 384})).size == 384
    with pytest.raises(Exception, match="non-square"):
        ImageSpec.from_processor(SiglipImageProcessor(size={"height": 384, "width": 256}))
