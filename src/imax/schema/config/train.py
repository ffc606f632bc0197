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
    length_group: int = 1
    """Group by length: sort each run of this many consecutive micro-batches of the shuffled stream by
    entry length (instruction + response characters), cut it into micro-batches again and draw those in a
    seeded order, as LLaVA's ``group_by_modality_length`` (1: off). A micro-batch is padded to its longest
    entry, so mixing a ~44-token report with one-word answers pads most of the batch; grouping cuts that
    padding, and the steps it saves can buy more steps. Same entries, same megabatches, same seed. On the
    quick phantom it cut padding from 1.27x to 1.07x the real tokens but lost on val (a batch of one answer
    length is a batch of one or two tasks): benchmarks/results/recipe-loss-average.json."""
    task_temperature: float = 1.0
    """Task mixing temperature T: each epoch draws task t's train entries in proportion to n_t ** (1/T)
    (n_t: its entries), T5's temperature-scaled mixing (imax.train.sampler); 1: every entry once an epoch,
    so tasks mix in proportion to their volume. T > 1 flattens the mixture toward one share per task: on
    the quick phantom rec and reg hold 57 % of the IMAX train entries and edema grading 2.5 %. Arms with
    equal per-task volumes (IMAX, DMAX) get equal mixtures at any T."""
    max_length: int = 0
    """Longest token sequence (image tokens included); longer answers are truncated by the collator.
    0: the longest train/val sequence under the checkpoint's chat template and image-token count (nothing
    is cut); the run's config.yaml records the resolved value."""
    lr: float = 2e-4
    """Peak learning rate (LoRA default of the paper's recipe)."""
    projector_lr: float | None = None
    """Peak learning rate of the projector (LLaVA's ``mm_projector_lr``; its LoRA recipe uses a tenth of
    ``lr``); None: ``lr``. It follows the same warm-up and decay. A projector aligned in pretraining is
    rewritten at the LoRA rate: at lr 4e-3 the tiny base's projector weights moved by 150 % of their norm
    in 300 steps, scrambling the image features the language model is learning to read."""
    lora_plus_ratio: float | None = None
    """LoRA+ (Hayou et al., 2024): the B matrix of every LoRA adapter learns at ``lr`` × this ratio (they
    suggest 16), A at ``lr``. With one rate for both, B (initialised at 0) learns features slowly in a wide
    layer; None or 1: one rate."""
    loss_average: Literal["token", "sample"] = "token"
    """How a step's answer-token losses are averaged. "token": every answer token of the step weighs the
    same (LLaVA's and the HF Trainer's mean), so an entry weighs as many answer tokens as it has: on the
    quick phantom's IMAX train split a report has ~44 answer tokens, a VQA answer ~4, and VQA, multiclass
    and calculation together hold 7.6 % of the answer tokens. "sample": each entry's mean over its own answer
    tokens, averaged over the step's entries, so every entry weighs the same."""
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
    tasks: tuple[str, ...] = ()
    """Train only on these tasks' entries (empty: every task in the build), e.g. a single-task model beside
    the multi-task ones; a task with no train entries in the build is an error."""
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
    process; otherwise, or at 0, every batch runs the tower (imax.model.vision_cache)."""
    fisher_fractions: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
    """Also write named checkpoints at these fractions of the total steps, named in order
    initial/early/mid/late (read by ``imax.fisher``); empty: none."""
    progress: bool = True
    """Show a tqdm progress bar (only on a TTY, only on the main process)."""


@dataclass
class PretrainConfig:
    """The tiny base, built like a LLaVA base on a phantom pool that never carries task data: vision tower
    on dense truth targets, language model on free-text descriptions, projector aligned on image–description
    pairs (``imax.train.pretrain``)."""

    out: Path = Path("cache/base")
    """Cache root: the base is saved to ``OUT/<config hash>/`` and reused when present."""
    pool: Path | None = None
    """Phantom directory of the pretraining pool (``imax phantom --id-block pretrain``); None: generate
    one with ``phantom_seed``. Its subject ids must lie in the pretraining block (checked), so no pool
    patient is a study patient."""
    preset: Literal["smoke", "quick", "full"] = "quick"
    """Size preset: smoke (seconds, tests), quick (<= 10 min on 2 cores), full (hours)."""
    patients: int | None = None
    """Pool phantom patients (None: the preset's)."""
    phantom_seed: int = 9001
    """Phantom seed of the generated pool."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Tiny model config (its tokenizer is trained on the pool's descriptions)."""
    heldout_fraction: float = 0.2
    """Share of pool patients held out of every stage (probes, held-out losses)."""
    vision_epochs: float | None = None
    """Passes of the vision stage over the pool's train images (None: the preset's; 0: skip)."""
    vision_lr: float = 1e-3
    """Peak learning rate of the vision stage (AdamW, one-cycle)."""
    label_weight: float = 0.5
    """Weight of the image-level truth attributes (finding classes, edema grade) beside the dense targets
    in the vision stage; 0: dense targets only (anatomy segmentation, lesion maps)."""
    lm_epochs: float | None = None
    """Passes of the language stage over the pool's train descriptions (None: the preset's)."""
    lm_lr: float = 2e-3
    """Peak learning rate of the language stage."""
    general_text_chars: int | None = None
    """Characters of general-language text (half the Python reference's prose, half the standard library's source, audit-filtered) the language stage
    reads beside the descriptions, so the base knows digits, punctuation and brackets as an LLM does
    (None: the preset's; 0: descriptions only)."""
    align_epochs: float | None = None
    """Passes of the alignment stage (projector only) over the (image, description) pairs (None: the preset's)."""
    align_lr: float = 2e-3
    """Peak learning rate of the alignment stage."""
    caption_epochs: float | None = None
    """Passes of the captioning stage (projector and language model) over the same pairs (None: the preset's;
    0: skip)."""
    caption_lr: float = 5e-4
    """Peak learning rate of the captioning stage."""
    batch_size: int = 32
    """Micro-batch of the language and alignment stages (the vision stage uses 32 too)."""
    weight_decay: float = 0.01
    """AdamW weight decay (language and alignment stages)."""
    warmup_ratio: float = 0.05
    """Warm-up fraction of the language and alignment stages."""
    seed: int = 0
    """Seed of the pool split, sampler order and probes (the model init is ``model.seed``)."""
    probe_labels: tuple[str, ...] = ("Cardiomegaly", "Pleural Effusion", "Edema", "Consolidation", "Pneumothorax",
                                     "Support Devices")
    """Finding classes the vision-encoder linear probe predicts (from the pool's truth)."""
    force: bool = False
    """Retrain even when the cache holds this config's base."""
