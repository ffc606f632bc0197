"""Controls scored beside every model: trivial baselines, the image-shuffled score, paired differences.

* **Trivial baselines** (:func:`trivial_predictions`): each task's ``TaskSpec.trivial_baseline`` is fitted
  on the train split of the arm's own training data and answers every test prompt from the train
  answers (and the prompt, where the task allows), never the image. Its answers are written as text by
  the task's formatter and go through the same parser and scorer as a model's.
* **Image-shuffled score** (:func:`shuffle_images`): every test prompt is shown another test image, by a
  seeded derangement of the test images (no image keeps its own), and the model generates again; the
  answers are scored against the prompt's own references. A model that uses the image scores lower.
* **Paired differences** (:func:`paired_difference`): model − control, per task and for the multi-task
  average, with a paired bootstrap over test images (both scored on the same draws); several seeds are
  averaged inside each draw. The standard error of the difference gives the minimum detectable effect
  (:func:`minimum_detectable_effect`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imax.evaluate import aggregate, bootstrap
from imax.evaluate.score import TaskResult, score_tasks

MDE_FACTOR = 2.8
"""z_{1−α/2} + z_{power} = 1.96 + 0.84: a true effect of 2.8 SE is detected with 80% power at α = 0.05
(two-sided)."""


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return dict(value or {})


def trivial_predictions(
    train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]], tasks: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The trivial baselines' predictions for ``test`` entries, fitted on ``train`` entries.

    Both are entry rows (``task``, ``query``, ``answer`` as payloads or JSON; test rows also ``id``,
    ``dicom_id``). Returns ``(predictions, n_train per task)``; each prediction has the shape of
    :func:`imax.evaluate.generate.generate_predictions`' (``output`` is the formatted answer, "" when the
    train split has no example of the task: unparseable, zero credit).
    """
    pairs: dict[str, list[tuple[dict, dict]]] = {}
    for e in train:
        pairs.setdefault(str(e["task"]), []).append((_payload(e["query"]), _payload(e["answer"])))
    predictors = {t: tasks[t].trivial_baseline(pairs.get(t, [])) for t in {str(e["task"]) for e in test}}
    out = []
    for e in test:
        spec, query = tasks[e["task"]], _payload(e["query"])
        answer = predictors[str(e["task"])](query)
        out.append(
            {
                "id": e["id"],
                "dicom_id": e["dicom_id"],
                "task": e["task"],
                "prompt": e.get("instruction", ""),
                "query": query,
                "reference": _payload(e["answer"]),
                "output": "" if answer is None else spec.format_answer(query, answer),
            }
        )
    return out, {t: len(pairs.get(t, [])) for t in predictors}


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(n)`` with no fixed point, shape (n,); needs ``n >= 2``.

    Uniform over derangements (rejection of uniform permutations: about e ≈ 2.7 draws expected).
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 images, got {n}")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def shuffle_images(
    entries: Sequence[Mapping[str, Any]], seed: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``entries`` with each prompt's ``image`` replaced by another of these entries' images.

    The distinct images (by ``dicom_id``, sorted) are paired by :func:`derangement`; every prompt of
    image i is shown image ``perm[i]``. ``dicom_id`` (whose references the answers are scored
    against, and the bootstrap unit) is kept; ``shown_dicom_id`` names the image shown. Only images of
    ``entries`` are used, so shuffling the test split never shows a train image. Returns
    ``(shuffled entries, {dicom_id: shown dicom_id})``.
    """
    path_of: dict[str, str] = {}
    for e in entries:
        path_of.setdefault(str(e["dicom_id"]), str(e["image"]))
    ids = sorted(path_of)
    perm = derangement(len(ids), seed)
    shown = {ids[i]: ids[int(perm[i])] for i in range(len(ids))}
    out = [{**e, "image": path_of[shown[str(e["dicom_id"])]], "shown_dicom_id": shown[str(e["dicom_id"])]}
           for e in entries]
    return out, shown


def minimum_detectable_effect(se: float) -> float:
    """≈ 2.8 × the bootstrap standard error of a paired difference (80% power, α = 0.05 two-sided)."""
    return MDE_FACTOR * float(se)


def paired_difference(
    pairs: Sequence[tuple[Mapping[str, TaskResult], Mapping[str, TaskResult]]],
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Scores of A, of B and of A − B, per task and for the multi-task average, paired over images.

    ``pairs``: one (A, B) of per-task results per seed, all on the same test images and tasks. Each
    bootstrap draw resamples images once and scores every run on it; the seeds' scores are averaged
    inside the draw. Returns ``{"a/<task>", "b/<task>", "diff/<task>", "a/multitask_average",
    "b/multitask_average", "diff/multitask_average": {"value", "ci", "se", "n_resamples"}}`` (scores are
    the higher-is-better primaries of :mod:`.aggregate`).
    """
    if not pairs:
        raise ValueError("paired_difference needs at least one (A, B) pair")
    tasks = list(pairs[0][0])
    images = sorted({d for r in pairs[0][0].values() for d in r.images})
    for a, b in pairs:
        for side in (a, b):
            if list(side) != tasks:
                raise ValueError(f"runs cover different tasks: {list(side)} vs {tasks}")
            if sorted({d for r in side.values() for d in r.images}) != images:
                raise ValueError("runs were scored on different images: a paired comparison needs one test set")
    pos = {d: i for i, d in enumerate(images)}
    rows = [
        tuple({t: np.array([pos[d] for d in r.images], dtype=int) for t, r in side.items()} for side in (a, b))
        for a, b in pairs
    ]

    def stat(counts: np.ndarray) -> dict[str, float]:
        sa = {t: 0.0 for t in tasks}
        sb = {t: 0.0 for t in tasks}
        for (a, b), (ia, ib) in zip(pairs, rows, strict=True):
            for t in tasks:
                sa[t] += aggregate.to_score(t, a[t].primary_at(bootstrap.rows_for(ia[t], counts))) / len(pairs)
                sb[t] += aggregate.to_score(t, b[t].primary_at(bootstrap.rows_for(ib[t], counts))) / len(pairs)
        out: dict[str, float] = {}
        for t in tasks:
            out[f"a/{t}"], out[f"b/{t}"], out[f"diff/{t}"] = sa[t], sb[t], sa[t] - sb[t]
        out["a/multitask_average"] = aggregate.multitask_average(sa)
        out["b/multitask_average"] = aggregate.multitask_average(sb)
        out["diff/multitask_average"] = out["a/multitask_average"] - out["b/multitask_average"]
        return out

    return bootstrap.bootstrap(stat, len(images), n_bootstrap, seed)


def control_block(
    model: Sequence[Mapping[str, TaskResult]],
    control: Sequence[Mapping[str, TaskResult]],
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics.json / results.json block of one control beside a model (one results map per seed).

    ``{"tasks": {task: {metric, value, score, score_ci, diff, diff_ci, diff_se, metrics,
    parse_failure_rate}}, "multitask_average": {value, ci, diff, diff_ci, diff_se}, "above_zero": [tasks
    whose diff CI lies above 0]}``: ``value`` is the
    control's primary metric (mean over seeds), ``score`` its higher-is-better score, ``diff`` the
    model's score minus the control's (positive: the model does better). CIs: paired image bootstrap.
    """
    boot = paired_difference(list(zip(model, control, strict=True)), n_bootstrap, seed)
    out: dict[str, Any] = {"tasks": {}}
    for t in model[0]:
        p = aggregate.PRIMARY[t]
        values = [c[t].metrics.get(p.metric) for c in control]
        names = [k for k, v in control[0][t].metrics.items() if isinstance(v, (int, float))]
        out["tasks"][t] = {
            "metric": p.metric,
            "higher_is_better": p.higher_is_better,
            "value": _mean(values),
            "score": boot[f"b/{t}"]["value"],
            "score_ci": boot[f"b/{t}"]["ci"],
            "diff": boot[f"diff/{t}"]["value"],
            "diff_ci": boot[f"diff/{t}"]["ci"],
            "diff_se": boot[f"diff/{t}"]["se"],
            "metrics": {k: _mean([c[t].metrics.get(k) for c in control]) for k in names},
            "parse_failure_rate": _mean([c[t].parse_failures / max(1, len(c[t].images)) for c in control]),
        }
    out["multitask_average"] = {
        "value": boot["b/multitask_average"]["value"],
        "ci": boot["b/multitask_average"]["ci"],
        "diff": boot["diff/multitask_average"]["value"],
        "diff_ci": boot["diff/multitask_average"]["ci"],
        "diff_se": boot["diff/multitask_average"]["se"],
    }
    # Tasks where the model is better with 95% confidence (e.g. "beats its trivial baseline on k of 7").
    out["above_zero"] = [t for t, c in out["tasks"].items() if _lower(c["diff_ci"]) > 0]
    out["n_resamples"] = n_bootstrap
    out["n_seeds"] = len(model)
    return out


def _lower(ci: Sequence[float]) -> float:
    lo = float(ci[0]) if ci else float("nan")
    return lo if np.isfinite(lo) else float("-inf")


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def score_control(
    model_predictions: Sequence[Sequence[Mapping[str, Any]]],
    control_predictions: Sequence[Sequence[Mapping[str, Any]]],
    tasks: Mapping[str, Any] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`control_block` from raw predictions (one list per seed), parsed and scored from scratch
    by :func:`imax.evaluate.score.score_tasks` (METEOR skipped: no primary needs it)."""
    model = [score_tasks(p, tasks) for p in model_predictions]
    control = [score_tasks(p, tasks) for p in control_predictions]
    return control_block(model, control, n_bootstrap, seed)
