"""The shape of a task table: everything imax knows about one task lives in one ``TaskSpec``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from imax.schema.records import TaskName
from imax.tasks.baselines import Pair, Predictor

Payload = dict[str, Any]
"""A query or answer payload (a JSON object; keys per task, see :mod:`imax.schema.records`)."""

PseudoRule = Literal["ask", "ask_most_frequent", "derived", "never"]
"""How pseudo-labelling (:mod:`imax.pseudo`) fills the task on a train image that lacks it: ``ask`` every
distinct query of the train pool; ``ask_most_frequent`` only the pool's most frequent queries (the
config's ``vqa_questions`` of them); ``derived`` built from another task's kept pseudo answers
(:attr:`TaskSpec.derived_from`); ``never`` not at all."""


def _drop_size(query: Mapping[str, Any]) -> Payload:
    """A query payload without its image size (the default :attr:`TaskSpec.query_key`)."""
    return {k: v for k, v in query.items() if k != "size"}


@dataclass(frozen=True)
class Derivation:
    """How a task's entries are made from another task's answers (reg from pseudo rec boxes)."""

    source: str
    """The task whose (query, parsed answer) rows the entries are made from."""
    make: Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[Payload, Payload]]
    """(source query, source answer) → (this task's query, answer)."""


@dataclass(frozen=True)
class TaskSpec:
    """One task: its token, instruction pool, answer codec, metric names and trivial baseline.

    ``parse_answer(format_answer(q, a), q) == canonical(q, a)`` holds for every valid annotation:
    the parser is the exact inverse of the formatter on what text can express.
    """

    name: TaskName
    token: str
    """Task token that opens every instruction of this task, e.g. ``[calculate]``."""
    instructions: tuple[str, ...]
    """Paraphrase pool (≥ 5). Templates may use fields of ``instruction_fields(query)``."""
    instruction_fields: Callable[[Mapping[str, Any]], dict[str, str]]
    """Query payload → values for the template placeholders."""
    format_answer: Callable[[Mapping[str, Any], Mapping[str, Any]], str]
    """(query, answer) → response text."""
    parse_answer: Callable[[str, Mapping[str, Any]], Payload | None]
    """(response text, query) → answer payload, or ``None`` when the text cannot be read."""
    canonical: Callable[[Mapping[str, Any], Mapping[str, Any]], Payload]
    """(query, answer) → the answer as text can express it (rounded, snapped to the box grid)."""
    metrics: tuple[str, ...]
    """Metric names reported by ``imax.evaluate`` for this task, primary metric first."""
    max_new_tokens: int
    """Generation budget for an answer of this task."""
    query_from_argument: Callable[[str | None, tuple[int, int]], Payload]
    """(user's TEXT argument or None, image (width, height)) → query payload, for ``imax ask`` /
    ``predict`` / ``demo`` on a user's own image. Raises :class:`imax.schema.errors.ImaxError` (one
    line) for a missing, unexpected or invalid argument (e.g. a box outside the image)."""
    argument_help: str
    """What TEXT means for this task, one line (``""`` when the task takes no argument)."""
    trivial_baseline: Callable[[Sequence[Pair]], Predictor]
    """Train (query, answer) pairs → a predictor (query → answer payload) that answers from the train
    split's answers, reading the prompt where the task allows, never the image: the floor a model that
    learned the task must beat. Scored like a model (formatted, parsed, same scorer)."""
    trivial_rule: str
    """One line saying what :attr:`trivial_baseline` answers (shown in metrics.md and the report)."""
    description: str = ""
    primary_higher_is_better: bool = field(default=True)
    """Direction of the primary metric (``metrics[0]``): False for an error (calculation's MAE), which then
    enters the multi-task average as ``1 − min(metric, 1)`` (:mod:`imax.evaluate.aggregate`)."""
    decision_thresholds: Mapping[str, float] = field(default_factory=dict)
    """Query ``measure`` → the value above which the answer is a positive finding, scored as a binary
    decision too (calculation: CTR > 0.5 is cardiomegaly, ``cardiomegaly_accuracy`` / ``_f1``)."""
    scorer: str | Callable[..., tuple] = "exact"
    """How :mod:`imax.evaluate` scores the task: the name of a scorer kind it owns
    (``imax.evaluate.scorers.SCORERS``: ``measurement``, ``free_text``, ``grade``, ``label_set``, ``box``,
    ``region_name``, ``answer_set``, ``exact``), or a callable with the same signature —
    ``(queries, parsed answers or None, canonical references, context) -> (metrics, primary_at,
    details)`` — for a task whose scoring needs nothing from evaluate. The kind names what is compared,
    never a task, so evaluation does not branch on task names."""
    views: frozenset[str] | None = None
    """Image views (``IMAGES.view``) the task's source can annotate (calculation: PA; rec, reg: the
    frontal views); ``None``: any view. Pseudo-labelling asks the task only on these views."""
    pseudo: PseudoRule = "ask"
    """How pseudo-labelling queries the task (:data:`PseudoRule`)."""
    derived_from: Derivation | None = None
    """For ``pseudo == "derived"``: the task and the rule its entries are made from."""
    sized_query: bool = False
    """The query payload carries the image ``size`` (rec: the canvas its parsed box is expressed on), so a
    pseudo query gets the image's (width, height)."""
    query_key: Callable[[Mapping[str, Any]], Payload] = _drop_size
    """Query payload → what identifies the question when matching a pseudo answer to held-out truth (the
    image size never does; vqa: only the normalised question text, its types are descriptive)."""
    query_box: bool = False
    """The query payload is a box (``{"box", "size"}``: reg): the builder renders it vectorised, the
    gallery and the record browser draw it dashed as the question."""
    answer_box: bool = False
    """The answer payload is a box (rec): rendered vectorised, drawn as truth and as each run's answer."""
    annotations_from_images: Callable[[Any], Any] | None = None
    """For a task whose truth is a column of the IMAGES table rather than a source file (none of the
    seven): IMAGES (polars DataFrame) → ANNOTATIONS rows (``dicom_id, task, source, query, answer,
    meta``, JSON payloads). The builder adds them to the sources' annotations before the store."""

    def render_instruction(self, query: Mapping[str, Any], k: int = 0) -> str:
        """``"<token> <paraphrase k>"`` with the query's fields filled in (k wraps around the pool)."""
        template = self.instructions[k % len(self.instructions)]
        return f"{self.token} {template.format(**self.instruction_fields(query))}"

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def describe(self) -> dict[str, Any]:
        """JSON-able view saved beside checkpoints (``tasks.json``)."""
        return {
            "name": self.name,
            "token": self.token,
            "instructions": list(self.instructions),
            "metrics": list(self.metrics),
            "max_new_tokens": self.max_new_tokens,
            "trivial_baseline": self.trivial_rule,
            "description": self.description,
        }

    def box_of(self, query: Mapping[str, Any], answer: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
        """``("query" | "answer", payload)`` of the box an entry of this task carries, or None."""
        if self.answer_box:
            return "answer", answer
        if self.query_box:
            return "query", query
        return None
