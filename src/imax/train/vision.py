"""Supervised pretraining of the vision tower alone, on the labels of a built pretraining pool.

A LLaVA-style model expects a *pretrained* vision encoder (CLIP, EVA-CLIP); a tower trained only through
the language loss of a small pool learns little (measured: its linear-probe AUROC was no better than the
random initialisation). So the tiny base's tower is first trained directly on what the pool's images are
annotated with — findings (multi-hot over the CheXpert-14 ∪ CXR-LT-26 names), edema grade, CTR/CPAR and
the heart/lung boxes — through a throw-away head on the mean-pooled patch features. Every target is
masked where the image has no such annotation, so nothing is invented.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imax.data import ImageSpec, LoadImaged, load_entries, read_data_root
from imax.schema.records import CHEXPERT14, CXRLT26, REGIONS

FINDINGS: tuple[str, ...] = tuple(sorted(set(CHEXPERT14) | set(CXRLT26)))
MEASURES: tuple[str, ...] = ("ctr", "cpar")


@dataclass
class VisionTargets:
    """Per image of one split: ``pixels (N, 1, S, S)``, ``findings (N, F)`` with ``findings_mask (N,)``,
    ``edema (N,)`` (-1 = unknown), ``measures (N, 2)`` and ``boxes (N, 4 regions × 4)`` (NaN = unknown)."""

    images: list[str]
    pixels: torch.Tensor
    findings: torch.Tensor
    findings_mask: torch.Tensor
    edema: torch.Tensor
    measures: torch.Tensor
    boxes: torch.Tensor


def vision_targets(data: Path, splits: tuple[str, ...], spec: ImageSpec) -> VisionTargets:
    """Collect the supervised targets of every image in ``splits`` of a built dataset (pixels as ``spec``)."""
    rows: dict[str, dict[str, Any]] = {}
    for split in splits:
        for e in load_entries(data, split):
            r = rows.setdefault(e["image"], {"findings": None, "edema": -1, "measures": [math.nan] * 2,
                                             "boxes": [math.nan] * (4 * len(REGIONS))})
            q, a = json.loads(e["query"]), json.loads(e["answer"])
            if e["task"] == "multilabel":
                r["findings"] = (r["findings"] or set()) | set(a["labels"])
            elif e["task"] == "multiclass":
                r["edema"] = int(a["grade"])
            elif e["task"] == "calculation":
                r["measures"][MEASURES.index(q["measure"])] = float(a["value"])
            elif e["task"] == "rec" and q["phrase"] in REGIONS:
                x1, y1, x2, y2 = a["box"]
                w, h = a["size"]
                k = REGIONS.index(q["phrase"]) * 4
                r["boxes"][k : k + 4] = [x1 / w, y1 / h, x2 / w, y2 / h]
    images = sorted(rows)
    loader = LoadImaged(read_data_root(data), spec)
    pixels = torch.from_numpy(np.stack([loader.array(p) for p in images])) if images else torch.empty(0)
    findings = torch.tensor([[f in (rows[p]["findings"] or ()) for f in FINDINGS] for p in images], dtype=torch.float32)
    return VisionTargets(
        images=images,
        pixels=pixels,
        findings=findings.reshape(len(images), len(FINDINGS)),
        findings_mask=torch.tensor([rows[p]["findings"] is not None for p in images]),
        edema=torch.tensor([rows[p]["edema"] for p in images], dtype=torch.long),
        measures=torch.tensor([rows[p]["measures"] for p in images], dtype=torch.float32).reshape(len(images), 2),
        boxes=torch.tensor([rows[p]["boxes"] for p in images], dtype=torch.float32).reshape(len(images), -1),
    )


def standardise(values: torch.Tensor) -> torch.Tensor:
    """Z-score each column over its known (non-NaN) values; NaN stays NaN.

    Why: a CTR varies by ~0.05 and a box corner by ~0.03 around their means, so a raw MSE on them is
    ~1e-3 — three orders below the findings' BCE — and the tower would learn nothing about heart size
    or lung extent. Standardised, every target contributes a loss of order 1.
    """
    known = ~torch.isnan(values)
    count = known.sum(0).clamp(min=1)
    mean = torch.nan_to_num(values).sum(0) / count
    var = (torch.nan_to_num(values - mean) ** 2).sum(0) / count
    return (values - mean) / var.sqrt().clamp(min=1e-6)


class _Head(nn.Module):
    """Linear heads on the pooled tower features: findings logits, edema logits, measures, boxes
    (the last two in standardised units)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.findings = nn.Linear(dim, len(FINDINGS))
        self.edema = nn.Linear(dim, 4)
        self.measures = nn.Linear(dim, len(MEASURES))
        self.boxes = nn.Linear(dim, 4 * len(REGIONS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.findings(x), self.edema(x), self.measures(x), self.boxes(x)


def _pooled(tower: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Mean of the patch tokens of the last layer (CLS dropped, as LLaVA's "default" strategy): (B, D)."""
    return tower(pixel_values=pixels).last_hidden_state[:, 1:].mean(1)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum() if bool(mask.any()) else values.sum() * 0.0


def supervised_loss(head_out: tuple[torch.Tensor, ...], t: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the masked per-target losses: BCE findings, CE edema, MSE of the standardised measures and
    box corners (see :func:`standardise`)."""
    f_logits, e_logits, m_pred, b_pred = head_out
    fm = t["findings_mask"].float()[:, None].expand_as(f_logits)
    loss = _masked_mean(F.binary_cross_entropy_with_logits(f_logits, t["findings"], reduction="none"), fm)
    if bool((t["edema"] >= 0).any()):
        loss = loss + F.cross_entropy(e_logits, t["edema"], ignore_index=-1)
    mm = ~torch.isnan(t["measures"])
    loss = loss + _masked_mean((m_pred - torch.nan_to_num(t["measures"])) ** 2, mm.float())
    bm = ~torch.isnan(t["boxes"])
    return loss + _masked_mean((b_pred - torch.nan_to_num(t["boxes"])) ** 2, bm.float())


def pretrain_vision(model: nn.Module, data: Path, *, epochs: float, batch_size: int = 32, lr: float = 3e-4,
                    seed: int = 0) -> list[float]:
    """Train ``model``'s vision tower in place on the train split of ``data``; returns per-epoch losses."""
    tower = model.model.vision_tower
    from imax.model import image_processor_for

    # The pixels the model's processor gives (the one save_base writes beside the model).
    targets = vision_targets(data, ("train",), ImageSpec.from_processor(image_processor_for(model)))
    targets.measures, targets.boxes = standardise(targets.measures), standardise(targets.boxes)
    n = len(targets.images)
    if n == 0 or epochs <= 0:
        return []
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = _Head(int(model.config.vision_config.hidden_size))
    params = [p for p in tower.parameters()] + list(head.parameters())
    tower.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    steps = max(1, math.ceil(epochs * n / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    tower.train()
    losses: list[float] = []
    order = torch.randperm(n, generator=gen)
    pos, running, count = 0, 0.0, 0
    for step in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        batch = {k: getattr(targets, k)[idx] for k in ("findings", "findings_mask", "edema", "measures", "boxes")}
        loss = supervised_loss(head(_pooled(tower, targets.pixels[idx])), batch)
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
    return losses
