"""Per-label log-likelihood scores: left padding does not change them, and they are log-probabilities."""

from __future__ import annotations

import numpy as np
import torch

from imax.data.collate import pad_batch
from imax.evaluate.likelihood import candidate_logliks
from imax.model import num_image_tokens


def test_candidate_logliks_padding_invariant(tokenizer, tiny_model):
    image = tokenizer.convert_tokens_to_ids("<image>")
    n = num_image_tokens(tiny_model)
    texts = ["[calculate] What is the ratio?", "[caption] Write the findings of this chest X-ray."]
    prompts = [
        [tokenizer.bos_token_id, *([image] * n), *tokenizer.encode(t, add_special_tokens=False)]
        for t in texts
    ]
    cands = [tokenizer.encode(c, add_special_tokens=False) for c in ("0.52", "The heart is enlarged.")]
    pixels = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    batched = candidate_logliks(
        tiny_model,
        pad_batch(prompts, tokenizer.pad_token_id, "left"),
        pad_batch([[1] * len(p) for p in prompts], 0, "left"),
        pixels,
        cands,
    )
    single = np.concatenate(
        [
            candidate_logliks(
                tiny_model,
                torch.tensor([p]),
                torch.ones(1, len(p), dtype=torch.long),
                pixels[i : i + 1],
                cands,
            )
            for i, p in enumerate(prompts)
        ]
    )
    assert batched.shape == (2, 2)
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-4)
    assert (batched < 0).all()
