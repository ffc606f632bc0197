"""Pretrain the tiny base: the study's stand-in for a general-purpose pretrained LLaVA that never saw the tasks.

The study fine-tunes general-purpose pretrained models (a CLIP-family vision encoder, a chat LLM) that had
never seen its seven tasks. The tiny base must not pre-answer the question, so NONE of its training data
is task data (no task token, no task instruction, no answer format, no report text). It is built the way
a LLaVA base is, in three stages, on a phantom pool whose patients are disjoint from every study patient
(``PhantomConfig.id_block="pretrain"``: a subject-id block no study phantom draws from; asserted):

1. **vision** — the CLIP tower alone, on dense targets from the pool's truth (:mod:`imax.train.vision`:
   anatomy segmentation, lesion maps, optionally image-level truth attributes);
2. **language** — the language model alone, next-token prediction on the pool's free-text image
   descriptions (:mod:`imax.phantom.captions`: a caption kind of its own, not a report) and on general
   English (:mod:`imax.train.general_text`: digits, punctuation, brackets, as any LLM has read them), as
   plain text ``<s> text </s>``; the tokenizer is trained on the same text (task tokens are *registered*
   as special tokens so that fine-tuning can use them, but they never occur in any pretraining text);
3. **alignment** — LLaVA's first stage: tower and language model frozen, the projector learns to map
   image features into the language model's input space on (image, description) pairs, in the chat
   layout of :mod:`imax.data` with an EMPTY instruction (the user turn holds only the image);
4. **captioning** — projector and language model together on the same pairs (tower frozen), so the base
   conditions its text on the image, as a general chat MLLM does after its visual instruction stage.

Every text of stages 2-4 passes :func:`audit_texts` (task tokens, every task instruction with its
placeholders as wildcards, the tasks' answer formats, report section headers, questions) before any
training; a hit raises. ``pretrain_report.json`` states each stage's data, formats and sizes, the audit,
the losses (language: held-out perplexity before/after; alignment and captioning: held-out caption loss with
the right image vs a shuffled one) and linear probes of the tower against its random initialisation
(:mod:`imax.train.probe`: findings AUROC, CTR/CPAR R², heart/lung box IoU on held-out pool patients).

Stages 2-4 live in :mod:`imax.train.pretrain_stages`; this module holds the pool, the audit, the
cache and the orchestration.

The result is cached in ``OUT/<config hash>/`` (``save_base`` layout + pretrain_report.json + config.yaml)
and reused when present.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imax.schema.config import config_hash, save_yaml
from imax.schema.config.phantom import STUDY_COVERAGE
from imax.schema.config.train import PretrainConfig
from imax.schema.errors import ImaxError, MissingPathError
from imax.train.general_text import SOURCE as GENERAL_TEXT_SOURCE
from imax.train.general_text import general_text
from imax.train.pretrain_stages import align_stage, caption_stage, language_stage, tower_features
from imax.train.probe import probe_report
from imax.train.vision import FINDINGS

PRESETS: dict[str, dict[str, Any]] = {
    # pool patients, phantom image side, passes of each stage over the pool's train images / texts;
    # max_steps caps every stage (smoke: a few steps to exercise the code path)
    "smoke": {"patients": 10, "image_size": 64, "vision_epochs": 1.0, "lm_epochs": 1.0, "align_epochs": 1.0,
              "caption_epochs": 1.0, "general_text_chars": 4_000, "max_steps": 2},
    # quick vision 16 epochs (was 4): held-out probes cardiomegaly AUROC 0.885 -> 0.944, edema 0.860 -> 0.969,
    # CTR R2 0.53 -> 0.62; val criterion -0.030 -> -0.021 (benchmarks/results/recipe-vision16.json); ~75 s more
    "quick": {"patients": 1200, "image_size": 256, "vision_epochs": 16.0, "lm_epochs": 2.0, "align_epochs": 1.0,
              "caption_epochs": 0.0, "general_text_chars": 400_000, "max_steps": None},
    "full": {"patients": 6000, "image_size": 256, "vision_epochs": 8.0, "lm_epochs": 6.0, "align_epochs": 4.0,
             "caption_epochs": 4.0, "general_text_chars": 400_000, "max_steps": None},
}

ANSWER_FORMATS: dict[str, str] = {
    "decimal number (calculation answer)": r"\d\.\d",
    "box on the 0-100 grid (rec answer, reg query)": r"\{\s*<\d+>|<delim>",
    "edema grade 'k: name' (multiclass answer)": r"\b[0-3]\s*:\s*[a-z]",
    "report section header": r"\b(?:FINDINGS|IMPRESSION|INDICATION|COMPARISON|TECHNIQUE)\s*:",
    "question (vqa, rec, reg instructions)": r"\?",
}
"""Patterns no pretraining text may contain: the seven tasks' answer and prompt formats."""


def cache_key(cfg: PretrainConfig) -> str:
    """Hash of everything that changes the weights: the config (not where it is cached, not ``force``),
    the preset's sizes and the pool's phantom coverage."""
    recipe = {"config": dataclasses.replace(cfg, out=Path("."), force=False), "preset": PRESETS[cfg.preset],
              "coverage": STUDY_COVERAGE, "version": 5}
    return config_hash(recipe)


def instruction_patterns() -> dict[str, re.Pattern[str]]:
    """Every instruction template of every registered task as a case-insensitive regex, placeholders as
    wildcards.

    A template with no literal text (vqa's bare ``{question}``) matches anything and is skipped here: the
    question it stands for is caught by the "question" answer format instead."""
    from imax.tasks import task_names

    return _instruction_patterns(task_names())


@functools.cache  # compiled once per task set: the audit screens every general-text passage on its own
def _instruction_patterns(names: tuple[str, ...]) -> dict[str, re.Pattern[str]]:
    from imax.tasks import TASKS

    out: dict[str, re.Pattern[str]] = {}
    for name in names:
        spec = TASKS[name]
        for k, template in enumerate(spec.instructions):
            parts = re.split(r"\{[a-z_]+\}", template)
            if not "".join(parts).strip():
                continue
            body = r".{1,300}?".join(re.escape(p.strip()) if p.strip() else "" for p in parts)
            out[f"{name}[{k}]"] = re.compile(body, re.IGNORECASE | re.DOTALL)
    return out


def audit_texts(texts: list[str]) -> dict[str, Any]:
    """Count pretraining texts that contain a task token, a task instruction or a task answer format.

    Returns ``{"texts": N, "task_tokens": n, "task_instructions": n, "answer_formats": n,
    "violations": [{"text": i, "kind": ..., "what": ...}, ...] (the first 20)}``."""
    from imax.tasks import task_tokens

    patterns = instruction_patterns()
    formats = {k: re.compile(v) for k, v in ANSWER_FORMATS.items()}
    counts = {"task_tokens": 0, "task_instructions": 0, "answer_formats": 0}
    violations: list[dict[str, Any]] = []

    def hit(i: int, kind: str, what: str) -> None:
        counts[kind] += 1
        if len(violations) < 20:
            violations.append({"text": i, "kind": kind, "what": what})

    lowered_tokens = [t.lower() for t in task_tokens()]  # registered tasks included
    for i, text in enumerate(texts):
        low = text.lower()
        for tok in lowered_tokens:
            if tok in low:
                hit(i, "task_tokens", tok)
        for key, pat in patterns.items():
            if pat.search(text):
                hit(i, "task_instructions", key)
        for key, pat in formats.items():
            if pat.search(text):
                hit(i, "answer_formats", key)
    return {"texts": len(texts), **counts, "violations": violations}


def check_pool(pool: Path) -> dict[str, Any]:
    """Assert the pool phantom's patients, studies and images lie in the pretraining id block (so no
    study phantom can share one); returns the pool's id ranges. Raises :class:`ImaxError` otherwise."""
    from imax.phantom.ids import STUDY_RANGES, SUBJECT_RANGES

    path = Path(pool) / "truth.parquet"
    if not path.is_file():
        raise MissingPathError(f"{pool}: not a phantom directory (no truth.parquet); generate a pool with "
                               "`imax phantom --id-block pretrain`")
    t = pd.read_parquet(path, columns=["subject_id", "study_id"])
    lo, hi = SUBJECT_RANGES["pretrain"]
    slo, shi = STUDY_RANGES["pretrain"]
    bad = t[(t["subject_id"] < lo) | (t["subject_id"] >= hi) | (t["study_id"] < slo) | (t["study_id"] >= shi)]
    if len(bad):
        raise ImaxError(f"{pool}: {len(bad)} image(s) outside the pretraining id block (subject "
                        f"{lo}-{hi - 1}, study {slo}-{shi - 1}), e.g. subject_id {int(bad.iloc[0]['subject_id'])}; "
                        "generate the pool with `imax phantom --id-block pretrain`")
    for kind, (a, b) in SUBJECT_RANGES.items():
        if kind != "pretrain" and a < hi and lo < b:
            raise ImaxError(f"subject-id blocks overlap: pretrain {lo}-{hi} and {kind} {a}-{b}")
    return {"subject_ids": [int(t["subject_id"].min()), int(t["subject_id"].max())],
            "pretrain_block": [lo, hi - 1], "study_block": list(SUBJECT_RANGES["study"]), "patients": int(t["subject_id"].nunique())}


def make_pool(cfg: PretrainConfig, root: Path) -> Path:
    """Generate the pool phantom (the preset's patients, seed ``cfg.phantom_seed``, pretraining id block)."""
    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    preset = PRESETS[cfg.preset]
    patients = cfg.patients if cfg.patients is not None else preset["patients"]
    generate(PhantomConfig(out=root, patients=patients, seed=cfg.phantom_seed, image_size=preset["image_size"],
                           workers=2 if patients >= 100 else 1, id_block="pretrain", **STUDY_COVERAGE))
    return root


def is_clean(text: str) -> bool:
    """True when ``text`` holds no task token, task instruction or task answer format."""
    a = audit_texts([text])
    return not (a["task_tokens"] or a["task_instructions"] or a["answer_formats"])


def _texts_of(pool: Path, dicom_ids: list[str]) -> list[str]:
    from imax.phantom.generate import DESCRIPTIONS

    path = Path(pool) / DESCRIPTIONS
    if not path.is_file():
        raise ImaxError(f"{pool}: no {DESCRIPTIONS} (a phantom written before descriptions existed); regenerate it")
    d = pd.read_csv(path).set_index("dicom_id")["description"]
    missing = [x for x in dicom_ids if x not in d.index]
    if missing:
        raise ImaxError(f"{path}: no description for {len(missing)} frontal image(s), e.g. {missing[0]}")
    return [str(d[x]) for x in dicom_ids]


def stage_data(pool: Path, heldout_fraction: float, seed: int) -> dict[str, Any]:
    """The pool's frontal images split by patient into train / held-out, with their descriptions:
    ``{"frontals": DataFrame, "held": bool (N,), "train_texts", "held_texts"}`` — exactly the texts
    stages 2 and 3 train and validate on."""
    from imax.train.vision import phantom_frontals, pool_split

    frontals = phantom_frontals(pool)
    held = pool_split(frontals["subject_id"].to_numpy(), heldout_fraction, seed)
    texts = _texts_of(pool, frontals["dicom_id"].tolist())
    return {"frontals": frontals, "held": held, "train_texts": [t for t, h in zip(texts, held, strict=True) if not h],
            "held_texts": [t for t, h in zip(texts, held, strict=True) if h]}


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


def pretrain(cfg: PretrainConfig, log: Any = None) -> Path:
    """Pretrained base directory ``cfg.out/<hash>`` (built now, or reused from the cache); ``log`` (a
    ``str -> None`` callable, e.g. ``print``) hears when each stage starts."""
    unknown = [lab for lab in cfg.probe_labels if lab not in FINDINGS]
    if unknown:  # checked before minutes of training, not when the probe runs at the end
        raise ImaxError(f"probe_labels: unknown finding(s) {unknown}; known: {', '.join(FINDINGS)}")
    if cfg.pool is not None:
        check_pool(Path(cfg.pool))  # a wrong or missing pool fails now, not after the cache lock
    say = log if log is not None else (lambda _msg: None)
    # concurrent callers with one cache build it once (build_cached's file lock). Marker: the processor
    # (written last by save_base); a cached base from before bases carried their processor is rebuilt.
    return build_cached(Path(cfg.out), cache_key(cfg), lambda tmp: _pretrain_into(cfg, tmp, say), force=cfg.force,
                        marker="processor_config.json")


def _pretrain_into(cfg: PretrainConfig, tmp: Path, say: Callable[[str], None]) -> None:
    """Pretrain the base and write it (``save_base`` layout, config.yaml, pretrain_report.json) into ``tmp``."""
    key = cache_key(cfg)
    from imax.model import build_model, save_base, train_tokenizer
    from imax.tasks import task_tokens
    from imax.train.vision import pretrain_vision, vision_targets

    preset = PRESETS[cfg.preset]
    cap = preset["max_steps"]
    work = Path(cfg.out) / f".work-{key}"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    say(f"pretrain: pool ({time.perf_counter() - t0:.0f} s)")
    pool = Path(cfg.pool) if cfg.pool is not None else make_pool(cfg, work / "pool")
    ids = check_pool(pool)
    seconds["pool"] = time.perf_counter() - t0

    data = stage_data(pool, cfg.heldout_fraction, cfg.seed)
    held = data["held"]
    chars = cfg.general_text_chars if cfg.general_text_chars is not None else preset["general_text_chars"]
    general = general_text(chars, is_clean)
    audit = audit_texts(data["train_texts"] + data["held_texts"] + general)
    if audit["task_tokens"] or audit["task_instructions"] or audit["answer_formats"]:
        raise ImaxError(f"pretraining texts of {pool} contain task data: {audit['violations'][:3]}")

    # The tokenizer learns the language of the descriptions and the general text; the task tokens are
    # registered (single ids for fine-tuning) but occur in no pretraining text, so their embeddings stay at
    # their random init.
    tokenizer = train_tokenizer(data["train_texts"] + general, list(task_tokens()), cfg.model.vocab_size)
    model = build_model(cfg.model, tokenizer)
    initial_dir = save_base(model, tokenizer, work / "initial")

    say(f"pretrain: vision ({time.perf_counter() - t0:.0f} s)")
    t = time.perf_counter()
    from imax.data import ImageSpec
    from imax.model import image_processor_for

    size = int(model.config.vision_config.image_size)
    grid = 2 * size // int(model.config.vision_config.patch_size)
    # pixels as the processor save_base writes beside the model gives them (one path for every checkpoint)
    targets = vision_targets(pool, ImageSpec.from_processor(image_processor_for(model)), grid, data["frontals"])
    train_t, held_t = targets.take(np.flatnonzero(~held)), targets.take(np.flatnonzero(held))
    v_epochs = cfg.vision_epochs if cfg.vision_epochs is not None else preset["vision_epochs"]
    if cap:
        v_epochs = min(v_epochs, cap * 32 / max(1, len(train_t.images)))
    vision_losses = pretrain_vision(model, train_t, epochs=v_epochs, lr=cfg.vision_lr, label_weight=cfg.label_weight,
                                    seed=cfg.seed)
    seconds["vision"] = time.perf_counter() - t

    say(f"pretrain: language ({time.perf_counter() - t0:.0f} s)")
    t = time.perf_counter()
    language = language_stage(model, tokenizer, data["train_texts"] + general, data["held_texts"], cfg,
                              cfg.lm_epochs if cfg.lm_epochs is not None else preset["lm_epochs"], cap)
    seconds["language"] = time.perf_counter() - t
    say(f"pretrain: alignment ({time.perf_counter() - t0:.0f} s)")
    t = time.perf_counter()
    feats, held_feats = tower_features(model, train_t.pixels), tower_features(model, held_t.pixels)
    pairs = (tokenizer, feats, data["train_texts"], held_feats, data["held_texts"], cfg)
    align = align_stage(model, *pairs, cfg.align_epochs if cfg.align_epochs is not None else preset["align_epochs"],
                        cap)
    seconds["alignment"] = time.perf_counter() - t
    caption_epochs = cfg.caption_epochs if cfg.caption_epochs is not None else preset["caption_epochs"]
    caption = None
    if caption_epochs > 0:
        say(f"pretrain: captioning ({time.perf_counter() - t0:.0f} s)")
        t = time.perf_counter()
        caption = caption_stage(model, *pairs, caption_epochs, cap)
        seconds["captioning"] = time.perf_counter() - t
    model.requires_grad_(True)
    from imax.model import freeze_unused

    freeze_unused(model)

    say(f"pretrain: probes ({time.perf_counter() - t0:.0f} s)")
    t = time.perf_counter()
    from imax.model import load_base

    initial, _ = load_base(initial_dir)
    probe = probe_report(model, initial, train_t, held_t, cfg.probe_labels, seed=cfg.seed)
    seconds["probe"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    n_train, n_held = int((~held).sum()), int(held.sum())
    report = {
        "config_hash": key, "preset": cfg.preset, "pool": str(cfg.pool) if cfg.pool is not None else None,
        "phantom_seed": cfg.phantom_seed if cfg.pool is None else None, "pool_ids": ids,
        "pool_images": {"frontal_train": n_train, "frontal_heldout": n_held,
                        "split": f"by patient, {cfg.heldout_fraction:.0%} held out (probes, held-out losses)"},
        "task_data": "none: no stage sees a task token, a task instruction, a task answer format or report text",
        "stages": [
            {"name": "vision", "trains": "vision tower (+ throw-away linear heads)",
             "data": f"{n_train} frontal pool images; targets from the pool's truth: CheXmask heart/lung masks "
                     f"(RCA >= 0.7), finding/device extents (truth.parquet finding_boxes)"
                     + (", image-level truth finding classes and edema grade" if cfg.label_weight > 0 else ""),
             "format": "pixels -> per-cell anatomy fractions and lesion maps (2x2 cells per patch, BCE)"
                       + (f"; pooled -> finding multi-hot (BCE) + edema grade (CE), weight {cfg.label_weight}"
                          if cfg.label_weight > 0 else "") + "; no text",
             "epochs": v_epochs, "losses": vision_losses},
            {"name": "language", "trains": "language model (embeddings, decoder, LM head)",
             "data": f"{len(data['train_texts'])} free-text image descriptions of the pool (descriptions.csv) and "
                     f"{len(general)} general-language passages ({sum(map(len, general))} characters of "
                     f"{GENERAL_TEXT_SOURCE}; passages matching the audit dropped)",
             "format": "plain text '<s> text </s>', next-token loss on every token; no image, no chat turn",
             **language},
            {"name": "alignment", "trains": "projector only (tower and language model frozen)",
             "data": f"{n_train} (frontal pool image, description) pairs",
             "format": "chat layout of imax.data: user turn = the image alone (no instruction), assistant turn = "
                       "the description (only labelled tokens)", **align},
        ] + ([{"name": "captioning", "trains": "projector and language model (tower frozen)",
                "data": f"the same {n_train} (frontal pool image, description) pairs",
                "format": "as alignment", "epochs": caption_epochs, **caption}] if caption is not None else []),
        "tokenizer": {"trained_on": "the language stage's texts (descriptions and general text)", "vocab": len(tokenizer),
                      "task_tokens": "registered as special tokens, absent from every pretraining text"},
        "audit": audit, "seconds": {k: round(v, 1) for k, v in seconds.items()}, "probe": probe,
    }
    (tmp / "pretrain_report.json").write_text(json.dumps(report, indent=2) + "\n")
    save_yaml(cfg, tmp / "config.yaml")
    save_base(model, tokenizer, tmp)  # config.json last: build_cached's "finished" marker
    shutil.rmtree(work, ignore_errors=True)


__all__ = ["ANSWER_FORMATS", "PRESETS", "align_stage", "audit_texts", "build_cached", "cache_key", "check_pool",
           "instruction_patterns", "is_clean", "language_stage", "make_pool", "pretrain", "stage_data"]
