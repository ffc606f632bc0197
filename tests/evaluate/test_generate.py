"""Batched left-padded greedy generation equals one-prompt-at-a-time generation, token for token."""

from __future__ import annotations

import torch

from imax.data.collate import pad_batch
from imax.evaluate.generate import greedy_generate, hf_greedy_generate, task_batches
from imax.model import num_image_tokens


def _prompts(tokenizer, n_image: int) -> list[list[int]]:
    image = tokenizer.convert_tokens_to_ids("<image>")
    texts = [
        "[calculate] What is the ratio?",
        "[caption] Write the findings.",
        "[refer] Locate the heart.",
        "[caption] Write the findings of this chest X-ray please, in detail.",
    ]
    return [
        [tokenizer.bos_token_id, *([image] * n_image), *tokenizer.encode(t, add_special_tokens=False)]
        for t in texts
    ]


def test_batched_equals_single(tokenizer, tiny_model):
    prompts = _prompts(tokenizer, num_image_tokens(tiny_model))
    assert len({len(p) for p in prompts}) > 1  # different lengths: padding really happens
    pixels = torch.randn(len(prompts), 1, 32, 32, generator=torch.Generator().manual_seed(0))
    kw = {"max_new_tokens": 12, "pad_token_id": tokenizer.pad_token_id, "eos_token_id": -1}  # no early stop
    batched = greedy_generate(
        tiny_model,
        pad_batch(prompts, tokenizer.pad_token_id, "left"),
        pad_batch([[1] * len(p) for p in prompts], 0, "left"),
        pixels,
        **kw,
    )
    single = [
        greedy_generate(
            tiny_model, torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long), pixels[i : i + 1], **kw
        )[0]
        for i, p in enumerate(prompts)
    ]
    assert batched == single
    # ... and equals plain transformers generate on each prompt alone (the lean loop is not its own judge).
    alone = [
        hf_greedy_generate(
            tiny_model, torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long), pixels[i : i + 1], **kw
        )[0]
        for i, p in enumerate(prompts)
    ]
    assert batched == alone
    assert all(len(r) == 12 for r in batched)
    # Deterministic: a second call gives the same tokens.
    again = greedy_generate(
        tiny_model,
        pad_batch(prompts, tokenizer.pad_token_id, "left"),
        pad_batch([[1] * len(p) for p in prompts], 0, "left"),
        pixels,
        **kw,
    )
    assert again == batched


def test_right_padding_is_refused(tokenizer, tiny_model):
    prompts = _prompts(tokenizer, num_image_tokens(tiny_model))[:2]
    ids = pad_batch(prompts, tokenizer.pad_token_id, "right")
    mask = pad_batch([[1] * len(p) for p in prompts], 0, "right")
    import pytest

    with pytest.raises(ValueError, match="LEFT-padded"):
        greedy_generate(tiny_model, ids, mask, torch.zeros(2, 1, 32, 32), 2, tokenizer.pad_token_id, 2)


def test_task_batches_group_by_task_and_cover_all():
    entries = [
        {"id": f"e{i}", "task": t, "instruction": "x" * (i % 5)}
        for i, t in enumerate(["vqa", "calculation", "report", "calculation", "vqa", "calculation"])
    ]
    batches = task_batches(entries, batch_size=2)
    assert [t for t, _ in batches] == ["calculation", "calculation", "report", "vqa"]
    assert sorted(i for _, idx in batches for i in idx) == list(range(6))
    assert all(len({entries[i]["task"] for i in idx}) == 1 for _, idx in batches)


def test_encode_images_only_for_the_lean_loop(tokenizer, tiny_model, monkeypatch):
    from imax.evaluate import generate

    entries = [{"image": "a.png"}, {"image": "b.png"}, {"image": "a.png"}]

    class Collate:
        def pixels(self, rows):
            return torch.randn(len(rows), 1, 32, 32, generator=torch.Generator().manual_seed(len(rows)))

    cache, why = generate.encode_images(tiny_model, entries, Collate(), batch_size=2, budget_gb=1.0)
    assert why == "" and sorted(cache.row_of) == ["a.png", "b.png"]
    assert generate.encode_images(tiny_model, entries, object(), 2, 1.0)[1].endswith(
        "no pixels() to load images with"
    )
    monkeypatch.setattr("imax.evaluate.decode.fast_path_supported", lambda model: False)
    assert generate.encode_images(tiny_model, entries, Collate(), 2, 1.0) == (
        None,
        "the model decodes through model.generate, which takes pixels",
    )
