"""Each task is defined in one place: no module outside the task table spells a task name or token.

Scans every string literal of ``src/imax`` (docstrings aside). A task name may appear only in the task
table (``tasks/``), in the source adapters that emit the task's annotations (``sources/``), in the
registry of built-in names (``schema/records.py``) and as a user-facing config default
(``schema/config/``); a task token only in ``tasks/``. Anything else that needs to differ per task reads
a field of its ``TaskSpec``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import imax
from imax.schema.records import TASK_NAMES
from imax.tasks import TASK_TOKENS, TASKS

SRC = Path(imax.__file__).parent
NAME_ALLOWED = ("tasks/", "sources/", "schema/records.py", "schema/config/")
TOKEN_ALLOWED = ("tasks/",)


def _literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant that is not a docstring or a bare string statement."""
    tree = ast.parse(path.read_text())
    bare = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in bare]


def test_no_module_outside_the_task_table_names_a_task_or_spells_a_token() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for line, value in _literals(path):
            if value in TASK_NAMES and not rel.startswith(NAME_ALLOWED):
                found.append(f"{rel}:{line}: task name {value!r}")
            if any(t in value for t in TASK_TOKENS) and not rel.startswith(TOKEN_ALLOWED):
                found.append(f"{rel}:{line}: task token in {value!r}")
    assert not found, "task-specific code outside imax.tasks:\n" + "\n".join(found)


def test_every_task_names_a_scorer_kind_evaluation_has() -> None:
    from imax.evaluate.scorers import scorer_for

    for spec in TASKS.values():
        assert callable(scorer_for(spec)), spec.name
