"""A seeded stream of sample indices whose position is one integer.

The stream is the concatenation of per-epoch permutations ``perm_e = default_rng([seed, e]).permutation(n)``
(tasks mix in every batch because entries of all tasks are shuffled together). Optimizer step ``s``
reads the ``batch_size * grad_accum`` indices starting at ``s * batch_size * grad_accum``, so the data
position saved in a checkpoint is just the step (epoch and step-in-epoch follow). Nothing is dropped:
the last batch of an epoch continues into the next permutation.

Each micro-batch is a slice of the stream, and rank ``r`` of ``world`` takes the ``r``-th contiguous
``batch_size / world`` part of it: the global batch is identical for any world size.

Length grouping (``group`` > 1, with per-entry ``lengths``): each run of ``group`` consecutive micro-batches
of the stream (a "megabatch") is sorted by entry length, cut into ``group`` micro-batches again, and
those are drawn in a seeded order, as LLaVA's ``group_by_modality_length``. The same entries are drawn
in the same megabatches; a batch now holds entries of similar length, so a padded batch of one-word
answers no longer runs at the length of the report beside them. Still a function of the step alone
(resume and any world size see the same batches).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class StreamSampler:
    """Batch sampler (for ``DataLoader(batch_sampler=...)``) over the index stream, for one rank."""

    def __init__(
        self,
        n: int,
        *,
        seed: int,
        batch_size: int,
        grad_accum: int = 1,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world: int = 1,
        lengths: np.ndarray | None = None,
        group: int = 1,
    ) -> None:
        if n <= 0:
            raise ValueError("StreamSampler: the split has no entries")
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes {world}")
        self.n, self.seed, self.batch_size, self.grad_accum = n, seed, batch_size, grad_accum
        self.total_steps, self.start_step, self.rank, self.world = total_steps, start_step, rank, world
        if group < 1:  # used to be clamped to 1 without a word
            raise ValueError(f"length group must be >= 1 (1: off), got {group}")
        if group > 1 and (lengths is None or len(lengths) != n):
            raise ValueError(f"length grouping needs one length per entry ({n}), got "
                             f"{'none' if lengths is None else len(lengths)}")
        self.lengths, self.group = lengths, group
        self._perm: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of epoch ``epoch`` (cached: consecutive batches share it)."""
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._perm[1]

    def indices(self, start: int, count: int) -> list[int]:
        """Stream positions ``[start, start + count)`` as dataset indices."""
        out = []
        for pos in range(start, start + count):
            out.append(int(self.permutation(pos // self.n)[pos % self.n]))
        return out

    def micro_batch(self, step: int, micro: int) -> list[int]:
        """This rank's indices of micro-batch ``micro`` of optimizer step ``step``."""
        per_rank = self.batch_size // self.world
        k = step * self.grad_accum + micro  # the k-th global micro-batch of the run
        if self.group == 1:
            return self.indices(k * self.batch_size + self.rank * per_rank, per_rank)
        mega, slot = divmod(k, self.group)
        chunk = int(np.random.default_rng([self.seed, 1, mega]).permutation(self.group)[slot])
        members = np.asarray(self.indices(mega * self.group * self.batch_size, self.group * self.batch_size))
        assert self.lengths is not None
        ordered = members[np.argsort(self.lengths[members], kind="stable")]  # ties keep stream order
        start = chunk * self.batch_size + self.rank * per_rank
        return [int(i) for i in ordered[start : start + per_rank]]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.total_steps):
            for micro in range(self.grad_accum):
                yield self.micro_batch(step, micro)

    def __len__(self) -> int:
        return (self.total_steps - self.start_step) * self.grad_accum


DEFAULT_EPOCHS = 3.0
"""Passes over the train split when neither ``epochs`` nor ``max_steps`` is given (the study's 3)."""


def total_steps(n: int, *, epochs: float | None, batch_size: int, grad_accum: int, max_steps: int | None) -> int:
    """Optimizer steps of a run.

    * ``max_steps`` only: exactly ``max_steps`` (the epochs follow from it: the sampler streams seeded
      permutations, so a budget past one epoch just keeps drawing);
    * ``epochs`` only (or neither: :data:`DEFAULT_EPOCHS`): ``ceil(epochs * n / (batch_size * grad_accum))``;
    * both: whichever ends first (:func:`budget_conflict` says when ``epochs`` cuts ``max_steps`` short).
    """
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if epochs is None:
        if max_steps is not None:
            return max_steps
        epochs = DEFAULT_EPOCHS
    per_step = batch_size * grad_accum
    steps = max(1, -(-round(epochs * n) // per_step))
    return min(steps, max_steps) if max_steps is not None else steps


def budget_conflict(n: int, *, epochs: float | None, batch_size: int, grad_accum: int,
                    max_steps: int | None) -> str | None:
    """A one-line report when both budgets are given and ``epochs`` ends the run before ``max_steps``."""
    if epochs is None or max_steps is None:
        return None
    steps = total_steps(n, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum, max_steps=None)
    if steps >= max_steps:
        return None
    need = max_steps * batch_size * grad_accum / max(n, 1)
    return (f"--max-steps {max_steps} will not be reached: --epochs {epochs:g} over {n} train entries at "
            f"{batch_size * grad_accum} per step ends the run after {steps} steps (max_steps needs {need:.2f} "
            "epochs); drop --epochs to train exactly max_steps")


def epoch_of(step: int, n: int, batch_size: int, grad_accum: int) -> float:
    """Epochs consumed after ``step`` optimizer steps."""
    return step * batch_size * grad_accum / n
