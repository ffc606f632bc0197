"""Images for the pages: thumbnails with box overlays, encoded as base64 data URIs.

Boxes arrive as :class:`~imax.schema.box.Box` on whatever canvas they were expressed on (the image
size, or the 100 × 100 canvas a parsed model answer uses); they are moved onto the thumbnail with
``Box.rescaled`` so no module here does coordinate arithmetic of its own.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from imax.schema.box import Box
from imax.tasks.rec import payload_box


@dataclass(frozen=True)
class Overlay:
    """One box to draw: its colour, a short label, and whether it is dashed (question, not answer)."""

    box: Box
    colour: str
    label: str = ""
    dashed: bool = False


def box_or_none(payload: Any) -> Box | None:
    """The Box of a ``{"box", "size"}`` payload, or ``None`` when it is absent or malformed."""
    if not isinstance(payload, Mapping) or "box" not in payload or "size" not in payload:
        return None
    try:
        return payload_box(payload)
    except (TypeError, ValueError, KeyError):
        return None


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def load_image(path: Path) -> tuple[Image.Image | None, str]:
    """(RGB image, "") or (None, why) when the file is missing or unreadable."""
    if not path.is_file():
        return None, "missing image"
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB"), ""
    except (OSError, ValueError) as exc:  # PIL raises OSError/UnidentifiedImageError on bad files
        return None, f"unreadable image ({type(exc).__name__})"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _dashed_rect(draw: ImageDraw.ImageDraw, xy: tuple[float, float, float, float], colour: str, width: int) -> None:
    x1, y1, x2, y2 = xy
    dash = max(4, width * 3)
    for a, b, horizontal, fixed in ((x1, x2, True, y1), (x1, x2, True, y2), (y1, y2, False, x1), (y1, y2, False, x2)):
        t = a
        while t < b:
            e = min(t + dash, b)
            line = [(t, fixed), (e, fixed)] if horizontal else [(fixed, t), (fixed, e)]
            draw.line(line, fill=colour, width=width)
            t += 2 * dash


def draw_overlays(image: Image.Image, overlays: Sequence[Overlay], labels: bool = True) -> Image.Image:
    """A copy of ``image`` with every overlay drawn (boxes rescaled to the image's size).

    ``labels=False`` draws boxes only: on small thumbnails the colours (and the page legend) say enough.
    """
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    width = max(2, round(max(w, h) / 170))
    font = _font(max(10, round(max(w, h) / 32)))
    scaled = [(ov, ov.box.rescaled(w, h)) for ov in overlays]
    for ov, b in scaled:
        xy = (b.x1, b.y1, b.x2, b.y2)
        if ov.dashed:
            _dashed_rect(draw, xy, ov.colour, width)
        else:
            draw.rectangle(xy, outline=ov.colour, width=width)
    # Labels after all boxes, so no later outline cuts through an earlier label.
    placed: list[tuple[float, float, float, float]] = []
    for ov, b in scaled:
        if not (ov.label and labels):
            continue
        # A filled tab just inside the box's top-left corner, shifted left if it would leave the image
        # and down past labels already placed (boxes of one image often share a corner).
        tx, ty = max(0.0, b.x1), max(0.0, b.y1)
        for _ in range(12):
            left, top, right, bottom = draw.textbbox((tx + 3, ty + 1), ov.label, font=font)
            if right + 3 > w:
                tx -= right + 3 - w
                left, top, right, bottom = draw.textbbox((tx + 3, ty + 1), ov.label, font=font)
            tab = (left - 3, top - 1, right + 3, bottom + 1)
            if not any(tab[0] < p[2] and p[0] < tab[2] and tab[1] < p[3] and p[1] < tab[3] for p in placed):
                break
            ty += bottom - top + 4
        placed.append(tab)
        draw.rectangle(tab, fill=ov.colour)
        draw.text((tx + 3, ty + 1), ov.label, fill="#ffffff", font=font)
    return out


def thumbnail(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` scaled so its longest side is ``max_side`` — down, or *up* for small images (64 px
    phantoms), so boxes and labels are drawn at the resolution the page shows, not blown up after."""
    scale = max_side / max(image.size)
    if abs(scale - 1) < 1e-9:
        return image.copy()
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)


def zoomed(image: Image.Image, overlays: Sequence[Overlay], max_side: int, labels: bool = False,
           pad: float = 0.35) -> Image.Image:
    """The region around all overlays (plus ``pad`` of its size each side), boxes drawn, at most
    ``max_side`` px: small differences between predicted boxes stay visible on a small thumbnail."""
    # Draw on a 3x larger view, then crop: line widths end up in proportion to the zoomed view.
    big = draw_overlays(thumbnail(image, 3 * max_side), overlays, labels)
    w, h = big.size
    boxes = [ov.box.rescaled(w, h) for ov in overlays]
    x1, y1 = min(b.x1 for b in boxes), min(b.y1 for b in boxes)
    x2, y2 = max(b.x2 for b in boxes), max(b.y2 for b in boxes)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * pad)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = min(max(side, 8.0), float(max(w, h)))
    left = min(max(0.0, cx - side / 2), max(0.0, w - side))
    top = min(max(0.0, cy - side / 2), max(0.0, h - side))
    crop = big.crop((round(left), round(top), round(min(w, left + side)), round(min(h, top + side))))
    return thumbnail(crop, max_side)


def encode_jpeg(image: Image.Image, quality: int = 82) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=True)
    return data_uri(buf.getvalue(), "image/jpeg")


def image_tag(path: Path, overlays: Sequence[Overlay], max_side: int, cls: str, alt: str,
              image: Image.Image | None = None, labels: bool = True, zoom: bool = False) -> str:
    """``<img>`` with the thumbnail and its overlays inline, or an explicit placeholder box.

    Pass an already loaded ``image`` to draw several views of one file without reading it again;
    ``zoom=True`` crops to the overlays (see :func:`zoomed`).
    Thumbnailing happens before drawing, so line widths and labels are sized for what is shown.
    """
    why = ""
    if image is None:
        image, why = load_image(path)
    if image is None:
        return missing_placeholder(path, why, cls)
    if zoom and overlays:
        im = zoomed(image, overlays, max_side, labels)
    else:
        im = draw_overlays(thumbnail(image, max_side), overlays, labels)
    return (f'<img class="{cls}" src="{encode_jpeg(im)}" alt="{html.escape(alt)}" '
            f'width="{im.width}" height="{im.height}">')


def missing_placeholder(path: Path | str, why: str, cls: str = "") -> str:
    """A visible box naming the file, used instead of an ``<img>`` that would show as broken."""
    return (f'<div class="missing {cls}" role="img" aria-label="{html.escape(why)}"><div><b>{html.escape(why)}</b>'
            f'<br><span class="mono">{html.escape(str(path))}</span></div></div>')
