"""Pretrain the tiny base: the study fine-tunes PRETRAINED models, so imax makes its own.

``pretrain(cfg)`` trains the WHOLE tiny LLaVA model (vision tower + projector + LM, no LoRA) with the
same loop as fine-tuning (:func:`imax.train.train` with ``finetune="full"``) on a pool of phantom images
disjoint from every experiment image (its own phantom seed, hence its own subject and image ids), on
report generation plus every other task of the pool, so the encoder has to learn the findings.

Evidence that the encoder learned something: a linear probe (logistic regression on mean-pooled frozen
patch features) predicts findings (``cfg.probe_labels``) of held-out pool images (the pool's val + test
splits, never trained on) better than the same probe on the same encoder before pretraining (its
random initialisation). AUROC for both goes to ``pretrain_report.json``.

The result is cached in ``OUT/<config hash>/`` (``save_base`` layout + pretrain_report.json +
config.yaml) and reused when present.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imax.schema.config import config_hash, save_yaml
from imax.schema.config.phantom import STUDY_COVERAGE
from imax.schema.config.train import PretrainConfig, TrainConfig
from imax.train.loop import train

PRESETS: dict[str, dict[str, Any]] = {
    # patients of the phantom pool, passes over its entries (language stage) and over its images (vision
    # stage), phantom image side
    "smoke": {"patients": 6, "epochs": 1.0, "vision_epochs": 1.0, "image_size": 128, "max_steps": 4},
    "quick": {"patients": 250, "epochs": 1.0, "vision_epochs": 6.0, "image_size": 256, "max_steps": None},
    "full": {"patients": 1000, "epochs": 3.0, "vision_epochs": 20.0, "image_size": 256, "max_steps": None},
}


def cache_key(cfg: PretrainConfig) -> str:
    """Hash of everything that changes the weights: the config (not where it is cached, not ``force``),
    the preset's sizes and the pool's phantom coverage."""
    recipe = {"config": dataclasses.replace(cfg, out=Path("."), force=False), "preset": PRESETS[cfg.preset],
              "coverage": STUDY_COVERAGE}
    return config_hash(recipe)


def pretrain(cfg: PretrainConfig) -> Path:
    """Pretrained base directory ``cfg.out/<hash>`` (built now, or reused from the cache)."""
    target = Path(cfg.out) / cache_key(cfg)
    if (target / "config.json").is_file() and not cfg.force:
        return target
    preset = PRESETS[cfg.preset]
    work = Path(cfg.out) / f".work-{cache_key(cfg)}"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    data = Path(cfg.data) if cfg.data is not None else make_pool(cfg, work / "pool")

    vision_epochs = cfg.vision_epochs if cfg.vision_epochs is not None else preset["vision_epochs"]
    base, vision_losses = None, []
    if vision_epochs > 0:
        base, vision_losses = _vision_stage(cfg, data, work, vision_epochs)
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
        "steps": result.steps, "final_loss": result.final_loss, "first_loss": result.losses[0] if result.losses else None,
        "seconds": time.perf_counter() - t0, "probe": probe,
    }
    tmp = Path(cfg.out) / f".tmp-{cache_key(cfg)}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_base(model, tokenizer, tmp)
    save_yaml(cfg, tmp / "config.yaml")
    shutil.copy2(work / "run" / "log.jsonl", tmp / "pretrain_log.jsonl")
    (tmp / "pretrain_report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    shutil.rmtree(work, ignore_errors=True)
    return target


def _vision_stage(cfg: PretrainConfig, data: Path, work: Path, epochs: float) -> tuple[Path, list[float]]:
    """Build the tiny model (tokenizer trained on the pool's text), keep its random init for the probe,
    pretrain its vision tower on the pool's labels, and save it as the base of the language stage."""
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
    losses = pretrain_vision(model, data, epochs=epochs, seed=cfg.seed)
    save_base(model, tokenizer, work / "vision_base")
    return work / "vision_base", losses


def make_pool(cfg: PretrainConfig, root: Path) -> Path:
    """Generate the pool phantom (seed ``cfg.phantom_seed``) and build all its images into a dataset."""
    from imax.build import build_from_sources
    from imax.phantom import generate
    from imax.schema.config.build import BuildConfig
    from imax.schema.config.phantom import PhantomConfig

    preset = PRESETS[cfg.preset]
    patients = cfg.patients if cfg.patients is not None else preset["patients"]
    generate(PhantomConfig(out=root / "phantom", patients=patients, seed=cfg.phantom_seed,
                           image_size=preset["image_size"], workers=2, **STUDY_COVERAGE))
    # min_tasks=1: every image of the pool is used; val + test patients are the probe's held-out images.
    build_from_sources(BuildConfig(sources=root / "phantom", out=root / "data", mode="imax", min_tasks=1,
                                   val_fraction=0.1, test_fraction=0.2, seed=cfg.seed, export_llava=False,
                                   export_hf=False))
    return root / "data"


# ---- linear probe on frozen vision features ----------------------------------------------------------
@torch.no_grad()
def vision_features(model: torch.nn.Module, pixels: torch.Tensor, batch: int = 32) -> np.ndarray:
    """Mean-pooled last-layer patch features of the vision tower: ``(N, 1, S, S)`` → ``(N, D)``."""
    model.eval()
    tower = model.model.vision_tower if hasattr(model, "model") else model.vision_tower
    out = [tower(pixel_values=pixels[i : i + batch]).last_hidden_state[:, 1:].mean(1) for i in range(0, len(pixels), batch)]
    return torch.cat(out).numpy()


def probe_data(data: Path, labels: tuple[str, ...], image_size: int) -> dict[str, Any]:
    """Per image of the pool: pixels and binary findings (from its multilabel entries), by probe split."""
    from imax.data import LoadImaged, load_entries, read_data_root

    loader = LoadImaged(read_data_root(data), image_size)
    out: dict[str, Any] = {}
    for name, splits in (("train", ("train",)), ("test", ("val", "test"))):
        found: dict[str, set[str]] = {}
        for split in splits:
            for e in load_entries(data, split):
                if e["task"] == "multilabel" and json.loads(e["query"]).get("label_space") == "chexpert14":
                    found.setdefault(e["image"], set()).update(json.loads(e["answer"]).get("labels", []))
        images = sorted(found)
        out[name] = {
            "pixels": torch.from_numpy(np.stack([loader.array(p) for p in images])) if images else None,
            "y": np.array([[lab in found[p] for lab in labels] for p in images], dtype=int).reshape(-1, len(labels)),
        }
    return out


def probe_report(pretrained: torch.nn.Module, initial: torch.nn.Module, data: Path, labels: tuple[str, ...],
                 seed: int = 0) -> dict[str, Any]:
    """AUROC of a logistic-regression probe per label, pretrained vs initial encoder, on held-out images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    size = pretrained.config.vision_config.image_size
    d = probe_data(data, labels, size)
    report: dict[str, Any] = {"labels": list(labels), "train_images": len(d["train"]["y"]),
                              "test_images": len(d["test"]["y"]), "auroc": {}}
    if d["train"]["pixels"] is None or d["test"]["pixels"] is None:
        report["note"] = "no multilabel images in one of the probe splits"
        return report
    feats = {name: {s: vision_features(m, d[s]["pixels"]) for s in ("train", "test")}
             for name, m in (("pretrained", pretrained), ("initial", initial))}
    for j, label in enumerate(labels):
        ytr, yte = d["train"]["y"][:, j], d["test"]["y"][:, j]
        row: dict[str, Any] = {"train_positives": int(ytr.sum()), "test_positives": int(yte.sum())}
        if len(set(ytr)) < 2 or len(set(yte)) < 2:
            row["note"] = "one class only in the probe train or test images"
        else:
            for name, f in feats.items():
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
                clf.fit(f["train"], ytr)
                row[name] = float(roc_auc_score(yte, clf.predict_proba(f["test"])[:, 1]))
        report["auroc"][label] = row
    scored = [r for r in report["auroc"].values() if "pretrained" in r]
    report["pretrained_better"] = bool(scored) and all(r["pretrained"] > r["initial"] for r in scored)
    return report

__all__ = ["PRESETS", "cache_key", "make_pool", "pretrain", "probe_report", "vision_features"]
