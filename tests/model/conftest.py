"""Tiny model fixtures: a ~300-token tokenizer and a LLaVA of a few tens of thousands of parameters."""

from __future__ import annotations

import pytest
import torch

from imax.model import build_model, train_tokenizer
from imax.schema.config.model import ModelConfig

TASK_TOKENS = ("[calculate]", "[report]", "[refer]")
CORPUS = [
    "[calculate] What is the cardiothoracic ratio of this image?",
    "The cardiothoracic ratio is 0.52.",
    "[report] Write the findings of this chest X-ray.",
    "The heart is enlarged. Small left pleural effusion. No pneumothorax.",
    "[refer] Locate the heart. {<10><20><30><40>}",
] * 20


def tiny_config(strategy: str = "default", n_layers: int = 2) -> ModelConfig:
    """32 px images, 16 px patches → 4 image tokens ("default") or 5 ("full")."""
    return ModelConfig.tiny(
        vision_num_layers=2,
        text_num_layers=n_layers,
        text_intermediate_size=48,
        vision_feature_select_strategy=strategy,
        vocab_size=320,
    )


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(CORPUS, TASK_TOKENS, vocab_size=320)


@pytest.fixture
def model(tokenizer):
    return build_model(tiny_config(), tokenizer).eval()


def batch(tokenizer, n_image: int, n_ids: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Two prompts with ``n_ids`` image ids each (default ``n_image``) and labels on the text tail."""
    g = torch.Generator().manual_seed(seed)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    text = tokenizer.encode("[calculate] What is the ratio? 0.52", add_special_tokens=False)
    row = [
        tokenizer.bos_token_id,
        *([image_id] * (n_ids if n_ids is not None else n_image)),
        *text,
        tokenizer.eos_token_id,
    ]
    ids = torch.tensor([row, row])
    labels = ids.clone()
    labels[:, : len(row) - len(text) - 1] = -100
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values": torch.randn(2, 1, 32, 32, generator=g),
        "labels": labels,
    }
