from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from imax.data import ModelInterface, PromptCollator
from imax.model import apply_lora, make_processor

from .conftest import tiny_config


def test_left_padded_batch_generates_like_single_prompts(model, tokenizer, tmp_path):
    """Batched greedy generation (PromptCollator's left padding + attention mask) == one prompt at a time."""
    peft = apply_lora(model, tiny_config().lora)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # move off the identity init so the LoRA path matters
        for p in peft.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.3)
    peft.eval()
    rng = np.random.default_rng(0)
    entries = []
    for k, instruction in enumerate(
        ["[calculate] What is the cardiothoracic ratio of this image?", "[report]"]
    ):
        Image.fromarray(rng.integers(0, 256, (40, 36), dtype=np.uint8), mode="L").save(tmp_path / f"{k}.png")
        entries.append(
            {"id": str(k), "task": "t", "image": f"{k}.png", "instruction": instruction, "response": ""}
        )
    collate = PromptCollator(ModelInterface.from_processor(make_processor(model, tokenizer)), tmp_path, max_length=128)
    kw = {"max_new_tokens": 6, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}

    def generate(batch):
        keys = ("input_ids", "attention_mask", "pixel_values")
        with torch.no_grad():
            out = peft.generate(**{k: batch[k] for k in keys}, **kw)
        return out.sequences[:, batch["input_ids"].shape[1] :], out.scores[0]

    both, scores = generate(collate(entries))
    assert collate(entries)["attention_mask"][1, 0] == 0  # the short prompt really is left-padded
    for i, e in enumerate(entries):
        one, one_scores = generate(collate([e]))
        assert both[i].tolist() == one[0].tolist()
        torch.testing.assert_close(scores[i], one_scores[0], atol=1e-5, rtol=0)
