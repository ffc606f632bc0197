"""One training step's arithmetic: answer-token losses (logits only where an answer token is predicted),
per-row sums for logging, and the held-out loss. No Accelerate state beyond the autocast factory."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader

from imax.model import image_inputs

IGNORE = -100
"""Label of a position without loss (prompt, image, padding), as transformers spells it."""


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy per position.

    Args:
        logits: ``(B, L, V)``; position t predicts token t+1.
        labels: ``(B, L)`` token ids, ``-100`` where no loss is taken (prompt, image, padding).
    Returns:
        ``(losses, mask)``, both ``(B, L-1)``: losses are 0 where mask is False.
    """
    b, length, vocab = logits.shape
    labels = labels[:, 1:]
    mask = labels != IGNORE
    # Rows of (B*(L-1), V): the contiguous layout cross_entropy is fastest on (a (B, V, L) transpose is not).
    flat = logits[:, :-1].reshape(-1, vocab).float()
    losses = F.cross_entropy(flat, labels.masked_fill(~mask, 0).reshape(-1), reduction="none")
    return losses.view(b, length - 1) * mask, mask


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions whose next token is an answer token: bool ``(B, L)`` (position t predicts t + 1).

    Only these positions need logits for the loss: prompt, image and pad positions never do, so the
    LM head (``hidden × vocab``, a quarter of the tiny LM's matmul work and far more for a 32K-vocab 7B)
    is applied to them alone via transformers' boolean ``logits_to_keep``.
    """
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE
    return keep


def answer_losses(
    model: torch.nn.Module,
    batch: dict[str, Any],
    autocast: Any = contextlib.nullcontext,
    image_features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of every answer token of ``batch``, computing logits only where they are needed.

    Args:
        batch: ``input_ids, attention_mask, labels`` long ``(B, L)``; ``pixel_values`` ``(B, C, S, S)``.
        autocast: a context factory around the forward (``accelerator.autocast``).
        image_features: ``(B, n_image, D)`` frozen-tower features of the batch's images
            (:mod:`imax.model.vision_cache`), used instead of ``pixel_values`` when given.
    Returns:
        ``(losses, rows)``, both ``(N,)`` for the batch's N answer tokens in row-major order: the
        token's loss (float32) and the batch row it belongs to. ``losses.sum() / N`` equals the
        model's own label loss (tests/train/test_loop.py checks it).
    """
    labels = batch["labels"]
    keep = answer_positions(labels)
    with autocast():
        images = ({"pixel_values": batch["pixel_values"]} if image_features is None
                  else image_inputs(model, image_features))  # the projector runs here, in the graph
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       logits_to_keep=keep, **images).logits  # (N, V)
    targets = labels[:, 1:][keep[:, :-1]]
    rows = torch.arange(labels.shape[0], device=labels.device).repeat_interleave(keep.sum(1))
    return F.cross_entropy(logits.float(), targets, reduction="none"), rows


def loss_units(labels: torch.Tensor, average: str) -> int:
    """What a step's loss is divided by, for this micro-batch's ``labels`` (B, L): its answer tokens
    ("token") or its rows with at least one answer token ("sample"); see ``TrainConfig.loss_average``."""
    answer = labels[:, 1:] != IGNORE
    return int(answer.sum()) if average == "token" else int(answer.any(1).sum())


def weighted_sum(losses: torch.Tensor, rows: torch.Tensor, average: str) -> torch.Tensor:
    """The micro-batch's share of the step loss before dividing by the step's :func:`loss_units`: the sum of
    its answer-token ``losses`` (N,) ("token"), or of each row's mean over its own tokens ("sample")."""
    if average == "token":
        return losses.sum()
    if average != "sample":
        raise ValueError(f"loss_average must be 'token' or 'sample', not {average!r}")
    counts = torch.bincount(rows)  # (B,) answer tokens per row; rows is row-major, every index < B
    return (losses / counts[rows].to(losses.dtype)).sum()


def per_row_sums(losses: torch.Tensor, rows: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per batch row: the sum of its answer-token losses and its answer-token count, both float64
    ``(n_rows,)``, from :func:`answer_losses`' ``(losses, rows)``."""
    sums = torch.zeros(n_rows, device=losses.device, dtype=torch.float64).index_add_(0, rows, losses.double())
    return sums, torch.bincount(rows, minlength=n_rows).double()


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> float:
    """Answer-token mean loss over ``loader`` (this rank's shard), summed over ranks."""
    was_training = model.training
    model.eval()
    total = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    for batch in loader:
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        losses, _ = answer_losses(model, batch, accelerator.autocast)
        total += torch.stack([losses.sum().double(), torch.tensor(float(losses.numel()), device=total.device,
                                                                   dtype=torch.float64)])
    total = accelerator.reduce(total, "sum")
    model.train(was_training)
    return float(total[0] / total[1].clamp(min=1))
