"""``evaluate_model(cfg)``: load a checkpoint, generate on a split, parse, score, write the results.

Output directory::

    OUT/predictions.jsonl   one line per entry: id, dicom_id, task, prompt, query, output (raw text),
                            parsed (answer payload or null), parse_status, reference (ground truth)
    OUT/metrics.json        {task: {metric: value, ..., parse_failure_rate, n, n_images}, multitask_average,
                            scores, primary, ci, unavailable, details, bootstrap, meta}
    OUT/metrics.md          the same as Markdown tables
    OUT/baseline_predictions.jsonl   the trivial baselines' answers to the same prompts (if scored)
    OUT/shuffled_predictions.jsonl   the model's answers with every image swapped (if scored), each with
                                     shown_dicom_id (the image shown)
    OUT/config.yaml         the resolved EvalConfig
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imax.evaluate import aggregate
from imax.evaluate.plugins import load_plugins
from imax.evaluate.score import LABEL_SPACES, parse_predictions, score_predictions, score_tasks
from imax.evaluate.scorers import LABEL_RANKING_KINDS, has_kind
from imax.schema.config.base import save_yaml, to_dict
from imax.schema.config.evaluate import EvalConfig
from imax.schema.errors import ImaxError, MissingPathError


def select_entries(
    entries: Sequence[Mapping[str, Any]],
    tasks: Sequence[str] = (),
    max_samples: int | None = None,
    seed: int = 0,
) -> list[Mapping[str, Any]]:
    """Entries of ``tasks`` (all when empty), at most ``max_samples`` per task from a seeded shuffle,
    returned in their original order."""
    keep = [i for i, e in enumerate(entries) if not tasks or e["task"] in tasks]
    if max_samples is not None:
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        for task in sorted({entries[i]["task"] for i in keep}):
            idx = [i for i in keep if entries[i]["task"] == task]
            chosen += [idx[j] for j in rng.permutation(len(idx))[:max_samples]]
        keep = sorted(chosen)
    return [entries[i] for i in keep]


def load_for_eval(model_dir: Path, base: Path | None = None, dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode from any checkpoint imax writes (:func:`imax.model.load_checkpoint`:
    LoRA, merged here for speed; full fine-tune; a base or merged model directory) or a hub id."""
    from imax.model import checkpoint_kind, load_base, load_checkpoint

    model_dir = Path(model_dir)
    if not model_dir.exists():  # a hub id, or a path that is not there (load_base says which)
        model, tokenizer = load_base(model_dir, dtype=dtype)
        return model.eval(), tokenizer
    model, tokenizer = load_checkpoint(model_dir, base, dtype=dtype)
    if checkpoint_kind(model_dir) == "lora":
        # Merged weights decode ~20% faster than an unmerged adapter and give the same logits.
        model = model.merge_and_unload()
    return model.eval(), tokenizer


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null reads as "undefined" (e.g. F1 of an absent class)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4f}"
    return str(v)


def _pct(v: Any) -> str:
    return "n/a" if not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.1%}"


def metrics_markdown(metrics: Mapping[str, Any]) -> str:
    """metrics.json as Markdown: summary with CIs, the orientation table, every task's metrics."""
    tasks = [t for t in aggregate.PRIMARY if t in metrics]
    ci = metrics.get("ci", {})
    lines = [
        "# Evaluation",
        "",
        "| task | n | parse failure rate | primary | value | 95% CI | score |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        p = metrics["primary"][t]
        lo_hi = ci.get(t, {}).get(p["metric"])
        interval = f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]" if lo_hi else "—"
        arrow = "↑" if p["higher_is_better"] else "↓"
        lines.append(
            f"| {t} | {metrics[t]['n']} | {_pct(metrics[t]['parse_failure_rate'])} | {p['metric']} {arrow} "
            f"| {_fmt(p['value'])} | {interval} | {_fmt(p['score'])} |"
        )
    avg_ci = ci.get("multitask_average")
    interval = f"[{_fmt(avg_ci[0])}, {_fmt(avg_ci[1])}]" if avg_ci else "—"
    lines += [
        f"| **multi-task average** | | | | | {interval} | **{_fmt(metrics.get('multitask_average'))}** |",
        "",
        "## Primary metrics and how they enter the average",
        "",
        aggregate.primary_table_markdown(),
        "",
    ]
    lines += _controls_markdown(metrics, tasks)
    for t in tasks:
        lines += [f"## {t}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics[t].items()]
        lines.append("")
    if metrics.get("unavailable"):
        lines += ["## Unavailable", ""] + [f"- {k}: {v}" for k, v in metrics["unavailable"].items()] + [""]
    return "\n".join(lines)


def _interval(lo_hi: Any) -> str:
    return f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]" if isinstance(lo_hi, (list, tuple)) and len(lo_hi) == 2 else "—"


def _controls_markdown(metrics: Mapping[str, Any], tasks: Sequence[str]) -> list[str]:
    """The trivial-baseline and shuffled-image tables (model − control with paired-bootstrap CIs)."""
    lines: list[str] = []
    titles = {
        "trivial_baseline": ("Trivial baselines (train-split answers, no image)", "model − baseline"),
        "shuffled_image": ("Image-shuffled (each prompt shown another test image)", "real − shuffled"),
    }
    for key, (title, diff_name) in titles.items():
        block = metrics.get(key)
        if not isinstance(block, Mapping) or "tasks" not in block:
            if isinstance(block, Mapping) and block.get("unavailable"):
                lines += [f"## {title}", "", f"Not scored: {block['unavailable']}", ""]
            continue
        rules = block.get("rule", {})
        lines += [f"## {title}", "", f"| task | primary | model score | control score [95% CI] | {diff_name} "
                  "[95% CI] |" + (" rule |" if rules else ""), "|---|---|---|---|---|" + ("---|" if rules else "")]
        for t in tasks:
            c = block["tasks"].get(t)
            if not isinstance(c, Mapping):
                continue
            rule = f" {rules.get(t, '')} |" if rules else ""
            lines.append(
                f"| {t} | {c['metric']} | {_fmt(metrics.get('scores', {}).get(t))} | {_fmt(c['score'])} "
                f"{_interval(c['score_ci'])} | {_fmt(c['diff'])} {_interval(c['diff_ci'])} |{rule}"
            )
        avg = block["multitask_average"]
        lines += [
            f"| **multi-task average** | | {_fmt(metrics.get('multitask_average'))} | {_fmt(avg['value'])} "
            f"{_interval(avg['ci'])} | {_fmt(avg['diff'])} {_interval(avg['diff_ci'])} |" + (" |" if rules else ""),
            "",
        ]
    return lines


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """One JSON object per line (NaN written as null)."""
    with Path(path).open("w") as f:
        for p in rows:
            f.write(json.dumps(_jsonable(dict(p)), sort_keys=False) + "\n")


def write_outputs(out: Path, predictions: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any]) -> None:
    """predictions.jsonl, metrics.json and metrics.md under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", predictions)
    clean = _jsonable(dict(metrics))
    (out / "metrics.json").write_text(json.dumps(clean, indent=2))
    (out / "metrics.md").write_text(metrics_markdown(clean))


def _label_ranking(
    model: Any, tokenizer: Any, entries: Sequence[Mapping[str, Any]], collate: Any, spec: Any, batch_size: int
) -> dict[str, float]:
    from imax.evaluate.likelihood import label_score_matrix
    from imax.evaluate.metrics import ranking_metrics

    out: dict[str, float] = {}
    for space, classes in LABEL_SPACES.items():
        rows = [
            e
            for e in entries
            if e["task"] == spec.name and json.loads(e["query"]).get("label_space") == space
        ]
        if not rows:
            continue
        query = {"label_space": space}
        scores = label_score_matrix(model, tokenizer, rows, collate, spec, classes, query, batch_size)
        truth = np.array([[c in json.loads(e["answer"])["labels"] for c in classes] for e in rows])
        out.update({f"{space}/{k}": v for k, v in ranking_metrics(scores, truth).items()})
    return out


def _controls(
    cfg: EvalConfig,
    model: Any,
    tokenizer: Any,
    entries: Sequence[Mapping[str, Any]],
    collate: Any,
    cache: Any,
    predictions: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """metrics.json's ``trivial_baseline`` and ``shuffled_image`` blocks (see :mod:`.controls`); writes
    their predictions beside predictions.jsonl."""
    from imax.data import load_entries
    from imax.evaluate.controls import control_block, shuffle_images, trivial_predictions
    from imax.evaluate.generate import generate_predictions
    from imax.tasks import TASKS

    out: dict[str, Any] = {}
    own = [score_tasks(predictions, TASKS)]
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    if cfg.trivial_baselines:
        train_dir = Path(cfg.baseline_data or cfg.data)
        base_preds, n_train = trivial_predictions(load_entries(train_dir, "train"), entries, TASKS)
        block = control_block(own, [score_tasks(base_preds, TASKS)], cfg.bootstrap, cfg.seed)
        block.update(train_data=str(train_dir), split="train", n_train=n_train,
                     rule={t: TASKS[t].trivial_rule for t in n_train})
        out["trivial_baseline"] = block
        write_jsonl(Path(cfg.out) / "baseline_predictions.jsonl", base_preds)
    if cfg.shuffled_image:
        if len({e["dicom_id"] for e in entries}) < 2:
            out["shuffled_image"] = {"unavailable": "fewer than two test images: nothing to swap with"}
            return out
        shuffled_entries, shown = shuffle_images(entries, cfg.shuffle_seed)
        start = time.perf_counter()
        shuffled = generate_predictions(
            model, tokenizer, shuffled_entries, collate, TASKS, cfg.batch_size, progress, vision_cache=cache
        )
        seconds = time.perf_counter() - start
        for p, e in zip(shuffled, shuffled_entries, strict=True):
            p["shown_dicom_id"] = e["shown_dicom_id"]
        block = control_block(own, [score_tasks(shuffled, TASKS)], cfg.bootstrap, cfg.seed)
        block.update(seed=cfg.shuffle_seed, n_images=len(shown), seconds=round(seconds, 3),
                     pairing="seeded derangement of the test images: no prompt is shown its own image")
        out["shuffled_image"] = block
        write_jsonl(Path(cfg.out) / "shuffled_predictions.jsonl", shuffled)
    return out


def evaluate_model(cfg: EvalConfig, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Generate, parse and score ``cfg.model`` on ``cfg.split`` of ``cfg.data``; write ``cfg.out``.

    Returns the metrics.json content. METEOR's JVM is started once here and reused for the evaluation.
    """
    from imax.data import ModelInterface, PromptCollator, load_entries, read_data_root
    from imax.evaluate.decode import fast_path_supported  # torch only when a model is evaluated
    from imax.evaluate.generate import encode_images, generate_predictions
    from imax.model import load_processor, num_image_tokens
    from imax.tasks import TASKS

    entries = select_entries(load_entries(cfg.data, cfg.split), cfg.tasks, cfg.max_samples, cfg.seed)
    if not entries:
        raise ImaxError(f"{cfg.data}: no entries in split {cfg.split!r} for tasks {list(cfg.tasks) or 'all'}")
    baseline_dir = Path(cfg.baseline_data) if cfg.baseline_data is not None else None
    if cfg.trivial_baselines and baseline_dir and not (baseline_dir / "entries.parquet").is_file():
        # Fail before generation, not minutes after it.
        raise MissingPathError(f"--baseline-data {baseline_dir}: no entries.parquet (a built dataset whose "
                               "train split fits the trivial baselines)")
    model, tokenizer = load_for_eval(cfg.model, cfg.base, cfg.dtype)
    # The checkpoint's own processor: chat template, image token count, image preprocessing.
    interface = ModelInterface.from_processor(
        load_processor(cfg.base if cfg.base is not None else cfg.model, model), num_image_tokens(model)
    )
    if cfg.image_size and cfg.image_size != interface.image.size:
        raise ImaxError(f"--image-size {cfg.image_size} differs from the checkpoint's input side {interface.image.size}")
    collate = PromptCollator(interface, read_data_root(cfg.data), cfg.max_length)
    start = time.perf_counter()
    cache, no_cache = encode_images(model, entries, collate, cfg.batch_size, cfg.vision_cache_gb)
    predictions = generate_predictions(
        model, tokenizer, entries, collate, TASKS, cfg.batch_size, progress, vision_cache=cache
    )
    seconds = time.perf_counter() - start

    scorers, unavailable = load_plugins({"chexbert": cfg.chexbert_path, "radgraph": cfg.radgraph_path})
    # score_predictions starts METEOR's JVM once for the whole evaluation (or records why it cannot).
    metrics = score_predictions(
        predictions,
        TASKS,
        meteor=cfg.meteor,
        plugins=scorers,
        plugin_unavailable=unavailable,
        n_bootstrap=cfg.bootstrap,
        seed=cfg.seed,
    )
    if cfg.trivial_baselines or cfg.shuffled_image:
        metrics.update(
            _controls(cfg, model, tokenizer, entries, collate, cache, predictions, metrics, progress)
        )
    if cfg.label_scores:
        for name, spec in TASKS.items():
            if name in metrics and has_kind(spec, LABEL_RANKING_KINDS):
                metrics[name].update(_label_ranking(model, tokenizer, entries, collate, spec, cfg.batch_size))
    manifest = Path(cfg.data) / "manifest.json"
    metrics["meta"] = {
        "config": to_dict(cfg),
        "n_entries": len(entries),
        "data_manifest_id": json.loads(manifest.read_text()).get("id") if manifest.is_file() else None,
        # Wall time of generation alone (image encoding and prompt collation included, scoring not):
        # what a batch size or decoder change buys. The decoder is the lean loop or model.generate.
        "generation": {
            "seconds": round(seconds, 3),
            "samples_per_s": round(len(entries) / seconds, 3),
            "decoder": "lean_greedy" if fast_path_supported(model) else "model.generate",
            "batch_size": cfg.batch_size,
            "vision_cache": cache.summary() if cache is not None else {"off": no_cache},
        },
    }
    write_outputs(cfg.out, parse_predictions(predictions, TASKS), metrics)
    save_yaml(cfg, Path(cfg.out) / "config.yaml")
    return metrics
