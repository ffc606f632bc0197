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

Temperature mixing (``temperature`` != 1, with a per-entry task id ``groups``): an epoch still holds ``n``
draws, but task ``t`` contributes ``n * p_t`` of them with ``p_t`` proportional to ``n_t ** (1 / T)``
(``n_t``: its entries), T5's temperature-scaled mixing. Each task's draws walk its own stream of seeded
permutations of its entries, so a down-weighted task still cycles through every entry (over several
epochs) and an up-weighted one repeats each entry evenly; the epoch's draws are then shuffled together.
T = 1 is the plain stream above, bit for bit.
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
        groups: np.ndarray | None = None,
        temperature: float = 1.0,
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
        if not valid_temperature(temperature):
            raise ValueError(f"task temperature must be a positive number (1: proportional to volume), got {temperature}")
        if temperature != 1.0 and (groups is None or len(groups) != n):
            raise ValueError(f"temperature mixing needs one task id per entry ({n}), got "
                             f"{'none' if groups is None else len(groups)}")
        self.temperature = float(temperature)
        self._members: list[np.ndarray] = []
        self.quota: np.ndarray | None = None
        if temperature != 1.0:
            assert groups is not None
            ids = np.asarray(groups)
            self._members = [np.flatnonzero(ids == g) for g in np.unique(ids)]
            self.quota = mixture_quota(np.array([len(m) for m in self._members]), n, self.temperature)
        self._perm: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of epoch ``epoch`` (cached: consecutive batches share it)."""
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(self.n) if self.quota is None else rng.permutation(self._mixed_epoch(epoch))
            self._perm = (epoch, order)
        return self._perm[1]

    def _mixed_epoch(self, epoch: int) -> np.ndarray:
        """(n,) entry indices of epoch ``epoch`` under temperature mixing, task by task (unshuffled):
        task ``g`` takes positions ``[epoch * k, (epoch + 1) * k)`` of its own stream, the concatenation of
        permutations ``default_rng([seed, 2, g, cycle]).permutation(n_g)`` of its entries."""
        assert self.quota is not None
        parts = []
        for g, (members, k) in enumerate(zip(self._members, self.quota, strict=True)):
            pos = np.arange(epoch * int(k), (epoch + 1) * int(k))
            cycle, offset = np.divmod(pos, len(members))
            out = np.empty(len(pos), dtype=np.int64)
            for c in np.unique(cycle):
                at = cycle == c
                out[at] = members[np.random.default_rng([self.seed, 2, g, int(c)]).permutation(len(members))[offset[at]]]
            parts.append(out)
        return np.concatenate(parts)

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


def valid_temperature(temperature: float) -> bool:
    """Whether ``temperature`` is a task mixing temperature: a finite number > 0 (the one rule, also checked
    by the training loop before anything loads)."""
    return bool(temperature > 0 and np.isfinite(temperature))


def mixture_quota(sizes: np.ndarray, n: int, temperature: float) -> np.ndarray:
    """(G,) draws per epoch of each of G tasks with ``sizes`` entries: ``n * p`` with
    ``p ∝ sizes ** (1 / temperature)``, rounded by largest remainder so they sum to ``n``; a task with
    entries gets at least one draw."""
    share = sizes.astype(np.float64) ** (1.0 / temperature)
    exact = n * share / share.sum()
    quota = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - quota), kind="stable")[: n - int(quota.sum())]:
        quota[i] += 1
    for i in np.flatnonzero((quota == 0) & (sizes > 0)):  # never silence a task; take from the largest
        quota[i] += 1
        quota[int(np.argmax(quota))] -= 1
    return quota


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
