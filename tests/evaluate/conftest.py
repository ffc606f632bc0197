"""Shared tiny fixtures for imax.evaluate tests: a ~320-token tokenizer and a tiny random LLaVA."""

from __future__ import annotations

import pytest
import torch

CORPUS = [
    "[calculate] What is the cardiothoracic ratio of this image?",
    "0.52",
    "[caption] Write the findings of this chest X-ray.",
    "The heart is enlarged. Small left pleural effusion. No pneumothorax.",
    "[refer] Locate the heart. {<10><20><30><40>}",
] * 20
TASK_TOKENS = ("[calculate]", "[caption]", "[refer]")


@pytest.fixture(scope="session")
def tokenizer():
    from imax.model import train_tokenizer

    return train_tokenizer(CORPUS, TASK_TOKENS, vocab_size=320)


def build_tiny_model(tokenizer):
    """A fresh tiny random LLaVA (seed 0): vision 32 px / 16 px patches, 2-layer Llama of width 64."""
    from imax.model import build_model
    from imax.schema.config.model import ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig.tiny(
        text={"hidden_size": 64, "intermediate_size": 96, "max_position_embeddings": 256}, vocab_size=320
    )
    return build_model(cfg, tokenizer).eval()


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    return build_tiny_model(tokenizer)


@pytest.fixture
def fresh_tiny_model(tokenizer):
    """Same weights as ``tiny_model``, but the test's own copy to wrap or modify."""
    return build_tiny_model(tokenizer)
