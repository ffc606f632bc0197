"""Scorer kinds: answer payloads → arrays → the pure metric functions of :mod:`.metrics`.

A task names its kind in its spec (``TaskSpec.scorer``: what is compared — a measurement, free text, a
grade, a label set, a box, a region name, an answer set, or any canonical answer exactly), so nothing
here names a task; :func:`scorer_for` resolves a spec to its function. Each scorer takes (queries, parsed answers or None, canonical references, context) and returns
``(metrics, primary_at, details)``; ``primary_at(rows)`` recomputes the task's primary metric on row
indices with repeats (a bootstrap resample) from per-sample arrays, without re-running NLG scorers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imax.evaluate import nlg
from imax.evaluate.metrics import (
    box_ious,
    calculation_metrics,
    confusion_matrix,
    f1_counts,
    multiclass_metrics,
    rec_metrics,
    reg_metrics,
    vqa_metrics,
)
from imax.evaluate.metrics.calculation import abs_errors
from imax.evaluate.metrics.classification import f1_from_counts, label_matrix
from imax.evaluate.metrics.grounding import normalise_region
from imax.evaluate.metrics.report import ce_label_matrix, metric_labelers, report_metrics
from imax.evaluate.metrics.vqa import exact_matches
from imax.evaluate.plugins import PLUGIN_METRICS, ReportScorer
from imax.schema.box import Box
from imax.schema.errors import ImaxError
from imax.schema.records import CHEXPERT14, CXRLT26

LABEL_SPACES: dict[str, tuple[str, ...]] = {"chexpert14": CHEXPERT14, "cxrlt26": CXRLT26}


@dataclass
class ScoreContext:
    """What a scorer may need beyond the rows: the METEOR server, plug-ins; it collects unavailable metrics."""

    meteor: nlg.Meteor | None = None
    meteor_reason: str = ""
    plugins: Sequence[ReportScorer] = ()
    plugin_unavailable: Mapping[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    decision_thresholds: Mapping[str, float] = field(default_factory=dict)
    """The task's :attr:`imax.tasks.TaskSpec.decision_thresholds` (calculation: measure → threshold of
    the binary finding it defines); empty: no thresholded metrics."""


def _calculation(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    pred = np.array([np.nan if p is None else float(p["value"]) for p in parsed])
    true = np.array([float(r["value"]) for r in ref])
    measure = np.array([str(x.get("measure", "")) for x in q], dtype=object)
    m = calculation_metrics(pred, true)
    for name in sorted(set(measure)):
        sel = measure == name
        threshold = ctx.decision_thresholds.get(name)
        sub = calculation_metrics(pred[sel], true[sel], threshold=threshold)
        m.update({f"{name}/{k}": v for k, v in sub.items()})
        if threshold is not None:
            # Cardiomegaly is defined on one measure (CTR > 0.5) only; the task-level figures are its.
            m["cardiomegaly_accuracy"] = sub["cardiomegaly_accuracy"]
            m["cardiomegaly_f1"] = sub["cardiomegaly_f1"]
    err = abs_errors(pred, true)
    return m, (lambda idx: float(err[idx].mean()) if idx.size else float("nan")), {}


def _report(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    hyps = [None if p is None else str(p["text"]) for p in parsed]
    refs = [str(r["text"]) for r in ref]
    P, T = ce_label_matrix(hyps), ce_label_matrix(refs)
    m = report_metrics(hyps, refs, meteor=None, labels=(P, T))  # meteor: None placeholder, filled below
    texts = ["" if h is None else h for h in hyps]
    if ctx.meteor is None:
        ctx.unavailable["meteor"] = ctx.meteor_reason
    else:
        try:
            m["meteor"] = ctx.meteor.score(texts, refs)
        except (OSError, RuntimeError, ValueError) as exc:  # a JVM that dies mid-run: unavailable, not fatal
            ctx.unavailable["meteor"] = f"METEOR failed: {type(exc).__name__}: {exc}"
    for scorer in ctx.plugins:
        try:
            m.update(scorer.score(texts, refs))
        except Exception as exc:  # a plug-in failure is reported, never fatal
            ctx.unavailable[scorer.name] = f"{type(exc).__name__}: {exc}"
            m.update(dict.fromkeys(PLUGIN_METRICS.get(scorer.name, ())))
    for name, reason in ctx.plugin_unavailable.items():
        ctx.unavailable[name] = reason
        m.update(dict.fromkeys(PLUGIN_METRICS.get(name, ())))  # None: the schema stays the same

    def primary(idx: np.ndarray) -> float:
        return f1_from_counts(*f1_counts(P[idx], T[idx]))[2] if idx.size else float("nan")

    return m, primary, {"labelers": metric_labelers(m, PLUGIN_METRICS)}


def _multiclass(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    pred = np.array([-1 if p is None or int(p["grade"]) not in range(4) else int(p["grade"]) for p in parsed])
    true = np.array([int(r["grade"]) for r in ref])
    hit = pred == true
    details = {
        "confusion_matrix": confusion_matrix(pred, true, 4).tolist(),
        "confusion_axes": "rows: true grade 0-3; columns: predicted grade 0-3, then unparsed",
    }
    return (
        multiclass_metrics(pred, true, 4),
        (lambda idx: float(hit[idx].mean()) if idx.size else float("nan")),
        details,
    )


def _multilabel(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    spaces = [str(x.get("label_space", "")) for x in q]
    classes: list[str] = []
    for s in sorted(set(spaces)):
        vocab = LABEL_SPACES.get(s) or tuple(
            sorted({lab for sp, r in zip(spaces, ref, strict=True) if sp == s for lab in r["labels"]})
        )
        classes += [f"{s}/{lab}" for lab in vocab]
    pred_sets = [
        None if p is None else {f"{s}/{lab}" for lab in p["labels"]}
        for s, p in zip(spaces, parsed, strict=True)
    ]
    true_sets = [{f"{s}/{lab}" for lab in r["labels"]} for s, r in zip(spaces, ref, strict=True)]
    P, T = label_matrix(pred_sets, classes), label_matrix(true_sets, classes)
    # Only the classes of each sample's own label space count for it.
    mask = np.array([[c.startswith(s + "/") for c in classes] for s in spaces], dtype=bool).reshape(
        len(spaces), len(classes)
    )
    per, macro, micro = f1_from_counts(*f1_counts(P, T, mask))
    exact = [p is not None and p == t for p, t in zip(pred_sets, true_sets, strict=True)]
    m: dict[str, float | None] = {
        "macro_f1": macro,
        "micro_f1": micro,
        "example_accuracy": float(np.mean(exact)),
    }
    sp = np.array(spaces, dtype=object)
    for s in sorted(set(spaces)):
        cols = [i for i, c in enumerate(classes) if c.startswith(s + "/")]
        _, s_macro, s_micro = f1_from_counts(*f1_counts(P[sp == s][:, cols], T[sp == s][:, cols]))
        m[f"{s}/macro_f1"], m[f"{s}/micro_f1"] = s_macro, s_micro
    m.update({f"f1/{c}": float(v) for c, v in zip(classes, per, strict=True)})

    def primary(idx: np.ndarray) -> float:
        return f1_from_counts(*f1_counts(P[idx], T[idx], mask[idx]))[1] if idx.size else float("nan")

    return m, primary, {}


def _box(payload: Mapping[str, Any]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in payload["box"])
    w, h = (int(v) for v in payload["size"])
    return Box(x1, y1, x2, y2, w, h)


def _rec(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    pred: list[Box | None] = []
    for p in parsed:
        try:
            pred.append(None if p is None else _box(p))
        except (KeyError, TypeError, ValueError):
            pred.append(None)  # a malformed box is an unreadable answer: IoU 0
    ious = box_ious(pred, [_box(r) for r in ref])
    m = rec_metrics(ious, [str(x.get("phrase", "")) for x in q])
    return m, (lambda idx: float(ious[idx].mean()) if idx.size else float("nan")), {}


def _reg(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    pred = [None if p is None else str(p["phrase"]) for p in parsed]
    true = [str(r["phrase"]) for r in ref]
    hit = np.array(
        [
            p is not None and normalise_region(p) == normalise_region(t)
            for p, t in zip(pred, true, strict=True)
        ]
    )
    return reg_metrics(pred, true), (lambda idx: float(hit[idx].mean()) if idx.size else float("nan")), {}


def _vqa(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    pred = [None if p is None else list(p["answers"]) for p in parsed]
    true = [list(r["answers"]) for r in ref]
    hit = exact_matches(pred, true)
    m = vqa_metrics(
        pred, true, [str(x.get("content_type", "")) for x in q], [str(x.get("semantic_type", "")) for x in q]
    )
    return m, (lambda idx: float(hit[idx].mean()) if idx.size else float("nan")), {}


def _exact(q: list[dict], parsed: list[dict | None], ref: list[dict], ctx: ScoreContext) -> tuple:
    """Any task whose canonical answer is right or wrong as a whole (a category, a yes/no): accuracy, and
    the macro F1 over the distinct reference answers (one-vs-rest; an unparsed answer is wrong)."""
    key = [json.dumps(r, sort_keys=True) for r in ref]
    got = [None if p is None else json.dumps(p, sort_keys=True) for p in parsed]
    hit = np.array([g == k for g, k in zip(got, key, strict=True)], dtype=bool)
    classes = sorted(set(key))
    P = label_matrix([None if g is None else {g} for g in got], classes)
    T = label_matrix([{k} for k in key], classes)
    _, macro, _ = f1_from_counts(*f1_counts(P, T))
    m = {"accuracy": float(hit.mean()) if hit.size else float("nan"), "macro_f1": macro}
    return m, (lambda idx: float(hit[idx].mean()) if idx.size else float("nan")), {}


SCORERS: dict[str, Callable[..., tuple]] = {
    "measurement": _calculation,
    "free_text": _report,
    "grade": _multiclass,
    "label_set": _multilabel,
    "box": _rec,
    "region_name": _reg,
    "answer_set": _vqa,
    "exact": _exact,
}
"""Scorer kind → scorer(queries, parsed, canonical references, context); a task names its kind."""

METEOR_KINDS: frozenset[str] = frozenset({"free_text"})
"""Kinds whose scorer reports METEOR (so the evaluation starts the METEOR server for them)."""
LABEL_RANKING_KINDS: frozenset[str] = frozenset({"label_set"})
"""Kinds whose queries carry a ``label_space`` of :data:`LABEL_SPACES` and answers ``labels``: ranked by
per-label likelihoods with ``--label-scores`` (:func:`imax.evaluate.run.evaluate_model`)."""


def scorer_for(spec: Any) -> Callable[..., tuple]:
    """The scorer of a task spec: its own callable, or the function of the kind it names."""
    kind = spec.scorer
    if callable(kind):
        return kind
    if kind not in SCORERS:
        raise ImaxError(f"task {spec.name!r}: scorer kind {kind!r} is not one of {sorted(SCORERS)}")
    return SCORERS[kind]


def has_kind(spec: Any, kinds: frozenset[str]) -> bool:
    """Whether ``spec`` names one of ``kinds`` as its scorer (a callable scorer names none)."""
    return isinstance(spec.scorer, str) and spec.scorer in kinds
