"""The three-stage pseudo-IMAX strategy, end to end.

1. Fine-tune on DMAX (or reuse an existing DMAX run).
2. With that model, answer each DMAX train image's missing tasks; keep confident, parseable answers
   (per-task threshold on the mean token log-likelihood); derive reg from the kept rec boxes.
3. Fine-tune on DMAX + pseudo entries, from the base (default) or continuing from stage 1.

Writes ``OUT/stage1`` (unless reused), ``OUT/pseudo_data`` (a built-dataset directory),
``OUT/pseudo_labels.jsonl`` (every generated answer with its confidence and whether it was kept),
``OUT/quality.json`` and ``OUT/stage3``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from imax.data import ModelInterface, PromptCollator, TrainCollator, read_data_root
from imax.evaluate.run import load_for_eval
from imax.model import checkpoint_kind, load_processor, num_image_tokens
from imax.pseudo.dataset import write_pseudo_dataset
from imax.pseudo.label import confidence_thresholds, derive, keep_confident, pseudo_label, query_entries
from imax.pseudo.quality import pseudo_quality
from imax.pseudo.queries import missing_queries, pool_queries
from imax.schema.config.pseudo import PseudoConfig
from imax.schema.errors import MissingPathError
from imax.train.loop import train


@dataclass
class PseudoResult:
    """Where each stage's output is, and what stage 2 produced."""

    stage1: Path
    data: Path
    stage3: Path
    generated: int
    kept: int
    quality: dict[str, Any]


def _stage1(cfg: PseudoConfig) -> Path:
    if cfg.stage1 is not None:
        if not Path(cfg.stage1).is_dir():
            raise MissingPathError(f"stage-1 run {str(cfg.stage1)!r} does not exist")
        final = Path(cfg.stage1) / "checkpoints" / "final"
        if not final.is_dir():
            from imax.model.files import describe_directory

            what = describe_directory(Path(cfg.stage1))
            raise MissingPathError(f"stage-1 run {cfg.stage1} has no checkpoints/final{f': {what}' if what else ''}")
        checkpoint_kind(final)  # a LoRA or full fine-tune checkpoint, else a one-line error
        return Path(cfg.stage1)
    out = Path(cfg.out) / "stage1"
    if not (out / "checkpoints" / "final").is_dir():
        train(replace(cfg.train, data=Path(cfg.data), out=out, resume=True))
    return out


def label_missing(cfg: PseudoConfig, stage1: Path, truth: pl.DataFrame | None) -> tuple[list[dict], list[dict], dict]:
    """Stage 2. Returns (generated rows, kept rows, quality) and writes pseudo_labels.jsonl."""
    data = Path(cfg.data)
    entries = pl.read_parquet(data / "entries.parquet")
    train_rows = entries.filter(pl.col("split") == "train")
    images = pl.read_parquet(data / "images.parquet")
    queries = missing_queries(train_rows, images, pool_queries(train_rows, cfg.vqa_questions), cfg.max_images, cfg.seed)
    todo = query_entries(queries, cfg.seed)

    model, tokenizer = load_for_eval(stage1 / "checkpoints" / "final", dtype=cfg.train.dtype)
    tokenizer.padding_side = "left"
    interface = ModelInterface.from_processor(
        load_processor(stage1 / "checkpoints" / "final", model), num_image_tokens(model))
    root = read_data_root(data)
    prompt = PromptCollator(interface, root, cfg.train.max_length)
    scorer = TrainCollator(interface, root, cfg.train.max_length)
    generated = pseudo_label(model, tokenizer, todo, prompt, scorer, cfg.batch_size,
                             vision_cache_gb=cfg.train.vision_cache_gb)
    thresholds = confidence_thresholds(generated, cfg.min_confidence, cfg.keep_fraction)
    kept = keep_confident(generated, thresholds)
    kept += derive(kept, cfg.seed)
    quality = pseudo_quality(generated, kept, truth, thresholds) if truth is not None else {}

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    kept_ids = {r["id"] for r in kept}
    with (out / "pseudo_labels.jsonl").open("w") as f:
        for r in generated:
            row = {k: r[k] for k in ("id", "dicom_id", "task", "query", "instruction", "output", "confidence")}
            f.write(json.dumps(row | {"parsed": r["parsed"] is not None, "kept": r["id"] in kept_ids}) + "\n")
    (out / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    return generated, kept, quality


def _stage1_base(stage1: Path) -> Path:
    """The base stage 1 trained on (its ``base.json``; a hub id falls back to this machine's HF cache)."""
    from imax.model.checkpoint import base_path_of

    return base_path_of(stage1)


def run_pseudo(cfg: PseudoConfig, truth: pl.DataFrame | None = None) -> PseudoResult:
    """All three stages; ``truth`` (an ANNOTATIONS table of held-out labels) enables the quality report."""
    stage1 = _stage1(cfg)
    data_out = Path(cfg.out) / "pseudo_data"
    if (data_out / "manifest.json").is_file() and (Path(cfg.out) / "quality.json").is_file():
        quality = json.loads((Path(cfg.out) / "quality.json").read_text())
        stats = json.loads((data_out / "stats.json").read_text())
        generated, kept = sum(1 for _ in (Path(cfg.out) / "pseudo_labels.jsonl").open()), stats["pseudo_entries"]
    else:
        rows, kept_rows, quality = label_missing(cfg, stage1, truth)
        write_pseudo_dataset(Path(cfg.data), kept_rows, data_out)
        generated, kept = len(rows), len(kept_rows)
    stage3 = Path(cfg.out) / "stage3"
    if not (stage3 / "checkpoints" / "final").is_dir():
        init = None if cfg.stage3_init == "base" else stage1 / "checkpoints" / "final"
        # Stage 3 must start from stage 1's base (same tokenizer and frozen weights), also when stage 1
        # built its own tiny base because no --train.base was given.
        base = cfg.train.base or _stage1_base(stage1)
        train(replace(cfg.train, data=data_out, out=stage3, resume=True, base=base, init_from=init))
    return PseudoResult(stage1=stage1, data=data_out, stage3=stage3, generated=generated, kept=kept, quality=quality)
