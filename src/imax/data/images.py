"""Image loading and preprocessing: pure array functions plus a thin wrapper over sample dicts (MONAI style).

Geometry: images are resized to ``size × size`` WITHOUT keeping the aspect ratio (no crop, no padding).
Box answers are written on a grid relative to the image's width and height, so a plain resize keeps every
box valid; a centre crop or padding would shift them (a common source of box-format confusion).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from imax.schema.errors import InputError, MissingPathError


def load_image(path: Path | str, draft: int | None = None) -> np.ndarray:
    """Read a grayscale image file as ``uint8 (H, W)``.

    8-bit images are returned as stored (RGB is converted to luminance). Deeper images (16-bit PNG,
    32-bit TIFF) are min-max scaled to 0..255: their window is unknown, and clipping at 255 (what
    ``PIL.Image.convert("L")`` does) would turn them white.

    ``draft``: for JPEGs, let the decoder downscale by a power of two while both sides stay ≥ ``draft``
    (several times faster on full-size radiographs when the result is resized to ``draft`` anyway).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"image file {str(path)!r} does not exist")
    try:
        with Image.open(path) as img:
            if draft is not None and img.format == "JPEG":
                img.draft("L", (draft, draft))
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(img, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
                return np.rint(scaled).astype(np.uint8)
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(str(path), None, "image", f"cannot decode image: {exc}") from None


def resize(arr: np.ndarray, size: int) -> np.ndarray:
    """``uint8 (H, W)`` → ``uint8 (size, size)`` (bilinear, antialiased when shrinking)."""
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {arr.shape}")
    if arr.shape == (size, size):
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def normalize(arr: np.ndarray, mean: float = 0.5, std: float = 0.5) -> np.ndarray:
    """``uint8 (H, W)`` → ``float32 (1, H, W)``: ``(x / 255 - mean) / std`` (defaults give [-1, 1])."""
    x = arr.astype(np.float32) / 255.0
    return ((x - mean) / std)[None]


def preprocess(arr: np.ndarray, size: int, mean: float = 0.5, std: float = 0.5) -> np.ndarray:
    """``uint8 (H, W)`` → ``float32 (1, size, size)``: resize then normalise (defaults: scale to [-1, 1])."""
    return normalize(resize(arr, size), mean, std)


class ImageCache:
    """In-memory LRU of resized ``uint8 (size, size)`` images keyed by ``(path, size)``.

    Stores the resized bytes (16 KB at 128 px), not the float tensor (4x larger); normalising is cheap.
    Each DataLoader worker process holds its own cache.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: Path | str, size: int) -> np.ndarray:
        """Resized ``uint8 (size, size)`` image at ``path`` (read from disk on a miss)."""
        key = (str(path), size)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        arr = resize(load_image(path, draft=size), size)
        arr.setflags(write=False)  # shared between calls: nobody may modify it in place
        if self.maxsize > 0:
            self._items[key] = arr
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return arr


class LoadImaged:
    """Dict wrapper: ``sample[key]`` (path relative to ``data_root``) → ``sample["pixel_values"]``
    ``float32 (1, size, size)``. Returns a new dict; the input is not modified."""

    def __init__(
        self,
        data_root: Path | str,
        size: int,
        key: str = "image",
        mean: float = 0.5,
        std: float = 0.5,
        cache: ImageCache | None = None,
    ) -> None:
        self.data_root = Path(data_root)
        self.size, self.key, self.mean, self.std = size, key, mean, std
        self.cache = cache

    def array(self, relpath: str) -> np.ndarray:
        """``float32 (1, size, size)`` for one image path relative to ``data_root``."""
        path = self.data_root / relpath
        small = (
            self.cache.get(path, self.size)
            if self.cache is not None
            else resize(load_image(path, draft=self.size), self.size)
        )
        return normalize(small, self.mean, self.std)

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        return {**sample, "pixel_values": self.array(sample[self.key])}
