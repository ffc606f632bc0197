"""A user's own images for ``imax ask``, ``imax predict`` and the demo page: reading them (DICOM included),
listing a folder or list file, staging them for the evaluation loader, and drawing answer boxes on them.

Images: any size; 8/16-bit PNG, JPEG and what else ``imax.data.load_image`` decodes are read in place;
DICOM (by the ``DICM`` magic or a ``.dcm``/``.dicom`` suffix) is read with pydicom — modality LUT,
then the VOI LUT or window the file carries, MONOCHROME1 inverted — and staged as an 8-bit PNG, so the
model sees it through the same loader as every other image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imax.schema.box import Box
from imax.schema.errors import InputError, MissingPathError

DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom(path: Path) -> bool:
    """True for a ``.dcm``/``.dicom`` file or one with the DICOM preamble magic ``DICM`` at byte 128."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: Path) -> np.ndarray:
    """``uint8 (H, W)`` of a single-frame DICOM: modality LUT, VOI LUT / window, MONOCHROME1 inverted,
    then min-max scaled to 0..255 (the window's output range is what the file says is worth seeing)."""
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pragma: no cover - pydicom is a pinned dependency
        raise InputError(str(path), None, "image", "reading DICOM needs pydicom (pip install pydicom)") from None
    try:
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for damaged files; all mean "cannot read"
        raise InputError(str(path), None, "image", f"cannot decode DICOM: {type(exc).__name__}: {exc}") from None
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and getattr(ds, "SamplesPerPixel", 1) > 1:
        arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif arr.ndim != 2:
        raise InputError(str(path), None, "image", f"DICOM has pixel array of shape {arr.shape}; one 2-D frame needed")
    else:
        arr = apply_voi_lut(apply_modality_lut(arr, ds), ds)
    arr = np.asarray(arr, dtype=np.float64)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        arr = arr.max() - arr  # MONOCHROME1: low values are white
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.rint(scaled).astype(np.uint8)


def read_user_image(path: Path | str) -> np.ndarray:
    """``uint8 (H, W)`` (or what ``imax.data.load_image`` returns) of a user's image file, any format imax
    reads; one-line :class:`InputError` naming the file when it cannot be read."""
    from imax.data import load_image

    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"image file {str(path)!r} does not exist")
    return read_dicom(path) if is_dicom(path) else load_image(path)


def image_size(arr: np.ndarray) -> tuple[int, int]:
    """(width, height) of an ``(H, W[, C])`` array."""
    return int(arr.shape[1]), int(arr.shape[0])


@dataclass
class Prepared:
    """A user image, read and ready for the collator: ``path`` is what the loader reads."""

    name: str
    source: Path
    path: Path
    size: tuple[int, int]
    pixels: np.ndarray


def prepare_image(source: Path | str, staging: Path, name: str | None = None) -> Prepared:
    """Read ``source`` (one-line :class:`InputError` when unreadable); stage DICOMs as 8-bit PNG."""
    from PIL import Image

    source = Path(source)
    arr = read_user_image(source)
    path = source.resolve()
    if is_dicom(source):
        staging.mkdir(parents=True, exist_ok=True)
        path = staging / f"{len(list(staging.iterdir())):06d}-{source.stem}.png"
        Image.fromarray(arr).save(path)
    return Prepared(name or source.name, source, path, image_size(arr), arr)


def list_images(images: Path | str) -> list[Path]:
    """Files to predict on: every non-hidden file under a folder (recursively, sorted), or the lines of
    a list file (paths relative to the list's folder; blank lines and ``#`` comments skipped)."""
    images = Path(images)
    if images.is_dir():
        return sorted(
            p for p in images.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(images).parts)
        )
    if images.is_file():
        lines = [ln.strip() for ln in images.read_text().splitlines()]
        return [(images.parent / ln) for ln in lines if ln and not ln.startswith("#")]
    raise MissingPathError(f"--images {str(images)!r} is neither a folder nor a list file")


def _box(payload: Any) -> Box | None:
    if not isinstance(payload, Mapping) or "box" not in payload or "size" not in payload:
        return None
    x1, y1, x2, y2 = (float(v) for v in payload["box"])
    w, h = payload["size"]
    return Box(x1, y1, x2, y2, int(w), int(h))


def answer_boxes(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Boxes to draw for an answer row, by payload shape (``{"box", "size"}``): the parsed answer's
    (``role = "answer"``) and the query's (``role = "query"``), each ``{role, box: [x1, y1, x2, y2], size,
    label}`` in pixels of the user's image."""
    out = []
    for role in ("query", "parsed"):
        payload = row.get(role)
        if isinstance(payload, str) and payload:
            payload = json.loads(payload)
        box = _box(payload)
        if box is None:
            continue
        label = role if role == "query" else (row.get("argument") or "answer")
        out.append({"role": "answer" if role == "parsed" else "query", "box": list(box.to_xyxy()),
                    "size": [box.width, box.height], "label": str(label)})
    return out


COLOURS = {"answer": (255, 64, 64), "query": (64, 160, 255)}


def draw_overlay(pixels: np.ndarray, boxes: Sequence[Mapping[str, Any]], out: Path) -> Path:
    """Write ``pixels`` (``uint8 (H, W)`` or ``(H, W, 3)``) as an RGB PNG with ``boxes`` (from
    :func:`answer_boxes`, rescaled to the image when their size differs) drawn and labelled."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(pixels).convert("RGB")
    w, h = img.size
    draw = ImageDraw.Draw(img)
    width = max(2, round(min(w, h) / 150))
    for b in boxes:
        box = Box(*(float(v) for v in b["box"]), int(b["size"][0]), int(b["size"][1])).rescaled(w, h)
        colour = COLOURS.get(str(b.get("role")), (255, 200, 0))
        draw.rectangle(box.to_xyxy(), outline=colour, width=width)
        draw.text((box.x1 + width + 1, max(0.0, box.y1 - 12)), str(b.get("label", "")), fill=colour)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
