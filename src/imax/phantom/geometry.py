"""How much the phantom's anatomy moves between images: box spreads, mean-box IoU, CTR distribution.

Real chest radiographs vary in patient size and habitus, centring, rotation, inspiration, field of view
and collimation, so the heart and lung boxes move from image to image: on 435 real radiographs with lung
masks the lung-box corner coordinates have standard deviations of 4-10 % of the image side and the mean
box overlaps each lung's box with IoU 0.69-0.76 (acc@0.5 0.92-0.99, acc@0.75 0.32-0.58). If one box fits
every image, grounding is not a task; :func:`box_statistics` measures the phantom against those figures
(docs/phantom-geometry.md, tests/phantom/test_geometry.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BOX_COLUMNS: dict[str, str] = {"right lung": "right_lung_box", "left lung": "left_lung_box", "heart": "heart_box"}
"""Region name → truth.parquet column (pixel xyxy on the ``width`` × ``height`` image)."""


def iou_rows(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each ``(N, 4)`` xyxy row with one ``(4,)`` box."""
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + (box[2] - box[0]) * (box[3] - box[1]) - inter)


def box_statistics(truth: pd.DataFrame) -> dict[str, Any]:
    """Spreads of the frontal images' region boxes and the CTR distribution, from a ``truth.parquet`` frame.

    Returns ``{"images": N, "regions": {region: {"std": [x1, y1, x2, y2] as fractions of the image side,
    "mean_box", "mean_box_iou", "acc_iou_0.5", "acc_iou_0.75"}}, "ctr": {view: {"n", "mean", "sd",
    "quantiles" (5/25/50/75/95 %), "above_0.5"}}}``. Boxes are normalised by the image size first, so
    phantoms of any size compare.
    """
    fr = truth[truth["frontal"]]
    out: dict[str, Any] = {"images": len(fr), "regions": {}, "ctr": {}}
    for region, col in BOX_COLUMNS.items():
        rows = fr[fr[col].notna()]
        if rows.empty:
            continue
        side = np.stack([rows["width"], rows["height"], rows["width"], rows["height"]], axis=1).astype(float)
        b = np.stack(rows[col].to_list()).astype(float) / side
        mean = b.mean(0)
        iou = iou_rows(b, mean)
        out["regions"][region] = {
            "std": [round(float(v), 4) for v in b.std(0)], "mean_box": [round(float(v), 4) for v in mean],
            "mean_box_iou": round(float(iou.mean()), 4), "acc_iou_0.5": round(float((iou >= 0.5).mean()), 4),
            "acc_iou_0.75": round(float((iou >= 0.75).mean()), 4),
        }
    for view in ("PA", "AP"):
        c = fr.loc[(fr["view"] == view) & fr["ctr"].notna(), "ctr"].to_numpy(float)
        if c.size:
            out["ctr"][view] = {"n": int(c.size), "mean": round(float(c.mean()), 4), "sd": round(float(c.std()), 4),
                                "quantiles": [round(float(q), 4) for q in np.quantile(c, [0.05, 0.25, 0.5, 0.75, 0.95])],
                                "above_0.5": round(float((c > 0.5).mean()), 4)}
    return out


__all__ = ["BOX_COLUMNS", "box_statistics", "iou_rows"]
