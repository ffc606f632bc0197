"""Image file checks: does each IMAGES path exist under the data root and hold something readable?

Shallow (default): ``os.stat`` — the file exists and is non-empty. Deep: PIL opens and fully decodes
it. Both run in a thread pool (stat and JPEG decoding release the GIL); at MIMIC scale (377K files)
the shallow check costs ~1.6 s of CPU with a warm page cache (threads only help a cold cache).
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_CHUNK = 4096


def _shallow(root: str, paths: list[str]) -> list[str | None]:
    out: list[str | None] = []
    prefix = root.rstrip("/") + "/"
    for p in paths:
        try:
            st = os.stat(prefix + p)
        except OSError:
            out.append("image file missing")
            continue
        out.append("image file empty" if st.st_size == 0 else None)
    return out


def _deep(root: str, paths: list[str]) -> list[str | None]:
    from PIL import Image

    # What PIL raises for a corrupt, truncated or hostile file (plugins differ); anything else is a bug.
    decode_errors = (OSError, EOFError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError)
    out: list[str | None] = []
    for p in paths:
        try:
            with Image.open(os.path.join(root, p)) as im:
                im.load()
            out.append(None)
        except decode_errors as exc:
            out.append(f"image not decodable: {type(exc).__name__}: {exc}"[:200])
    return out


def check_image_files(
    root: Path, paths: list[str], *, deep: bool = False, workers: int = 8
) -> list[str | None]:
    """For each relative path: None when fine, else why the image is unusable (same order as ``paths``)."""
    shallow = _run(_shallow, str(root), paths, workers)
    if not deep:
        return shallow
    ok = [p for p, r in zip(paths, shallow, strict=True) if r is None]
    deep_res = iter(_run(_deep, str(root), ok, workers))
    return [r if r is not None else next(deep_res) for r in shallow]


def _run(fn, root: str, paths: list[str], workers: int) -> list[str | None]:  # type: ignore[no-untyped-def]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    if len(chunks) <= 1:
        return fn(root, paths)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [r for part in pool.map(lambda c: fn(root, c), chunks) for r in part]
