"""Configs of ``imax train`` (LoRA fine-tuning) and ``imax pretrain`` (the tiny base model).

Batch semantics (the same on 1 process and N): ``batch_size`` is the GLOBAL micro-batch; each of the
``world`` processes takes ``batch_size / world`` samples of it. One optimizer step consumes
``batch_size * grad_accum`` samples. The loss is the token-mean over every answer token of those samples
(all ranks, all micro-batches), so a run's result does not depend on how the batch was split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imax.schema.config.model import ModelConfig


@dataclass
class TrainConfig:
    """One fine-tuning run: LoRA on the LM + trainable projector, vision tower frozen."""

    data: Path = Path("data/imax")
    """Built dataset directory (``imax build --out``): entries.parquet + manifest.json."""
    base: Path | None = None
    """Base model: a local LLaVA directory (``save_base`` / ``save_pretrained`` layout) or a hub id
    (``org/name[@revision]``, from_pretrained semantics: the HF cache, the hub unless HF_HUB_OFFLINE is set).
    None: build the tiny config with a tokenizer trained on the dataset's train instructions + responses
    (saved to ``OUT/base`` and reused on resume)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """dtype the base weights load in. auto: the checkpoint's own dtype on a GPU, float32 on the CPU. LoRA
    weights stay float32 whatever this is (PEFT upcasts adapters); a full fine-tune trains in this dtype."""
    gradient_checkpointing: bool = False
    """Recompute each decoder layer's activations in the backward instead of storing them (non-reentrant
    torch checkpointing): far less activation memory for ~30 percent more compute; same loss and gradients."""
    out: Path = Path("runs/train")
    """Output directory: checkpoints/, log.jsonl, tb/, final/ and the artifacts beside them."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Model and LoRA settings (the LoRA part is used; the rest only when ``base`` is None)."""
    finetune: Literal["lora", "full"] = "lora"
    """lora: LoRA on the LM + trainable projector, vision tower frozen (the study's recipe). full: every
    parameter trains (how ``imax pretrain`` trains the tiny base); checkpoints then hold ``model/``."""
    init_from: Path | None = None
    """LoRA only: start the adapter and projector from this checkpoint's ``trainable.safetensors`` (e.g. a
    stage-1 run's ``checkpoints/final``) instead of a fresh LoRA init; same base and LoRA settings needed."""
    freeze_vision: bool = False
    """Full fine-tune only: keep the vision tower frozen (LLaVA's first stage, for an encoder that was
    pretrained on its own)."""
    epochs: float | None = None
    """Passes over the train split (fractions allowed: the sampler is a seeded stream of permutations).
    None: 3 when max_steps is not given; with max_steps the run is exactly max_steps steps."""
    max_steps: int | None = None
    """Optimizer steps: given alone, the run is exactly this long (the epochs follow from it); given with
    epochs, whichever ends first, reported before training when epochs cuts it short. The schedule spans
    the resulting length."""
    batch_size: int = 16
    """Global micro-batch (samples per forward, summed over processes; must divide by the world size)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (effective batch = batch_size * grad_accum)."""
    max_length: int = 0
    """Longest token sequence (image tokens included); longer answers are truncated by the collator.
    0: the longest train/val sequence under the checkpoint's chat template and image-token count (nothing
    is cut); the run's config.yaml records the resolved value."""
    lr: float = 2e-4
    """Peak learning rate (LoRA default of the paper's recipe)."""
    min_lr_ratio: float = 0.0
    """Final learning rate as a fraction of ``lr`` at the end of the cosine decay."""
    weight_decay: float = 0.0
    """AdamW weight decay, applied to matrices only (not to biases / norms)."""
    betas: tuple[float, ...] = (0.9, 0.999)
    """AdamW betas."""
    warmup_ratio: float = 0.03
    """Fraction of the optimizer steps with a linear warm-up from 0 to ``lr``."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0: no clipping)."""
    seed: int = 0
    """Seed of everything random: sampler order, LoRA init, dropout."""
    save_every_steps: int = 500
    """Write a resumable checkpoint every N optimizer steps (0: only at epoch ends and the end)."""
    keep_last: int = 2
    """Keep this many ``step-*`` checkpoints (named Fisher checkpoints are always kept)."""
    log_every_steps: int = 10
    """Log loss, per-task loss, lr, samples/s and tokens/s every N optimizer steps."""
    eval_every_steps: int = 0
    """Validation loss every N optimizer steps (0: off)."""
    eval_samples: int = 256
    """Validation entries used for the validation loss (the first N of the val split)."""
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """Accelerate autocast precision of the forward: "no" on the CPU (bf16 is 20-30x slower there); "bf16" on
    GPUs (weights stay in ``dtype``; with float32 weights this is classic mixed precision)."""
    resume: bool = False
    """Continue from the latest complete checkpoint in ``OUT/checkpoints`` (exactly: data position,
    optimizer, RNG)."""
    num_workers: int = 0
    """DataLoader worker processes (image decoding); 0 loads in the training process."""
    vision_cache_gb: float = 2.0
    """With the vision tower frozen, encode every train image once before training and reuse its
    features (image-centric data draws each image ~7 times an epoch) when they fit this many GB per
    process; otherwise, or at 0, every batch runs the tower (imax.train.vision_cache)."""
    fisher_fractions: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
    """Also write named checkpoints at these fractions of the total steps, named in order
    initial/early/mid/late (read by ``imax.fisher``); empty: none."""
    progress: bool = True
    """Show a tqdm progress bar (only on a TTY, only on the main process)."""


@dataclass
class PretrainConfig:
    """Full fine-tune of the tiny base (vision tower + projector + LM) on a disjoint phantom pool."""

    out: Path = Path("cache/base")
    """Cache root: the base is saved to ``OUT/<config hash>/`` and reused when present."""
    data: Path | None = None
    """Built dataset directory of the pretraining pool; None: generate a phantom with ``phantom_seed`` and
    build it (its images are disjoint from the experiment's: distinct seed and subject ids)."""
    preset: Literal["smoke", "quick", "full"] = "quick"
    """Size preset: smoke (seconds, tests), quick (<= 10 min on 2 cores), full (hours)."""
    patients: int | None = None
    """Phantom patients (None: the preset's)."""
    phantom_seed: int = 9001
    """Phantom seed of the pool (distinct from the experiment phantoms)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Tiny model config (its tokenizer is trained on the pool's instructions + responses)."""
    epochs: float | None = None
    """Passes over the pool in the language stage (None: the preset's)."""
    vision_epochs: float | None = None
    """Passes over the vision pool's images in the supervised vision-tower stage (None: the preset's; 0:
    skip it and train the tower through the language loss instead)."""
    vision_patients: int | None = None
    """Patients of the separate phantom image pool the vision stage trains on (seed ``phantom_seed + 1``;
    None: the preset's; 0: the language pool itself). A ViT trained from scratch needs thousands of
    images to beat its random initialisation, far more than the language stage needs; ignored when
    ``data`` is given (the tower then trains on that pool's train split)."""
    vision_lr: float = 5e-4
    """Peak learning rate of the vision stage (AdamW, one-cycle)."""
    batch_size: int = 16
    """Global micro-batch."""
    lr: float = 1e-3
    """Peak learning rate of the full fine-tune (AdamW, cosine with warm-up)."""
    weight_decay: float = 0.01
    """AdamW weight decay on matrices."""
    warmup_ratio: float = 0.05
    """Warm-up fraction."""
    seed: int = 0
    """Seed of model init, sampler and probe."""
    probe_labels: tuple[str, ...] = ("Cardiomegaly", "Pleural Effusion")
    """Findings the vision-encoder linear probe predicts (from the multilabel answers)."""
    force: bool = False
    """Retrain even when the cache holds this config's base."""
