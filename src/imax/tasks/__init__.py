"""The task table: one :class:`TaskSpec` per task, looked up in a literal dict.

Builders render instructions and responses from it; evaluation parses and scores with it; the
tokenizer gets its special tokens from it. Nothing else in imax spells a task token.
"""

from __future__ import annotations

from typing import Final

from imax.schema.records import TASK_NAMES, TaskName
from imax.tasks import calculation, multiclass, multilabel, rec, reg, report, vqa
from imax.tasks.base import Payload, TaskSpec

TASKS: Final[dict[TaskName, TaskSpec]] = {
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
"""Every task token, for the tokenizer's special tokens."""


def task_table() -> dict[str, dict]:
    """JSON-able task table saved beside checkpoints and datasets (``tasks.json``)."""
    return {name: spec.describe() for name, spec in TASKS.items()}


__all__ = ["TASKS", "TASK_TOKENS", "Payload", "TaskSpec", "task_table"]
