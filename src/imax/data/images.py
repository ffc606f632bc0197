"""Image loading and preprocessing as the checkpoint's image processor defines it.

Pure array functions, :class:`ImageSpec` (what the checkpoint's processor asks for: side, channels,
resampling, rescale, mean/std) and a thin wrapper over sample dicts (MONAI style).

Geometry (documented choice, LLaVA's ``image_aspect_ratio="pad"``): the grey radiograph is padded to a
square (centred, filled with the processor's mean grey, so padding normalises to ~0) and then resized to
the model's side. Nothing is ever cropped: a CLIP processor's shortest-edge resize + centre crop would
cut the lung apices or costophrenic angles off a portrait film, and a box answer would then point at
anatomy the model never saw. The map original pixel → model-input pixel is the affine
:meth:`ImageSpec.to_input` (its inverse :meth:`ImageSpec.from_input`), so every box on the original
image lies on the same anatomy in the model input. Box answers are written and parsed in the ORIGINAL
image's frame (``imax.schema.Box`` and the 0–100 grid relative to width × height, as in the dataset
files and the metrics): targets and parsed predictions share that frame, so they need no transform;
the fixed, visible padding makes the frame a deterministic function of what the model sees. On a square
image (the phantom, most MIMIC-CXR JPGs are near-square) the two frames coincide.

For a pre-padded square image the pixels equal the checkpoint's own processor output (rescale and
normalise with its constants, resampling with its filter): a square image is resized to the target side
by CLIP's shortest-edge resize as well, and its centre crop is then a no-op. A grey image is replicated to
the processor's channel count (3 for CLIP/SigLIP processors that convert to RGB).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from imax.schema.box import Box
from imax.schema.errors import ImaxError, InputError, MissingPathError


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


def pad_to_square(arr: np.ndarray, fill: int) -> np.ndarray:
    """``uint8 (H, W)`` → ``uint8 (M, M)``, ``M = max(H, W)``: the image centred (LLaVA's ``expand2square``
    offsets: ``(M - W) // 2`` left, ``(M - H) // 2`` top), the rest ``fill``."""
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {arr.shape}")
    h, w = arr.shape
    if h == w:
        return arr
    m = max(h, w)
    out = np.full((m, m), fill, dtype=np.uint8)
    top, left = (m - h) // 2, (m - w) // 2
    out[top : top + h, left : left + w] = arr
    return out


def resize(arr: np.ndarray, size: int, resample: int = Image.Resampling.BILINEAR) -> np.ndarray:
    """``uint8 (H, W)`` → ``uint8 (size, size)`` with PIL filter ``resample`` (no aspect ratio kept)."""
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {arr.shape}")
    if arr.shape == (size, size):
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.Resampling(resample)), dtype=np.uint8)


def normalize(
    arr: np.ndarray, mean: tuple[float, ...] = (0.5,), std: tuple[float, ...] = (0.5,), rescale: float = 1 / 255
) -> np.ndarray:
    """``uint8 (H, W)`` → ``float32 (C, H, W)`` with ``C = len(mean)``: channel c is
    ``(x * rescale - mean[c]) / std[c]`` (a grey image replicated to C channels, as RGB conversion does)."""
    if len(mean) != len(std):
        raise ValueError(f"mean {mean} and std {std} differ in length")
    x = arr.astype(np.float32) * np.float32(rescale)
    return np.stack([(x - np.float32(m)) / np.float32(s) for m, s in zip(mean, std, strict=True)])


def _sizes(value: Any) -> dict[str, int]:
    """A processor's ``size`` / ``crop_size`` (dict, transformers ``SizeDict`` or int) as a plain dict."""
    if value is None:
        return {}
    if isinstance(value, int):
        return {"height": value, "width": value}
    keys = ("height", "width", "shortest_edge", "longest_edge")
    get = value.get if isinstance(value, Mapping) else (lambda k: getattr(value, k, None))
    return {k: int(get(k)) for k in keys if get(k) is not None}


@dataclass(frozen=True)
class ImageSpec:
    """The pixel interface of a checkpoint: ``pixel_values`` rows are ``float32 (channels, size, size)``.

    Built from the checkpoint's image processor (:meth:`from_processor`); ``mean``/``std`` hold one value
    per input channel. ``resample`` is a PIL filter code. ``fill`` is the grey value of the padding.
    """

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resample: int = int(Image.Resampling.BICUBIC)
    rescale: float = 1 / 255

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"image size must be positive, got {self.size}")
        if not self.mean or len(self.mean) != len(self.std):
            raise ValueError(f"need one mean and one std per channel, got mean={self.mean} std={self.std}")

    @property
    def channels(self) -> int:
        """Input channels the vision tower takes."""
        return len(self.mean)

    @property
    def fill(self) -> int:
        """Padding grey: the processor's mean intensity (LLaVA pads with the mean colour)."""
        return round(255 * float(np.mean(self.mean)))

    @classmethod
    def from_processor(cls, processor: Any) -> ImageSpec:
        """The spec of a transformers image processor (``CLIPImageProcessor``, ``SiglipImageProcessor``, …).

        Side: the centre-crop size when the processor crops, else its resize size (``height``/``width`` or
        ``shortest_edge``); channels: one per ``image_mean`` entry (3 when a scalar mean and RGB conversion).
        Raises :class:`ImaxError` for a processor that does not give one square side.
        """
        name = type(processor).__name__
        crop = _sizes(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else {}
        size = crop or _sizes(getattr(processor, "size", None))
        if "height" in size and "width" in size:
            if size["height"] != size["width"]:
                raise ImaxError(f"{name}: non-square input {size['height']}x{size['width']} is not supported")
            side = int(size["height"])
        elif "shortest_edge" in size:
            side = int(size["shortest_edge"])
        else:
            raise ImaxError(f"{name}: cannot read the input side from size={size!r}")
        rgb = getattr(processor, "do_convert_rgb", True) is not False
        mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
        if not getattr(processor, "do_normalize", True) or mean is None or std is None:
            mean, std = 0.0, 1.0
        mean = tuple(float(m) for m in (mean if isinstance(mean, list | tuple) else [mean] * (3 if rgb else 1)))
        std = tuple(float(s) for s in (std if isinstance(std, list | tuple) else [std] * len(mean)))
        rescale = float(getattr(processor, "rescale_factor", 1 / 255)) if getattr(processor, "do_rescale", True) else 1.0
        resample = getattr(processor, "resample", None)
        resample = int(Image.Resampling.BICUBIC if resample is None else resample)
        return cls(size=side, mean=mean, std=std, resample=resample, rescale=rescale)

    def small(self, arr: np.ndarray) -> np.ndarray:
        """``uint8 (H, W)`` → ``uint8 (size, size)``: pad to square, resize (the cached form)."""
        return resize(pad_to_square(arr, self.fill), self.size, self.resample)

    def tensor(self, small: np.ndarray) -> np.ndarray:
        """``uint8 (size, size)`` from :meth:`small` → ``float32 (channels, size, size)``."""
        return normalize(small, self.mean, self.std, self.rescale)

    def __call__(self, arr: np.ndarray) -> np.ndarray:
        """``uint8 (H, W)`` → ``float32 (channels, size, size)``: the model's ``pixel_values`` row."""
        return self.tensor(self.small(arr))

    def to_input(self, box: Box) -> Box:
        """``box`` on the original ``box.width × box.height`` image → the same anatomy on the model input
        (``size × size``): shift by the padding, scale by ``size / max(width, height)``."""
        m = max(box.width, box.height)
        left, top, s = (m - box.width) // 2, (m - box.height) // 2, self.size / m
        return Box((box.x1 + left) * s, (box.y1 + top) * s, (box.x2 + left) * s, (box.y2 + top) * s,
                   self.size, self.size)  # fmt: skip

    def from_input(self, box: Box, width: int, height: int) -> Box:
        """Inverse of :meth:`to_input`: a box on the model input → the original ``width × height`` image."""
        m = max(width, height)
        left, top, s = (m - width) // 2, (m - height) // 2, m / self.size
        return Box(box.x1 * s - left, box.y1 * s - top, box.x2 * s - left, box.y2 * s - top, width, height)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (for run records): side, channels, mean, std, resample, geometry."""
        return {"size": self.size, "channels": self.channels, "mean": list(self.mean), "std": list(self.std),
                "resample": Image.Resampling(self.resample).name.lower(), "geometry": "pad-to-square+resize"}


def preprocess(arr: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """``uint8 (H, W)`` → ``float32 (C, S, S)``: pad to square, resize, normalise as ``spec`` says."""
    return spec(arr)


class ImageCache:
    """In-memory LRU of padded + resized ``uint8 (size, size)`` images keyed by path and geometry.

    Stores the resized bytes (16 KB at 128 px), not the float tensor (4x larger, x3 channels);
    normalising is cheap. Each DataLoader worker process holds its own cache.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, int, int, int], np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: Path | str, spec: ImageSpec) -> np.ndarray:
        """``spec.small`` of the image at ``path`` (read from disk on a miss)."""
        key = (str(path), spec.size, spec.fill, spec.resample)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        arr = spec.small(load_image(path, draft=spec.size))
        arr.setflags(write=False)  # shared between calls: nobody may modify it in place
        if self.maxsize > 0:
            self._items[key] = arr
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return arr


class LoadImaged:
    """Dict wrapper: ``sample[key]`` (path relative to ``data_root``) → ``sample["pixel_values"]``
    ``float32 (C, S, S)`` as ``spec`` defines it. Returns a new dict; the input is not modified."""

    def __init__(
        self, data_root: Path | str, spec: ImageSpec, key: str = "image", cache: ImageCache | None = None
    ) -> None:
        if not isinstance(spec, ImageSpec):
            raise TypeError(f"spec must be an ImageSpec (from the checkpoint's processor), got {type(spec).__name__}")
        self.data_root = Path(data_root)
        self.spec, self.key = spec, key
        self.cache = cache

    def array(self, relpath: str) -> np.ndarray:
        """``float32 (C, S, S)`` for one image path relative to ``data_root``."""
        path = self.data_root / relpath
        small = self.cache.get(path, self.spec) if self.cache is not None else self.spec.small(
            load_image(path, draft=self.spec.size))
        return self.spec.tensor(small)

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        return {**sample, "pixel_values": self.array(sample[self.key])}
