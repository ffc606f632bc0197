from __future__ import annotations

import pytest
import torch

from imax.data import IGNORE_INDEX, EntryDataset, PromptCollator, TrainCollator
from model.layouts import tiny_interface

N, S = 4, 32  # 32 px / patch 16 → 4 image tokens


def test_train_collator_right_pads(tokenizer, dataset_dir):
    ds = EntryDataset(dataset_dir / "entries.parquet", "train")
    collate = TrainCollator(tiny_interface(tokenizer, S, 16), ds.data_root, max_length=128)
    batch = collate([ds[0], ds[1], ds[2]])
    collate([ds[0]])
    assert (collate.images.cache.misses, collate.images.cache.hits) == (3, 1)
    ids, att, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.dtype == att.dtype == labels.dtype == torch.long
    assert ids.shape == att.shape == labels.shape and ids.shape[0] == 3
    assert batch["pixel_values"].shape == (3, 1, S, S) and batch["pixel_values"].dtype == torch.float32
    assert batch["task"] == ["calculation"] * 3 and batch["id"] == [ds[i]["id"] for i in range(3)]
    short = 1  # entry 1 answers "yes": shortest row, padded on the right
    n = int(att[short].sum())
    assert n < ids.shape[1] and att[short, :n].all() and not att[short, n:].any()
    assert (ids[short, n:] == tokenizer.pad_token_id).all() and (labels[short, n:] == IGNORE_INDEX).all()
    assert ids[short, n - 1] == tokenizer.eos_token_id
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert ((ids == image_id).sum(1) == N).all()


def test_prompt_collator_left_pads(tokenizer, dataset_dir):
    ds = EntryDataset(dataset_dir / "entries.parquet", "train")
    entries = [ds[0], ds[1]]
    entries[1] = {**entries[1], "instruction": "[vqa]"}  # a shorter prompt
    batch = PromptCollator(tiny_interface(tokenizer, S, 16), ds.data_root, max_length=128)(entries)
    assert set(batch) >= {"input_ids", "attention_mask", "pixel_values", "task", "id"}
    ids, att = batch["input_ids"], batch["attention_mask"]
    close = tokenizer.convert_tokens_to_ids("[/INST]")
    assert (ids[:, -1] == close).all() and att[:, -1].all()
    n = int(att[1].sum())
    assert n < ids.shape[1] and not att[1, :-n].any() and (ids[1, :-n] == tokenizer.pad_token_id).all()
    assert ids[1, -n] == tokenizer.bos_token_id
    assert batch["pixel_values"].shape == (2, 1, S, S)
    assert batch["response"] == [e["response"] for e in entries]


def test_collators_feed_the_channels_the_processor_asks_for(tokenizer, dataset_dir):
    """Grey radiographs become 3 identical-intensity channels when the checkpoint's processor wants RGB."""
    ds = EntryDataset(dataset_dir / "entries.parquet", "train")
    rgb = tiny_interface(tokenizer, 28, 14, channels=3, mean=0.25, std=0.5)
    batch = TrainCollator(rgb, ds.data_root)([ds[0], ds[1]])
    px = batch["pixel_values"]
    assert px.shape == (2, 3, 28, 28) and torch.equal(px[:, 0], px[:, 2])
    assert ((batch["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum(1) == 4).all()


def test_collators_need_the_interface(tokenizer, dataset_dir):
    with pytest.raises(TypeError, match="ModelInterface"):
        TrainCollator(tokenizer, dataset_dir)


def test_default_max_length_is_the_longest_sequence(tokenizer, dataset_dir):
    """``max_length`` 0 in a run resolves to ``sequence_length``: image tokens + the longest prompt/answer,
    so the longest sample fits whole (ends in EOS) and one token less would cut it."""
    ds = EntryDataset(dataset_dir / "entries.parquet", "train")
    interface = tiny_interface(tokenizer, S, 16)
    entries = [ds[i] for i in range(len(ds))]
    n = interface.sequence_length(entries)
    batch = TrainCollator(interface, ds.data_root, n)(entries)
    assert batch["input_ids"].shape[1] == n
    longest = int(batch["attention_mask"].sum(1).argmax())
    assert batch["input_ids"][longest, -1] == tokenizer.eos_token_id
    cut = TrainCollator(interface, ds.data_root, n - 1)(entries)
    assert cut["input_ids"].shape[1] == n - 1 and tokenizer.eos_token_id not in cut["input_ids"][longest].tolist()
    assert interface.prompt_length(entries) < n and n > interface.num_image_tokens
