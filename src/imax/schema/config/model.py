"""Config of the model: the tiny LLaVA composition (CLIP vision tower → 2-layer MLP → Llama) and LoRA.

The defaults are the *tiny* model that trains on two CPU cores (≈ 8.3 M parameters with a 4 000-token
vocabulary). The paper's recipe is the same composition at full size: frozen vision encoder, Linear-GELU-
Linear projector, LLaMA-2 with LoRA rank 8 on every linear layer of the language model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

LORA_TARGET_REGEX = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""PEFT ``target_modules`` regex: every linear layer of the language model and nothing else. A suffix
list (``["q_proj", ...]``) would also hit the vision tower's ``q_proj``/``k_proj``/``v_proj`` (peft#2615)."""


@dataclass
class VisionSettings:
    """CLIP vision tower (transformers ``CLIPVisionConfig``), random init unless a base checkpoint is loaded (``TrainConfig.base``)."""

    image_size: int = 128
    """Input side in pixels (films are padded to square and resized to image_size x image_size)."""
    patch_size: int = 32
    """ViT patch side; (image_size / patch_size)^2 patches per image: 16 image tokens at 128 px. Patches of
    16 px gave 64 tokens, 60 % of a fine-tune entry's ~107; with 32 px a quick fine-tune runs 500 steps in
    the time 300 took, and the val criterion over both arms rose from -0.062 to -0.022
    (``benchmarks/results/recipe-patch32.json``) although the tower's linear probes are a little weaker."""
    num_channels: int = 1
    """Input channels (1: grayscale chest X-rays, no RGB replication; 3: grey replicated, as RGB processors do)."""
    hidden_size: int = 192
    """Vision transformer width."""
    num_layers: int = 6
    """Vision transformer depth."""
    num_heads: int = 3
    """Attention heads (must divide hidden_size)."""
    intermediate_size: int = 768
    """Vision MLP width."""


@dataclass
class TextSettings:
    """Llama language model (transformers ``LlamaConfig``); vocab size comes from the tokenizer."""

    hidden_size: int = 256
    """Language model width."""
    num_layers: int = 4
    """Decoder layers."""
    num_heads: int = 4
    """Attention heads (must divide hidden_size)."""
    num_kv_heads: int = 4
    """Key/value heads (= num_heads: plain multi-head attention; fewer: grouped-query attention)."""
    intermediate_size: int = 688
    """SwiGLU MLP width (LLaMA ratio 8/3 x hidden, rounded)."""
    max_position_embeddings: int = 512
    """Longest sequence (image tokens included)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""


@dataclass
class LoraSettings:
    """LoRA adapters via PEFT: on the language model's linear layers only; projector fully trainable."""

    r: int = 8
    """LoRA rank (the paper: 8)."""
    alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = 0.05
    """Dropout on the LoRA input path."""
    fused: bool = True
    """Run each LoRA linear as one fused forward/backward with dropout masks drawn from 16-bit random
    integers (``imax.model.fused_lora``: same parameters and function, fewer passes over the activations;
    drop probability quantised to k/65536). False: PEFT's stock layers and ``nn.Dropout``."""
    target_regex: str = LORA_TARGET_REGEX
    """Regex (full match against module names) selecting the layers that get adapters."""
    modules_to_save: tuple[str, ...] = ("multi_modal_projector",)
    """Modules trained in full (and saved with the adapter): the projector; ``lm_head`` may join it (the
    experiment adds it on imax's tiny base, ``ExperimentConfig.train_lm_head``). Never the vision tower."""


@dataclass
class ModelConfig:
    """The LLaVA composition: vision tower, projector and language model (tiny by default)."""

    vision: VisionSettings = field(default_factory=VisionSettings)
    """Vision tower shape."""
    text: TextSettings = field(default_factory=TextSettings)
    """Language model shape."""
    vision_feature_select_strategy: Literal["default", "full"] = "default"
    """"default" drops the CLS token ((size/patch)^2 image tokens, 16 at 128/32); "full" keeps it (+1)."""
    vision_feature_layer: int = -1
    """Vision hidden state fed to the projector (before post_layernorm). -1 (last layer), not LLaVA's -2: the tiny tower is
    trained from scratch here, and with -2 its last layer would be dead weight that gets no gradient
    (and breaks DDP without find_unused_parameters)."""
    projector_hidden_act: str = "gelu"
    """Activation between the projector's two linear layers (LLaVA-1.5: Linear-GELU-Linear)."""
    vocab_size: int = 4000
    """Target vocabulary of the byte-level BPE tokenizer trained on the dataset text."""
    seed: int = 0
    """Seed of the random initialisation of the tiny model."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """LoRA settings for fine-tuning."""

    @classmethod
    def tiny(cls, **overrides: Any) -> ModelConfig:
        """The small model tests and benchmarks build (≈ 60 K parameters with a 300-token vocabulary).

        32 px single-channel images in 16 px patches (4 image tokens, 5 with ``"full"``), a 1-layer CLIP
        tower of width 32, a 2-layer Llama of width 32 (2 heads, 128 positions), LoRA r=4 / alpha=8 without
        dropout (so runs are deterministic), seed 0. One definition, so a test states only the sizes it
        depends on.

        Overrides: a top-level field by name (``vocab_size=320``); a nested field as ``<group>_<field>``
        with group ``vision``, ``text`` or ``lora`` (``text_num_layers=1``, ``lora_dropout=0.1``); or a
        whole group as a dict of its fields (``text={"hidden_size": 64, "num_layers": 1}``) or as its
        dataclass. An unknown name raises ``TypeError``.
        """
        groups: dict[str, Any] = {
            "vision": VisionSettings(image_size=32, patch_size=16, hidden_size=32, num_layers=1, num_heads=2,
                                     intermediate_size=64),
            "text": TextSettings(hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=2, intermediate_size=64,
                                 max_position_embeddings=128),
            "lora": LoraSettings(r=4, alpha=8, dropout=0.0),
        }  # fmt: skip
        top: dict[str, Any] = {"vocab_size": 300, "seed": 0}
        top_names = {f.name for f in fields(cls)}
        nested: dict[str, dict[str, Any]] = {g: {} for g in groups}
        for key, value in overrides.items():
            group, _, name = key.partition("_")
            if key in groups and isinstance(value, dict):
                nested[key].update(value)
            elif key in top_names:
                top[key] = value
            elif group in groups and name in {f.name for f in fields(groups[group])}:
                nested[group][name] = value
            else:
                raise TypeError(f"ModelConfig.tiny: no field {key!r} (top-level, vision_*, text_* or lora_*)")
        for group, base in groups.items():
            if group not in top:
                top[group] = replace(base, **nested[group])
            elif nested[group]:
                raise TypeError(f"ModelConfig.tiny: {group} given whole and by field")
        return cls(**top)
