"""Contact sheet: 16 phantom images with heart/lung masks, finding boxes and labels overlaid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

TILE = 256
COLOURS = {"heart": (255, 80, 80), "left_lung": (80, 160, 255), "right_lung": (80, 255, 140)}


def _choose(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """Frontal images with findings first (one per study), then laterals, so the sheet shows variety."""
    fr = df[df["frontal"]].drop_duplicates("study_id")
    sick = fr[~fr["no_finding"]]
    pick = pd.concat([sick.head(n - 4), fr[fr["no_finding"]].head(2), df[~df["frontal"]].head(2)])
    if len(pick) < n:
        pick = pd.concat([pick, df[~df["dicom_id"].isin(pick["dicom_id"])].head(n - len(pick))])
    return pick.head(n)


def write_contact_sheet(root: Path, path: Path, n: int = 16) -> Path:
    """Write a 4×4 PNG of ``n`` images under ``root`` (a phantom folder with truth.parquet)."""
    df = pd.read_parquet(Path(root) / "truth.parquet")
    cols = 4
    sheet = Image.new("RGB", (cols * TILE, -(-n // cols) * TILE), (0, 0, 0))
    for k, (_, row) in enumerate(_choose(df, n).iterrows()):
        img = Image.open(Path(root) / row["path"]).convert("RGB")
        scale = TILE / img.width
        img = img.resize((TILE, TILE))
        d = ImageDraw.Draw(img)
        for name, key in (("heart", "heart_box"), ("left_lung", "left_lung_box"), ("right_lung", "right_lung_box")):
            b = row[key]
            if b is not None and len(b) == 4:
                d.rectangle([v * scale for v in b], outline=COLOURS[name], width=1)
        for phrase, b in json.loads(row["finding_boxes"]).items():
            if phrase == "cardiac silhouette":
                continue
            d.rectangle([v * scale for v in b], outline=(255, 220, 0), width=2)
            d.text((b[0] * scale + 2, b[1] * scale + 1), phrase, fill=(255, 220, 0))
        labels = [x for x in row["labels"] if x != "No Finding"] or ["No Finding"]
        text = f"{row['view']} | CTR {row['ctr']:.2f}" if pd.notna(row["ctr"]) else str(row["view"])
        d.rectangle([0, TILE - 12 * (1 + len(labels[:4])) - 2, TILE, TILE], fill=(0, 0, 0))
        for i, line in enumerate([text, *labels[:4]]):
            d.text((3, TILE - 12 * (1 + len(labels[:4])) + 12 * i), line, fill=(255, 255, 255))
        sheet.paste(img, ((k % cols) * TILE, (k // cols) * TILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def overlay_masks(image: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """(S, S, 3) uint8: ``image`` with each (S, S) bool mask tinted in its colour (for notebooks)."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    for name, m in masks.items():
        rgb[m] = 0.6 * rgb[m] + 0.4 * np.array(COLOURS.get(name, (255, 255, 0)), dtype=np.float32)
    return rgb.astype(np.uint8)
