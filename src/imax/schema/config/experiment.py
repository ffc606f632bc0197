"""Config of ``imax experiment``: the whole study (IMAX vs DMAX vs pseudo-IMAX) from one command.

A preset fixes the sizes (phantom, model, step budget, evaluation, Fisher probe); any field left at
``None`` takes the preset's value from :data:`PRESETS`, the single table of preset sizes. Fields the
user sets override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PresetName = Literal["smoke", "quick", "full"]

PRESETS: dict[str, dict[str, Any]] = {
    # smoke: seconds-scale plumbing check used by the test suite (a micro model, a few steps).
    "smoke": {
        "patients": 70,
        "image_size": 64,
        "model": "micro",
        "pretrain_preset": "smoke",
        "steps": 12,
        "batch_size": 8,
        "lr": 2e-4,
        "projector_lr": 2e-5,
        "lora_plus_ratio": None,
        "loss_average": "sample",
        "length_group": 1,
        "task_temperature": 1.0,
        "test_fraction": 0.10,
        "eval_images": 12,
        "fisher_probe": 16,
        "pseudo_images": 12,
        "gallery": 2,
        "bootstrap": 100,
    },
    # quick: README's main job, <= 20 minutes on 2 CPU cores per seed with every arm (control included;
    # cached base excluded). 1400 patients with 20% test patients give ~560 image-centric test images,
    # 500 of them scored: the multi-task average's 95% CI half-width is ~0.011-0.014 for one seed
    # (measured with trivial-baseline and half-oracle answers on this test split; target <= 0.015).
    "quick": {
        "patients": 1400,
        "image_size": 256,
        "model": "tiny",
        "pretrain_preset": "quick",
        # val criterion 600 steps +0.011, 700 +0.032, 800 +0.019 (recipe-steps700.json, recipe-neighbours700.json)
        "steps": 700,  # the control takes about half (same epochs)
        "batch_size": 16,
        "lr": 4e-3,  # chosen on val by the trivial-baseline gap over both arms (benchmarks/results/recipe*.json)
        "projector_lr": 4e-4,  # a tenth of lr, as LLaVA's LoRA recipe (mm_projector_lr 2e-5 beside lr 2e-4)
        "lora_plus_ratio": None,
        "loss_average": "sample",  # chosen on val over both arms (benchmarks/results/recipe-loss-average.json)
        "length_group": 1,  # grouping by length (8) cut padding 1.15x but lost on val: recipe-loss-average.json
        "task_temperature": 1.0,
        "test_fraction": 0.20,
        "eval_images": 500,
        "fisher_probe": 32,
        "pseudo_images": 80,
        "gallery": 6,
        "bootstrap": 1000,
    },
    # full: the real thing on a phantom (hours on a CPU) or on real sources.
    "full": {
        "patients": 5000,
        "image_size": 512,
        "model": "tiny",
        "pretrain_preset": "full",
        "steps": None,  # epochs decide (3, as in the study)
        "batch_size": 16,
        "lr": 2e-4,
        "projector_lr": 2e-5,
        "lora_plus_ratio": None,
        "loss_average": "token",  # LLaVA's recipe at the study's scale
        "length_group": 1,
        "task_temperature": 1.0,  # the study mixes tasks by their volume
        "test_fraction": 0.10,
        "eval_images": None,
        "fisher_probe": 256,
        "pseudo_images": None,
        "gallery": 12,
        "bootstrap": 1000,
    },
}


@dataclass
class ExperimentConfig:
    """IMAX vs DMAX vs pseudo-IMAX on the phantom (default) or on real sources, over seeds."""

    out: Path = Path("runs/experiment")
    """Output directory: phantom/, data/, runs/<run>-seed<k>/, eval/, report.html, results.json."""
    preset: PresetName = "quick"
    """Size preset (see PRESETS): smoke (tests, < 1 min), quick (<= 20 min per seed), full."""
    sources: Path | None = None
    """Folder holding real source files (found by official names); None: generate the phantom."""
    base: Path | None = None
    """Local pretrained LLaVA-format base model; None: the tiny base imax pretrains (cached)."""
    cache: Path = Path("runs/cache")
    """Cache root for the pretrained tiny base (keyed by its config hash)."""
    seeds: int = 1
    """Number of seeds (0..K-1); with K > 1 results are mean with 95% CI over seeds."""
    patients: int | None = None
    """Phantom patients (None: preset)."""
    phantom_seed: int = 0
    """Seed of the experiment phantom (the pretraining pool uses a different one)."""
    steps: int | None = None
    """Optimizer steps per fine-tuning run, the same for every arm; the control takes its share of them (see
    ``control``) (None: preset)."""
    batch_size: int | None = None
    """Global batch size of every fine-tuning run (None: preset)."""
    lr: float | None = None
    """Peak learning rate of every fine-tuning run (None: preset; chosen on the val split by the trivial-
    baseline gap averaged over both arms, benchmarks/recipe.py)."""
    projector_lr: float | None = None
    """Peak learning rate of the projector in every fine-tuning run (None: preset; LLaVA's LoRA recipe trains
    the projector at a tenth of the LoRA rate)."""
    lora_plus_ratio: float | None = None
    """LoRA+ rate ratio of the LoRA B matrices in every fine-tuning run (None: preset's, which is None: one
    rate; see ``TrainConfig.lora_plus_ratio``)."""
    loss_average: Literal["token", "sample"] | None = None
    """How every fine-tuning run averages its answer-token losses (None: preset; see
    ``TrainConfig.loss_average``): "token" weighs an entry by its answer length, "sample" weighs every entry
    the same."""
    length_group: int | None = None
    """Micro-batches sorted together by entry length in every fine-tuning run (None: preset; 1: off; see
    ``TrainConfig.length_group``)."""
    task_temperature: float | None = None
    """Task mixing temperature of every fine-tuning run (None: preset; 1: tasks mix in proportion to their
    volume; see ``TrainConfig.task_temperature``). IMAX and DMAX hold equal per-task volumes, so both get
    the same mixture."""
    train_lm_head: bool | None = None
    """Train the language model's output head in full beside LoRA in every fine-tuning run (PEFT's
    ``modules_to_save``, as for a tokenizer that gained tokens). None: on a tiny base imax pretrained only
    (built here, or a ``--base`` holding its ``pretrain_report.json``), never on a real checkpoint.

    Why the tiny base needs it: a CPU-scale pretraining leaves the head rows of digits nearly parallel
    (mean cosine 0.56 between the ten digit rows, -0.02 between common words), so a LoRA that cannot move
    them learns box and number answers slowly: rec alone, 300 steps, loss 1.42 with the head frozen, 0.67
    with it trained (a full fine-tune: 0.66). A real LLM's head is already trained on those tokens; the
    study freezes it. See ``benchmarks/results/recipe-lm-head.json``."""
    test_fraction: float | None = None
    """Fraction of patients in the shared test split (None: preset)."""
    eval_images: int | None = None
    """Test images scored per run (None: preset; every entry of each image is scored)."""
    fisher_probe: int | None = None
    """Fisher probe-set size N (None: preset)."""
    pseudo: bool = True
    """Run the three-stage pseudo-IMAX strategy as the third arm."""
    pseudo_images: int | None = None
    """DMAX train images to pseudo-label (None: preset)."""
    control: bool = True
    """Train the positive control: DMAX at half the per-task train volume, same recipe and epochs (so about
    half the steps); the report says whether the experiment detected its handicap (else: underpowered, no
    conclusion)."""
    fisher: bool = True
    """Measure Fisher spectra at the initial/early/mid/late checkpoints of every run."""
    resume: bool = True
    """Reuse finished stages found in OUT (a killed experiment continues where it stopped)."""

    def resolved(self, key: str) -> Any:
        """This config's value for ``key``, or the preset's when the field is None / not a field."""
        value = getattr(self, key, None)
        return PRESETS[self.preset][key] if value is None else value
