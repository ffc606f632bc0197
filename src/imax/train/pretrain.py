"""Pretrain the tiny base: the study fine-tunes PRETRAINED models, so imax makes its own.

``pretrain(cfg)`` trains the WHOLE tiny LLaVA model (vision tower + projector + LM, no LoRA) with the
same loop as fine-tuning (:func:`imax.train.train` with ``finetune="full"``) on a pool of phantom images
disjoint from every experiment image (its own phantom seed, hence its own subject and image ids), on
report generation plus every other task of the pool, so the encoder has to learn the findings.

Evidence that the encoder learned something: linear probes on its frozen features (:mod:`imax.train.probe`)
— findings (``cfg.probe_labels``, AUROC), CTR/CPAR (R²) and the heart/lung boxes (IoU) of held-out pool
images (the pool's val + test splits, never trained on) — each next to the same probe on the same
encoder before pretraining (its random initialisation). Both go to ``pretrain_report.json``.

The result is cached in ``OUT/<config hash>/`` (``save_base`` layout + pretrain_report.json +
config.yaml) and reused when present.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from imax.schema.config import config_hash, save_yaml
from imax.schema.config.phantom import STUDY_COVERAGE
from imax.schema.config.train import PretrainConfig, TrainConfig
from imax.schema.errors import ImaxError
from imax.train.loop import train
from imax.train.probe import probe_report
from imax.train.vision import FINDINGS

PRESETS: dict[str, dict[str, Any]] = {
    # patients of the phantom pool, passes over its entries (language stage) and over its images (vision
    # stage), phantom image side
    "smoke": {"patients": 6, "epochs": 1.0, "vision_epochs": 1.0, "vision_patients": 0, "image_size": 128,
              "max_steps": 4},
    "quick": {"patients": 250, "epochs": 1.0, "vision_epochs": 2.0, "vision_patients": 2000, "image_size": 256,
              "max_steps": None},
    "full": {"patients": 1000, "epochs": 3.0, "vision_epochs": 4.0, "vision_patients": 8000, "image_size": 256,
             "max_steps": None},
}


def cache_key(cfg: PretrainConfig) -> str:
    """Hash of everything that changes the weights: the config (not where it is cached, not ``force``),
    the preset's sizes and the pool's phantom coverage."""
    recipe = {"config": dataclasses.replace(cfg, out=Path("."), force=False), "preset": PRESETS[cfg.preset],
              "coverage": STUDY_COVERAGE}
    return config_hash(recipe)


def build_cached(root: Path, key: str, build: Callable[[Path], None], *, force: bool = False,
                 marker: str = "config.json", log: Callable[[str], None] | None = None) -> Path:
    """``root/key``, built by ``build(tmp)`` unless a finished copy (one holding ``marker``) is there.

    Safe for concurrent processes sharing ``root`` (several experiments, seeds or arms on a cluster): one
    file lock per key (``root/.lock-<key>``, an OS lock: released if its holder dies). The first process
    builds; the others wait for the lock, then find the finished copy and reuse it. ``build`` writes into
    a fresh ``root/.tmp-<key>``, which is renamed into place only when complete, so a reader never sees a
    half-written entry. ``force`` rebuilds (still one builder at a time). The empty lock file stays after
    release: deleting it could let a waiter lock a file a newcomer no longer sees.
    """
    from filelock import FileLock, Timeout

    target = Path(root) / key
    if (target / marker).is_file() and not force:
        return target
    Path(root).mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(Path(root) / f".lock-{key}"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        (log or _stderr)(f"{target}: another process is building it; waiting for {lock.lock_file}")
        lock.acquire()
    try:
        if (target / marker).is_file() and not force:  # built by the process we waited for
            return target
        tmp = Path(root) / f".tmp-{key}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build(tmp)
        if not (tmp / marker).is_file():
            raise ImaxError(f"{tmp}: the cache build finished without writing {marker}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target
    finally:
        lock.release()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pretrain(cfg: PretrainConfig) -> Path:
    """Pretrained base directory ``cfg.out/<hash>`` (built now, or reused from the cache; concurrent
    callers with one cache build it once: :func:`build_cached`)."""
    unknown = [lab for lab in cfg.probe_labels if lab not in FINDINGS]
    if unknown:  # checked before minutes of training, not when the probe runs at the end
        raise ImaxError(f"probe_labels: unknown finding(s) {unknown}; known: {', '.join(FINDINGS)}")
    # Marker: the processor (written last by save_base). A cached base from before bases carried their
    # processor is rebuilt: the processor defines its inputs.
    return build_cached(Path(cfg.out), cache_key(cfg), lambda tmp: _pretrain_into(cfg, tmp), force=cfg.force,
                        marker="processor_config.json")


def _pretrain_into(cfg: PretrainConfig, tmp: Path) -> None:
    """Pretrain the base and write it (``save_base`` layout, config.yaml, report, log) into ``tmp``."""
    preset = PRESETS[cfg.preset]
    work = Path(cfg.out) / f".work-{cache_key(cfg)}"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    data = Path(cfg.data) if cfg.data is not None else make_pool(cfg, work / "pool")

    vision_epochs = cfg.vision_epochs if cfg.vision_epochs is not None else preset["vision_epochs"]
    base, vision_losses = None, []
    vision_patients = cfg.vision_patients if cfg.vision_patients is not None else preset["vision_patients"]
    vision_data = data
    if vision_epochs > 0 and cfg.data is None and vision_patients > 0:
        vision_data = make_pool(cfg, work / "vision_pool", patients=vision_patients, seed=cfg.phantom_seed + 1,
                                held_out=False)
    if vision_epochs > 0:
        base, vision_losses = _vision_stage(cfg, data, vision_data, work, vision_epochs)
    tcfg = TrainConfig(
        data=data, base=base, out=work / "run", model=cfg.model, finetune="full", freeze_vision=base is not None,
        epochs=cfg.epochs if cfg.epochs is not None else preset["epochs"], max_steps=preset["max_steps"],
        batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio,
        seed=cfg.seed, save_every_steps=0, keep_last=1, log_every_steps=10, fisher_fractions=(),
        max_length=cfg.model.text.max_position_embeddings,
    )
    result = train(tcfg)

    from imax.model import load_base, save_base

    model, tokenizer = load_base(result.final / "model")
    # the same architecture before any pretraining: the tokenizer-matched random init
    initial, _ = load_base(work / "initial" if base is not None else work / "run" / "base")
    probe = probe_report(model, initial, data, cfg.probe_labels, seed=cfg.seed)
    report = {
        "config_hash": cache_key(cfg), "preset": cfg.preset,
        "data": str(cfg.data) if cfg.data is not None else None,  # None: the generated pool (deleted)
        "phantom_seed": cfg.phantom_seed if cfg.data is None else None,
        "pool": json.loads((Path(data) / "stats.json").read_text()) if (Path(data) / "stats.json").is_file() else None,
        "vision_epochs": vision_epochs, "vision_losses": vision_losses,
        "vision_pool": (json.loads((Path(vision_data) / "stats.json").read_text()).get("images")
                        if vision_data is not data else "the language pool"),
        "steps": result.steps, "final_loss": result.final_loss, "first_loss": result.losses[0] if result.losses else None,
        "seconds": time.perf_counter() - t0, "probe": probe,
    }
    save_base(model, tokenizer, tmp)
    save_yaml(cfg, tmp / "config.yaml")
    shutil.copy2(work / "run" / "log.jsonl", tmp / "pretrain_log.jsonl")
    (tmp / "pretrain_report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


def _vision_stage(cfg: PretrainConfig, data: Path, vision_data: Path, work: Path,
                  epochs: float) -> tuple[Path, list[float]]:
    """Build the tiny model (tokenizer trained on the language pool's text), keep its random init for the
    probe, pretrain its vision tower on the labels of ``vision_data``'s train split, and save it as the
    base of the language stage."""
    from imax.data import load_entries
    from imax.model import build_model, save_base, train_tokenizer
    from imax.tasks import TASK_TOKENS
    from imax.train.vision import pretrain_vision

    entries = load_entries(data, "train")
    corpus = [e["instruction"] for e in entries] + [e["response"] for e in entries]
    tokenizer = train_tokenizer(corpus, list(TASK_TOKENS), cfg.model.vocab_size)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, tokenizer)
    save_base(model, tokenizer, work / "initial")
    losses = pretrain_vision(model, vision_data, epochs=epochs, lr=cfg.vision_lr, seed=cfg.seed)
    save_base(model, tokenizer, work / "vision_base")
    return work / "vision_base", losses


def make_pool(cfg: PretrainConfig, root: Path, *, patients: int | None = None, seed: int | None = None,
              held_out: bool = True) -> Path:
    """Generate a pool phantom (default: the preset's patients, seed ``cfg.phantom_seed``) and build all its
    images into a dataset; ``held_out=False`` puts every patient in train (the vision pool: the probe's
    held-out images come from the language pool, whose seed differs)."""
    from imax.builders import build_from_sources
    from imax.phantom import generate
    from imax.schema.config.build import BuildConfig
    from imax.schema.config.phantom import PhantomConfig

    preset = PRESETS[cfg.preset]
    if patients is None:
        patients = cfg.patients if cfg.patients is not None else preset["patients"]
    seed = cfg.phantom_seed if seed is None else seed
    generate(PhantomConfig(out=root / "phantom", patients=patients, seed=seed,
                           image_size=preset["image_size"], workers=2, **STUDY_COVERAGE))
    # min_tasks=1: every image of the pool is used; val + test patients are the probe's held-out images.
    # split="hash": the pool's held-out patients are its own hash split, not the phantom's official one;
    # max_entries_per_task=None: the whole pool (no DMAX is built from it).
    build_from_sources(BuildConfig(sources=root / "phantom", out=root / "data", mode="imax", min_tasks=1,
                                   split="hash", max_entries_per_task=None,
                                   val_fraction=0.1 if held_out else 0.0, test_fraction=0.2 if held_out else 0.0,
                                   seed=cfg.seed, export_llava=False, export_hf=False))
    return root / "data"


__all__ = ["PRESETS", "build_cached", "cache_key", "make_pool", "pretrain"]
