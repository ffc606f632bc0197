"""Frozen vision-tower features, computed once per train image before training and reused every step.

Under LoRA the vision tower is frozen, so its (selected, pre-projector) features are a fixed function of
the image: encoding an image every time one of its entries is drawn repeats the same work. Image-centric
data draws each image about 7 times an epoch (the study: 7.46 entries per image), so this pre-pass
removes most of the vision forward from training; on the tiny model the tower is about a tenth of a
step. The projector stays in the graph (it trains): features go back in through
:func:`imax.model.compose.image_inputs`.

Determinism: images are encoded in a fixed order (sorted paths) and fixed chunks (``batch_size``), the
same in every run, resume and process count, so a resumed or DDP run sees exactly the features an
uninterrupted single-process run sees. (Encoding them lazily, in whatever batch first draws them, would
make the features depend on batch composition wherever the GEMMs are not batch-invariant, e.g. GPUs.)

The cache is used only when it is exact and fits: a frozen tower, and all features within
``TrainConfig.vision_cache_gb`` (each process holds the whole cache). Otherwise training encodes every
batch as before, and the reason is returned.

It lives in ``imax.model`` (beside the forward split it uses) because training, evaluation and
pseudo-labelling all use it; evaluation must not import from ``imax.train``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from imax.model.compose import llava_core, vision_features


@dataclass
class VisionFeatureCache:
    """Features of every train image: ``features[row_of[path]]`` is one image's (n_image, D)."""

    features: torch.Tensor
    """(n_images, n_image, D) in the dtype the tower produced under the training autocast."""
    row_of: dict[str, int]
    """Image path (as the entries spell it) → row of ``features``."""
    seconds: float
    """Wall time of the pre-pass."""

    def lookup(self, images: Sequence[str]) -> torch.Tensor:
        """(B, n_image, D) features of ``images``; a path not cached is a KeyError naming it."""
        missing = [p for p in images if p not in self.row_of]
        if missing:
            raise KeyError(f"image not in the vision-feature cache: {missing[0]!r}")
        rows = torch.tensor([self.row_of[p] for p in images], device=self.features.device)
        return self.features.index_select(0, rows)

    def summary(self) -> dict[str, Any]:
        """What the run log records about the cache."""
        return {"images": len(self.row_of), "mb": round(self.features.numel() * self.features.element_size()
                / 2**20, 1), "seconds": round(self.seconds, 3)}  # fmt: skip


def tower_is_frozen(model: nn.Module) -> bool:
    """True when no vision-tower parameter trains (the cache is exact only then)."""
    core = llava_core(model)
    return core is not None and not any(p.requires_grad for p in core.model.vision_tower.parameters())


@torch.no_grad()
def build_vision_cache(
    model: nn.Module,
    entries: Sequence[Mapping[str, Any]],
    pixels: Callable[[Sequence[Mapping[str, Any]]], torch.Tensor],
    *,
    chunk: int,
    budget_gb: float,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
    require_frozen: bool = True,
) -> tuple[VisionFeatureCache | None, str]:
    """Encode every distinct image of ``entries`` (field ``image``) once; (cache, "") or (None, why not).

    Args:
        pixels: entries → float (B, C, S, S), the collator's own image loading (same pixels as training).
        chunk: images per vision forward.
        autocast: the training forward's autocast context factory (features must match what it computes).
        require_frozen: refuse when a tower parameter trains (the features would go stale during
            training); inference callers (evaluation, pseudo-labelling) pass False.
    """
    if budget_gb <= 0:
        return None, "disabled (vision_cache_gb = 0)"
    if require_frozen and not tower_is_frozen(model):
        return None, "the vision tower trains"
    by_path = {e["image"]: e for e in entries}
    paths = sorted(by_path)
    if not paths:
        return None, "no train images"
    start = time.perf_counter()
    first = _encode(model, pixels([by_path[p] for p in paths[:chunk]]), device, autocast)
    # Size from what the tower actually gives (shape and dtype, autocast included), before allocating.
    need = len(paths) * first[0].numel() * first.element_size()
    if need > budget_gb * 2**30:
        return None, f"{need / 2**30:.2f} GB of features > vision_cache_gb = {budget_gb:g}"
    features = first.new_empty(len(paths), *first.shape[1:])
    features[: len(first)] = first
    for k in range(chunk, len(paths), chunk):
        part = _encode(model, pixels([by_path[p] for p in paths[k : k + chunk]]), device, autocast)
        features[k : k + len(part)] = part
    cache = VisionFeatureCache(features, {p: i for i, p in enumerate(paths)}, time.perf_counter() - start)
    return cache, ""


def _encode(
    model: nn.Module, pixel_values: torch.Tensor, device: torch.device, autocast: Callable
) -> torch.Tensor:
    with autocast():
        return vision_features(model, pixel_values.to(device))
