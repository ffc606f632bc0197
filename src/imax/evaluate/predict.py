"""Asking a trained model about a user's own images: ``imax ask``, ``imax predict`` and the demo page.

Everything goes through the evaluation path: the checkpoint is loaded by
:func:`imax.evaluate.run.load_for_eval`, prompts and pixels are built by the data layer's
``PromptCollator``, answers come from :func:`imax.evaluate.generate.generate_predictions` (batched,
grouped by task, the vision-feature cache of evaluation) and are parsed by
:func:`imax.evaluate.score.parse_predictions`. What a user types becomes a task query through the task
table (``TaskSpec.query_from_argument``); nothing here knows a task by name. :func:`load_predictor` is
the one place that knows how a checkpoint is turned into (model, tokenizer, collator).

Reading the user's images (DICOM included), listing a folder and drawing answer boxes live in
:mod:`imax.evaluate.user_images`; their names are importable from here as before.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imax.evaluate.user_images import (
    COLOURS,
    DICOM_SUFFIXES,
    Prepared,
    answer_boxes,
    draw_overlay,
    image_size,
    is_dicom,
    list_images,
    prepare_image,
    read_dicom,
    read_user_image,
)
from imax.schema.errors import ImaxError, MissingPathError

IMAGE_ERROR = "image_error"
"""``parse_status`` prefix of a row whose image could not be read (``predict`` keeps it in the output)."""
QUERY_ERROR = "query_error"
"""``parse_status`` prefix of a row whose question does not fit its image (e.g. a reg box outside it)."""


# ---------------------------------------------------------------------------------------------- model
@dataclass
class Predictor:
    """A loaded checkpoint ready to answer: model, tokenizer, prompt collator, and a staging folder
    for images that must be converted before the loader can read them (DICOM)."""

    model: Any
    tokenizer: Any
    collate: Any
    checkpoint: Path
    staging: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="imax-predict-")))

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_checkpoint(path: Path | str) -> Path:
    """The loadable directory for what a user points at: a training run (its ``checkpoints/final``), a
    checkpoint with ``adapter/`` (LoRA), a full fine-tune checkpoint (its ``model/``), or a base /
    merged-export / LLaVA-format directory itself."""
    path = Path(path)
    if not path.is_dir():
        raise MissingPathError(f"model directory {str(path)!r} does not exist")
    if (path / "checkpoints" / "final").is_dir():
        path = path / "checkpoints" / "final"
    if (path / "model").is_dir() and not (path / "adapter").is_dir():
        return path / "model"
    return path


def load_predictor(model: Path | str, base: Path | None = None, max_length: int = 1024) -> Predictor:
    """Load ``model`` (see :func:`resolve_checkpoint`) exactly as ``imax evaluate`` does.

    This is the only function here that knows how prompts and pixels are made for a checkpoint.
    """
    from imax.data import ModelInterface, PromptCollator
    from imax.evaluate.run import load_for_eval
    from imax.model import load_processor, num_image_tokens

    path = resolve_checkpoint(model)
    net, tokenizer = load_for_eval(path, base)
    # The checkpoint's own processor (chat template, image spec), found as `imax evaluate` finds it.
    interface = ModelInterface.from_processor(
        load_processor(base if base is not None else path, net), num_image_tokens(net)
    )
    # Entry image paths are absolute (user files, staged DICOMs): pathlib joining ignores the root.
    collate = PromptCollator(interface, Path("/"), max_length)
    return Predictor(net, tokenizer, collate, path)


# ---------------------------------------------------------------------------------------------- asking
@dataclass(frozen=True)
class Question:
    """One (task, TEXT) pair to put to every image; ``text`` None takes the task's default."""

    task: str
    text: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Question:
        """``"task"`` or ``"task=TEXT"`` (the command line's ``--tasks`` items)."""
        task, sep, text = spec.partition("=")
        return cls(task.strip(), text if sep else None)


def check_task(task: str) -> Any:
    """The task's spec; one-line error listing the tasks when ``task`` is unknown."""
    from imax.tasks import TASKS

    if task not in TASKS:
        raise ImaxError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return TASKS[task]


def needs_argument(task: str) -> bool:
    """Whether the task has no default argument (its ``query_from_argument(None, ...)`` refuses)."""
    try:
        check_task(task).query_from_argument(None, (1, 1))
    except ImaxError:
        return True
    return False


def make_entry(image: Prepared, question: Question, k: int = 0) -> dict[str, Any]:
    """An evaluation-style entry (no reference answer) for ``question`` about ``image``; the
    instruction is the task's first paraphrase (``k``) with the query built by the task table."""
    spec = check_task(question.task)
    query = spec.query_from_argument(question.text, image.size)
    return {
        "id": f"{image.name}:{question.task}",
        "dicom_id": image.name,
        "task": question.task,
        "image": str(image.path),
        "instruction": spec.render_instruction(query, k),
        "query": json.dumps(query),
        "answer": "",
        "response": "",
    }


def answer_entries(
    predictor: Predictor,
    entries: Sequence[Mapping[str, Any]],
    batch_size: int = 16,
    vision_cache_gb: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Generate and parse: the evaluation's batched generation (vision cache included) and parser.
    Each row: id, dicom_id, task, prompt, query, output (raw text), parsed, parse_status."""
    from imax.evaluate.generate import encode_images, generate_predictions
    from imax.evaluate.score import parse_predictions
    from imax.tasks import TASKS

    if not entries:
        return []
    cache, _ = encode_images(predictor.model, entries, predictor.collate, batch_size, vision_cache_gb)
    preds = generate_predictions(
        predictor.model, predictor.tokenizer, entries, predictor.collate, TASKS, batch_size, progress, cache
    )
    rows = parse_predictions(preds, TASKS)
    for r in rows:
        r.pop("reference", None)  # a user's image has no ground truth
    return rows


def ask(predictor: Predictor, image: Prepared, question: Question) -> dict[str, Any]:
    """One answer: the row of :func:`answer_entries` plus ``image``, ``argument`` and ``boxes``."""
    row = answer_entries(predictor, [make_entry(image, question)], batch_size=1, vision_cache_gb=0.0)[0]
    row = {**row, "image": str(image.source), "argument": question.text}
    return {**row, "boxes": answer_boxes(row)}


# ---------------------------------------------------------------------------------------------- batch


@dataclass
class PredictResult:
    rows: list[dict[str, Any]]
    """One row per (image, question), images in file order: the answer rows; for an unreadable image
    rows with ``parse_status = "image_error: ..."``, for a question that does not fit an image
    ``"query_error: ..."``, both with null output."""
    images: int
    skipped: list[tuple[str, str]]
    """(image, one-line reason) of every file that could not be read."""


def predict_images(
    predictor: Predictor,
    files: Iterable[Path],
    questions: Sequence[Question],
    root: Path | None = None,
    batch_size: int = 16,
    vision_cache_gb: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> PredictResult:
    """Answer every question about every readable file; unreadable files (and questions that do not fit
    an image) are reported through ``on_skip(image, reason)`` and kept in the result as error rows,
    never dropped silently.
    Image names are paths relative to ``root`` when given."""
    for q in questions:
        check_task(q.task)
    entries: list[dict[str, Any]] = []
    rows: dict[str, dict[str, Any]] = {}
    skipped: list[tuple[str, str]] = []
    n_images = 0

    def row_id(name: str, task: str) -> str:
        rid = f"{name}:{task}"
        return rid if rid not in rows else f"{rid}:{sum(k.startswith(rid) for k in rows)}"  # task asked twice

    def failed(name: str, q: Question, status: str, reason: str) -> None:
        rid = row_id(name, q.task)
        rows[rid] = {"id": rid, "image": name, "task": q.task, "argument": q.text, "prompt": None, "query": None,
                     "output": None, "parsed": None, "parse_status": f"{status}: {reason}", "boxes": []}

    for f in files:
        name = str(Path(f).relative_to(root)) if root is not None and Path(f).is_relative_to(root) else str(f)
        try:
            img = prepare_image(f, predictor.staging, name)
        except ImaxError as exc:
            skipped.append((name, str(exc)))
            if on_skip is not None:
                on_skip(name, str(exc))
            for q in questions:
                failed(name, q, IMAGE_ERROR, str(exc))
            continue
        n_images += 1
        for q in questions:
            try:
                e = make_entry(img, q)  # a question can be wrong for one image (a box outside a small one)
            except ImaxError as exc:
                failed(name, q, QUERY_ERROR, str(exc))
                if on_skip is not None:
                    on_skip(name, str(exc))
                continue
            e["id"] = row_id(name, q.task)
            rows[e["id"]] = {}  # placeholder keeps the row order: images in file order, questions in order
            entries.append({**e, "_argument": q.text})
        del img  # pixels are re-read for overlays; a big folder must not sit in memory
    for row, e in zip(answer_entries(predictor, entries, batch_size, vision_cache_gb, progress), entries,
                      strict=True):
        row = {**row, "image": e["dicom_id"], "argument": e["_argument"]}
        rows[e["id"]] = {**row, "boxes": answer_boxes(row)}
    return PredictResult(list(rows.values()), n_images, skipped)


def write_jsonl(rows: Iterable[Mapping[str, Any]], out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for r in rows:
            f.write(json.dumps(dict(r)) + "\n")
    return out


# ---------------------------------------------------------------------------------------------- card
def _metrics_candidates(checkpoint: Path) -> list[Path]:
    ckpt = checkpoint.parent if checkpoint.name == "model" and (checkpoint.parent / "state.json").is_file() else checkpoint
    out = [ckpt / "metrics.json", ckpt.parent / "metrics.json"]
    if ckpt.parent.name == "checkpoints":  # RUN/checkpoints/NAME: the run, and an experiment's OUT/eval/RUN
        run = ckpt.parent.parent
        out += [run / "metrics.json", run / "eval" / "metrics.json", run.parent.parent / "eval" / run.name / "metrics.json"]
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def model_card(checkpoint: Path | str, metrics: Path | None = None) -> dict[str, Any]:
    """What the demo page shows about a checkpoint: kind, base, data manifest id, metrics summary.

    ``metrics``: a metrics.json to summarise; default the first found beside the checkpoint, its run,
    or (experiment layout) ``OUT/eval/<run>/``. Missing pieces are ``None``, never guessed.
    """
    path = resolve_checkpoint(checkpoint)
    home = path.parent if path.name == "model" and not (path / "base.json").is_file() else path
    base = _read_json(home / "base.json")
    manifest = _read_json(home / "data_manifest.json")
    cfg_tasks = _read_json(home / "tasks.json")
    card: dict[str, Any] = {
        "checkpoint": str(path),
        "kind": "LoRA adapter" if (path / "adapter").is_dir() else "full model",
        "base": (base.get("path") if isinstance(base, dict) else None) or str(path),
        "data_manifest_id": manifest.get("id") if isinstance(manifest, dict) else None,
        "data_path": manifest.get("path") if isinstance(manifest, dict) else None,
        "tasks": sorted(cfg_tasks) if isinstance(cfg_tasks, dict) else None,
        "metrics_path": None,
        "metrics": None,
    }
    found = [metrics] if metrics is not None else [p for p in _metrics_candidates(path) if p.is_file()]
    data = _read_json(Path(found[0])) if found else None
    if isinstance(data, dict):
        card["metrics_path"] = str(found[0])
        card["metrics"] = {
            "multitask_average": data.get("multitask_average"),
            "primary": {t: {"metric": p.get("metric"), "value": p.get("value")}
                        for t, p in (data.get("primary") or {}).items()},
        }
    return card


__all__ = [
    "COLOURS",
    "DICOM_SUFFIXES",
    "IMAGE_ERROR",
    "QUERY_ERROR",
    "PredictResult",
    "Predictor",
    "Prepared",
    "Question",
    "answer_boxes",
    "answer_entries",
    "ask",
    "check_task",
    "draw_overlay",
    "image_size",
    "is_dicom",
    "list_images",
    "load_predictor",
    "make_entry",
    "model_card",
    "needs_argument",
    "predict_images",
    "prepare_image",
    "read_dicom",
    "read_user_image",
    "resolve_checkpoint",
    "write_jsonl",
]
