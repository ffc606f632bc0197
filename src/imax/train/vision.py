"""Pretraining of the vision tower alone, on dense targets from a phantom pool's truth (no task data).

A LLaVA-style model expects a *pretrained* vision encoder (CLIP, EVA-CLIP) with general visual knowledge
of its images; a tower trained only through a small language loss learns little. The tiny base's tower is
trained on what the phantom pool *is*, not on any task's annotations or answers:

* **anatomy segmentation** (dense): for each cell of a grid of 2 × 2 cells per ViT patch, the fraction
  covered by the right lung, the left lung and the heart (CheXmask masks of the pool, rows under the
  CheXmask quality cut left out, as a real pipeline would);
* **lesion maps** (dense): the fraction of each cell inside the drawn extent of each finding or device
  (:data:`LESIONS`, from ``truth.parquet``'s ``finding_boxes``);
* optionally (``label_weight`` > 0, a judgement call recorded in ``pretrain_report.json``) image-level
  truth attributes through the pooled features: the noise-free finding classes and the edema grade.

Nothing here is text, and no target is an instruction, a task token or an answer format. The throw-away
heads are linear: a cell's logits are a linear function of its patch token, so the *features* must carry
where the anatomy is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from imax.data import ImageSpec, LoadImaged
from imax.schema.errors import ImaxError
from imax.schema.records import CHEXPERT14, CXRLT26, REGIONS

FINDINGS: tuple[str, ...] = tuple(sorted(set(CHEXPERT14) | set(CXRLT26)))
MEASURES: tuple[str, ...] = ("ctr", "cpar")
ANATOMY: tuple[str, ...] = ("right lung", "left lung", "heart")
"""Channels of the anatomy segmentation target."""
LESIONS: tuple[str, ...] = (
    "pleural effusion", "consolidation", "pneumothorax", "nodule", "mass", "atelectasis", "infiltration",
    "pleural thickening", "fracture", "fibrosis", "enlarged cardiomediastinum", "pneumomediastinum",
    "pneumoperitoneum", "subcutaneous emphysema", "hernia", "aortic calcification", "tortuous aorta",
    "endotracheal tube", "nasogastric tube", "central venous catheter", "pacemaker", "sternotomy wires",
)
"""Channels of the lesion map: the phantom's finding-box phrases with the side dropped."""
CHEXMASK_CSV = "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"
RCA_MIN = 0.7
"""CheXmask's own quality cut (Dice RCA mean): masks below it are not used as targets."""


@dataclass
class VisionTargets:
    """Per frontal image of a phantom pool (N images, grid G × G cells):

    ``pixels (N, 1, S, S)``; ``anatomy (N, 3, G, G)`` cell fractions with ``anatomy_known (N,)``;
    ``lesions (N, len(LESIONS), G, G)``; ``findings (N, F)`` noise-free multi-hot; ``edema (N,)``;
    and, for the probes only, ``measures (N, 2)`` (CTR, CPAR) and ``boxes (N, 4 regions × 4)`` normalised
    xyxy (NaN = unknown)."""

    images: list[str]
    subjects: np.ndarray
    pixels: torch.Tensor
    anatomy: torch.Tensor
    anatomy_known: torch.Tensor
    lesions: torch.Tensor
    findings: torch.Tensor
    edema: torch.Tensor
    measures: torch.Tensor
    boxes: torch.Tensor

    def take(self, idx: np.ndarray) -> VisionTargets:
        """The targets of rows ``idx`` (a subset of the images)."""
        t = torch.as_tensor(idx, dtype=torch.long)
        return VisionTargets(
            images=[self.images[i] for i in idx.tolist()], subjects=self.subjects[idx],
            **{k: getattr(self, k)[t] for k in ("pixels", "anatomy", "anatomy_known", "lesions", "findings", "edema",
                                                "measures", "boxes")},
        )


def _decode_rle(rle: object, h: int, w: int) -> np.ndarray:
    from imax.sources.rle import decode_rle

    return decode_rle(rle if isinstance(rle, str) else None, h, w)


def _cells(mask: np.ndarray, grid: int) -> np.ndarray:
    """(H, W) bool → (grid, grid) float fraction covered (area pooling; H, W multiples of grid)."""
    h, w = mask.shape
    return mask.reshape(grid, h // grid, grid, w // grid).mean(axis=(1, 3))


def _box_cells(boxes: list[list[float]], size: int, grid: int) -> np.ndarray:
    """Fraction of each cell inside the union of pixel xyxy ``boxes`` on a ``size`` image."""
    fine = np.zeros((grid * 8, grid * 8), dtype=bool)
    k = grid * 8 / size
    for x1, y1, x2, y2 in boxes:
        fine[math.floor(y1 * k) : math.ceil(y2 * k), math.floor(x1 * k) : math.ceil(x2 * k)] = True
    return _cells(fine, grid)


def lesion_channel(phrase: str) -> str | None:
    """The :data:`LESIONS` channel of a finding-box phrase ("left pleural effusion" → "pleural effusion")."""
    for prefix in ("left ", "right "):
        phrase = phrase.removeprefix(prefix)
    return phrase if phrase in LESIONS else None


def phantom_frontals(root: Path) -> pd.DataFrame:
    """``truth.parquet`` rows of the frontal images of the phantom at ``root``, in file order."""
    path = Path(root) / "truth.parquet"
    if not path.is_file():
        raise ImaxError(f"{root}: not a phantom directory (no truth.parquet); run `imax phantom` first")
    t = pd.read_parquet(path)
    return t[t["frontal"]].reset_index(drop=True)


def vision_targets(root: Path, spec: ImageSpec, grid: int, rows: pd.DataFrame | None = None) -> VisionTargets:
    """Targets of the frontal images of the phantom at ``root`` (``rows``: a subset of its frontals); pixels
    as the model's processor gives them (``spec``), cells on a ``grid × grid`` lattice of the image."""
    rows = phantom_frontals(root) if rows is None else rows
    masks = pd.read_csv(Path(root) / CHEXMASK_CSV, usecols=["dicom_id", "Dice RCA (Mean)", "Right Lung",
                                                            "Left Lung", "Heart", "Height", "Width"])
    masks = masks.set_index("dicom_id")
    n = len(rows)
    anatomy = np.zeros((n, len(ANATOMY), grid, grid), dtype=np.float32)
    known = np.zeros(n, dtype=bool)
    lesions = np.zeros((n, len(LESIONS), grid, grid), dtype=np.float32)
    boxes = np.full((n, 4 * len(REGIONS)), np.nan, dtype=np.float32)
    for i, row in enumerate(rows.itertuples(index=False)):
        size = int(row.width)
        if row.dicom_id in masks.index:
            m = masks.loc[row.dicom_id]
            if float(m["Dice RCA (Mean)"]) >= RCA_MIN and int(m["Height"]) % grid == 0:
                for c, col in enumerate(("Right Lung", "Left Lung", "Heart")):
                    anatomy[i, c] = _cells(_decode_rle(m[col], int(m["Height"]), int(m["Width"])), grid)
                known[i] = True
        by_channel: dict[str, list[list[float]]] = {}
        for phrase, box in json.loads(row.finding_boxes).items():
            ch = lesion_channel(phrase)
            if ch is not None and box:
                by_channel.setdefault(ch, []).append(box)
        for ch, bs in by_channel.items():
            lesions[i, LESIONS.index(ch)] = _box_cells(bs, size, grid)
        region_boxes = {"heart": row.heart_box, "left lung": row.left_lung_box, "right lung": row.right_lung_box}
        if row.left_lung_box is not None and row.right_lung_box is not None:
            lb, rb = row.left_lung_box, row.right_lung_box
            region_boxes["both lungs"] = [min(lb[0], rb[0]), min(lb[1], rb[1]), max(lb[2], rb[2]), max(lb[3], rb[3])]
        for k, region in enumerate(REGIONS):
            b = region_boxes.get(region)
            if b is not None:
                boxes[i, 4 * k : 4 * k + 4] = np.asarray(b, dtype=np.float32) / size
    loader = LoadImaged(Path(root), spec)
    images = rows["path"].tolist()
    pixels = torch.from_numpy(np.stack([loader.array(p) for p in images])) if images else torch.empty(0)
    labels = rows["labels"].tolist()
    return VisionTargets(
        images=images, subjects=rows["subject_id"].to_numpy(),
        pixels=pixels, anatomy=torch.from_numpy(anatomy), anatomy_known=torch.from_numpy(known),
        lesions=torch.from_numpy(lesions),
        findings=torch.tensor([[f in set(lab) for f in FINDINGS] for lab in labels], dtype=torch.float32
                              ).reshape(n, len(FINDINGS)),
        edema=torch.tensor(rows["edema_grade"].to_numpy(), dtype=torch.long),
        measures=torch.tensor(rows[["ctr", "cpar"]].to_numpy(dtype=np.float32)).reshape(n, 2),
        boxes=torch.from_numpy(boxes),
    )


def pool_split(subjects: np.ndarray, heldout_fraction: float, seed: int) -> np.ndarray:
    """Boolean (N,) "held out" per image, drawn per patient (every image of a patient on one side)."""
    uniq = np.unique(subjects)
    r = np.random.default_rng([seed, 77])
    out = set(uniq[r.random(uniq.size) < heldout_fraction].tolist())
    return np.array([s in out for s in subjects.tolist()], dtype=bool)


class DenseHead(nn.Module):
    """Linear read-outs of the tower: per patch token, ``sub²`` cells × (anatomy + lesion) logits; on
    the pooled features, finding logits and edema-grade logits."""

    def __init__(self, dim: int, sub: int = 2) -> None:
        super().__init__()
        self.sub = sub
        self.channels = len(ANATOMY) + len(LESIONS)
        self.cells = nn.Linear(dim, self.channels * sub * sub)
        self.findings = nn.Linear(dim, len(FINDINGS))
        self.edema = nn.Linear(dim, 4)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``tokens (B, P*P, D)`` patch tokens → ``(cells (B, C, P*sub, P*sub), findings (B, F), edema (B, 4))``."""
        b, n, _ = tokens.shape
        p, s = round(math.sqrt(n)), self.sub
        x = self.cells(tokens).view(b, p, p, self.channels, s, s)
        cells = x.permute(0, 3, 1, 4, 2, 5).reshape(b, self.channels, p * s, p * s)
        pooled = tokens.mean(1)
        return cells, self.findings(pooled), self.edema(pooled)


def _masked_bce(logits: torch.Tensor, target: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    if not bool(rows.any()):
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[rows], target[rows])


def dense_loss(out: tuple[torch.Tensor, torch.Tensor, torch.Tensor], t: dict[str, torch.Tensor],
               label_weight: float) -> torch.Tensor:
    """Anatomy BCE on soft cell fractions (images with a usable mask) + lesion BCE (positive cells
    up-weighted: lesions cover a few % of the image) + ``label_weight`` × (finding BCE + edema CE)."""
    cells, f_logits, e_logits = out
    a = len(ANATOMY)
    loss = _masked_bce(cells[:, :a], t["anatomy"], t["anatomy_known"])
    les_logits, les = cells[:, a:], t["lesions"]
    weight = 1.0 + 9.0 * (les > 0).float()
    loss = loss + (F.binary_cross_entropy_with_logits(les_logits, les, reduction="none") * weight).mean()
    if label_weight > 0:
        loss = loss + label_weight * (F.binary_cross_entropy_with_logits(f_logits, t["findings"])
                                      + F.cross_entropy(e_logits, t["edema"]))
    return loss


def patch_tokens(tower: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Last-layer patch tokens (CLS dropped, as LLaVA's "default" strategy): ``(B, P*P, D)``."""
    return tower(pixel_values=pixels).last_hidden_state[:, 1:]


def pretrain_vision(model: nn.Module, targets: VisionTargets, *, epochs: float, batch_size: int = 32,
                    lr: float = 5e-4, label_weight: float = 1.0, seed: int = 0) -> list[float]:
    """Train ``model``'s vision tower in place on ``targets``; returns per-epoch mean losses.

    Augmentation: none beyond the phantom's own pose variation (a flip would swap the left and right
    lungs; a crop would move the boxes the segmentation must find)."""
    tower = model.model.vision_tower
    n = len(targets.images)
    if n == 0 or epochs <= 0:
        return []
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = DenseHead(int(model.config.vision_config.hidden_size))
    params = list(tower.parameters()) + list(head.parameters())
    tower.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    steps = max(1, math.ceil(epochs * n / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    tower.train()
    losses: list[float] = []
    order = torch.randperm(n, generator=gen)
    pos, running, count = 0, 0.0, 0
    keys = ("anatomy", "anatomy_known", "lesions", "findings", "edema")
    for step in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        batch = {k: getattr(targets, k)[idx] for k in keys}
        loss = dense_loss(head(patch_tokens(tower, targets.pixels[idx])), batch, label_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running, count = running + loss.item(), count + 1
        if (step + 1) * batch_size // n > step * batch_size // n or step == steps - 1:  # epoch boundary
            losses.append(running / count)
            running, count = 0.0, 0
    tower.eval()
    tower.requires_grad_(False)
    return losses


__all__ = ["ANATOMY", "FINDINGS", "LESIONS", "MEASURES", "DenseHead", "VisionTargets", "dense_loss",
           "lesion_channel", "patch_tokens", "phantom_frontals", "pool_split", "pretrain_vision", "vision_targets"]
