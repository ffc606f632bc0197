"""The task table: one :class:`TaskSpec` per task, looked up in a dict.

Builders render instructions and responses from it; evaluation parses and scores with it; the
tokenizer gets its special tokens from it. Nothing else in imax spells a task token or branches on a
task name: what differs between tasks is a field of its spec (scorer kind, views, pseudo-labelling
rule, which payload is a box, ...).

The seven tasks of the study are the literal entries below (``schema.records.TASK_NAMES`` order). A new
task is one module defining a ``TaskSpec``, added here — or, without editing imax (a plug-in, a test),
with :func:`register` / :func:`registered`, after which every layer that reads :data:`TASKS` at call
time (builders, training's per-task losses, evaluation, the report) handles it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from imax.schema.errors import ImaxError
from imax.schema.records import TASK_NAMES
from imax.tasks import calculation, multiclass, multilabel, rec, reg, report, vqa
from imax.tasks.base import Derivation, Payload, PseudoRule, TaskSpec

TASKS: Final[dict[str, TaskSpec]] = {
    "calculation": calculation.SPEC,
    "report": report.SPEC,
    "multiclass": multiclass.SPEC,
    "multilabel": multilabel.SPEC,
    "rec": rec.SPEC,
    "reg": reg.SPEC,
    "vqa": vqa.SPEC,
}
assert tuple(TASKS) == TASK_NAMES, "task table out of step with schema.records.TASK_NAMES"

TASK_TOKENS: Final[tuple[str, ...]] = tuple(spec.token for spec in TASKS.values())
"""The seven built-in task tokens (fixed at import; :func:`task_tokens` includes registered tasks)."""


def task_names() -> tuple[str, ...]:
    """Every task in the table, built-in ones first (``TASK_NAMES`` order), then registered ones."""
    return tuple(TASKS)


def task_tokens() -> tuple[str, ...]:
    """Every task token in the table, for the tokenizer's special tokens."""
    return tuple(spec.token for spec in TASKS.values())


def register(spec: TaskSpec) -> None:
    """Add a task to the table. Refuses a name or token already in use (one line)."""
    if spec.name in TASKS:
        raise ImaxError(f"task {spec.name!r} is already in the task table")
    if spec.token in task_tokens():
        raise ImaxError(f"task {spec.name!r}: token {spec.token!r} is already used by another task")
    if spec.pseudo == "derived" and (spec.derived_from is None or spec.derived_from.source not in TASKS):
        raise ImaxError(f"task {spec.name!r}: pseudo rule 'derived' needs derived_from naming a task in the table")
    TASKS[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a registered task (built-in tasks cannot be removed)."""
    if name in TASK_NAMES:
        raise ImaxError(f"task {name!r} is built in and cannot be removed")
    TASKS.pop(name, None)


@contextmanager
def registered(spec: TaskSpec) -> Iterator[TaskSpec]:
    """``with registered(spec):`` the task is in the table inside the block only (tests, experiments)."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)


def task_table() -> dict[str, dict]:
    """JSON-able task table saved beside checkpoints and datasets (``tasks.json``)."""
    return {name: spec.describe() for name, spec in TASKS.items()}


__all__ = [
    "TASKS",
    "TASK_TOKENS",
    "Derivation",
    "Payload",
    "PseudoRule",
    "TaskSpec",
    "register",
    "registered",
    "task_names",
    "task_table",
    "task_tokens",
    "unregister",
]
