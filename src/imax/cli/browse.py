"""``imax browse DIR``: write a static, self-contained page to page through a built dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HELP = "Write a self-contained HTML page to browse a built dataset's image-centric records."
POSITIONAL = ("dir",)


@dataclass
class Config:
    dir: Path = Path(".")
    """Built dataset directory (what imax build wrote: entries.parquet, images.parquet, manifest.json)."""
    out: Path | None = None
    """Where to write the page; default DIR/browse.html."""
    max_images: int = 200
    """Most images on the page (a seeded random sample when the dataset has more)."""
    seed: int = 0
    """Seed of that sample."""


def run(cfg: Config) -> int:
    from imax.report import write_browser

    path = write_browser(cfg.dir, cfg.out, max_images=cfg.max_images, seed=cfg.seed)
    print(path)
    return 0
