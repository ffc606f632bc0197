"""Tiny LLaVA + LoRA models for the Fisher tests, and random right-padded batches.

``imax_llava`` is the model imax assembles (``ModelConfig.tiny`` + ``apply_lora``); ``tiny_llava`` builds
the composition straight from transformers classes, on purpose, for layouts ``ModelConfig`` cannot express
(several feature layers, LLaVA's -2 feature layer): per-sample gradients must work for any LLaVA checkpoint.
Both share the tokenizer's vocabulary and ``<image>`` id so ``random_batch`` serves either.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from imax.model import apply_lora, build_model, train_tokenizer
from imax.model.lora import randomize_lora_b
from imax.model.tokenizer import BASE_SPECIALS
from imax.model.tokenizer import IMAGE_TOKEN as IMAGE
from imax.schema.config.model import ModelConfig

TOKENIZER = train_tokenizer(["the heart is enlarged, no effusion"] * 8, (), vocab_size=270)
VOCAB, IMAGE_TOKEN = len(TOKENIZER), TOKENIZER.convert_tokens_to_ids(IMAGE)
LM_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def imax_llava(seed: int = 0, hidden: int = 16, layers: int = 1, r: int = 2) -> torch.nn.Module:
    """imax's tiny LLaVA (32 px, patch 16 → 4 image tokens) with stock PEFT LoRA (P ≈ 1.3K).

    LoRA B is drawn at random, so LoRA-A gradients are non-zero (PEFT's default B=0 kills them).
    """
    cfg = ModelConfig.tiny(
        vision_num_layers=2,
        text={"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_layers": layers,
              "max_position_embeddings": 64},
        lora={"r": r, "alpha": 2 * r, "fused": False},
        vocab_size=VOCAB,
        seed=seed,
    )  # fmt: skip
    model = apply_lora(build_model(cfg, TOKENIZER).eval(), cfg.lora)
    randomize_lora_b(model, seed)
    return model


def tiny_llava(
    seed: int = 0, hidden: int = 16, layers: int = 1, r: int = 2, strategy: str = "default", feature_layer=-2
) -> torch.nn.Module:
    """32 px, 1 channel, patch 16 → 4 image tokens; LoRA on the LM + trainable projector (P ≈ 1.3K)."""
    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        num_channels=1,
        image_size=32,
        patch_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
    )
    text = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    cfg = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN,
        vision_feature_select_strategy=strategy,
        vision_feature_layer=feature_layer,
    )
    base = LlavaForConditionalGeneration(cfg).eval()
    # init_lora_weights=False: random B too, so LoRA-A gradients are non-zero (PEFT's default B=0 kills them)
    lora = LoraConfig(
        r=r,
        lora_alpha=2 * r,
        target_modules=LM_TARGETS,
        modules_to_save=["multi_modal_projector"],
        init_lora_weights=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(base, lora)


def random_batch(
    n: int, seed: int, tasks: tuple[str, ...] = ("calculation", "vqa"), width: int = 14, n_image: int = 4
) -> dict[str, Any]:
    """n right-padded samples: [bos, <image>×n_image, prompt…, answer…], labels on the answer only."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(BASE_SPECIALS), VOCAB, (n, width), generator=g)
    ids[:, 1 : 1 + n_image] = IMAGE_TOKEN
    mask = torch.ones(n, width, dtype=torch.long)
    lengths = torch.randint(10, width + 1, (n,), generator=g)
    for i, ln in enumerate(lengths.tolist()):
        mask[i, ln:] = 0
        ids[i, ln:] = 0
    labels = ids.clone()
    labels[:, : 3 + n_image] = -100
    labels[mask == 0] = -100
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "pixel_values": torch.randn(n, 1, 32, 32, generator=g),
        "task": [tasks[i % len(tasks)] for i in range(n)],
        "id": [f"s{seed}-{i}" for i in range(n)],
    }


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return imax_llava()
