"""Learning-rate schedule as a pure function of the step (nanoGPT style): its only state is the step.

Linear warm-up from 0 over ``warmup`` steps, then cosine decay from ``lr`` to ``min_lr`` at ``total``.
Step ``s`` (0-based) is the optimizer step about to be taken.
"""

from __future__ import annotations

import math


def warmup_steps(total: int, warmup_ratio: float) -> int:
    """Warm-up length in steps (rounded up, so any positive ratio warms up at least one step)."""
    return math.ceil(total * warmup_ratio)


def lr_at(step: int, *, lr: float, total: int, warmup: int, min_lr: float = 0.0) -> float:
    """Learning rate for optimizer step ``step`` of ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup  # never 0: the first step already moves
    if total <= warmup:
        return lr
    progress = min(1.0, (step - warmup) / max(1, total - warmup - 1))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
