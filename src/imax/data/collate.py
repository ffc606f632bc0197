"""Batching: entries → padded tensors for training (right padding) and for generation (left padding).

Padding sides are set here explicitly, independent of ``tokenizer.padding_side``: training pads on the
right (labels -100 there), batched generation pads on the left so every prompt ends at the last column
and new tokens are appended after ``[/INST]`` for every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from imax.data.images import ImageCache, LoadImaged
from imax.data.messages import entry_to_messages, entry_to_prompt
from imax.data.tokenize import IGNORE_INDEX, SequenceTooLongError, prompt_ids, tokenize_messages

DEFAULT_CACHE_SIZE = 4096
"""Resized images kept per collator (4096 x 16 KB = 64 MB at 128 px)."""


def pad_batch(seqs: Sequence[Sequence[int]], value: int, side: str) -> torch.Tensor:
    """``long (B, max len)``: each sequence padded with ``value`` on ``side`` ("right" | "left")."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for row, s in enumerate(seqs):
        if not s:
            continue
        if side == "right":
            out[row, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        elif side == "left":
            out[row, width - len(s) :] = torch.as_tensor(s, dtype=torch.long)
        else:
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return out


class _Base:
    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast,
        num_image_tokens: int,
        image_size: int,
        data_root: Path | str,
        max_length: int,
        mean: float = 0.5,
        std: float = 0.5,
        cache: ImageCache | None = None,
    ) -> None:
        """``cache`` None: a fresh LRU of :data:`DEFAULT_CACHE_SIZE` resized images (each image serves
        ~7 entries in image-centric data, so most loads hit); ``ImageCache(0)`` disables caching."""
        if tokenizer.pad_token_id is None:
            raise ValueError("tokenizer has no pad token")
        self.tokenizer = tokenizer
        self.num_image_tokens = num_image_tokens
        self.image_size = image_size
        self.max_length = max_length
        cache = ImageCache(DEFAULT_CACHE_SIZE) if cache is None else cache
        self.images = LoadImaged(data_root, image_size, key="image", mean=mean, std=std, cache=cache)

    def pixels(self, entries: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """float32 (B, 1, S, S): the entries' images, loaded, resized and normalised."""
        return torch.from_numpy(np.stack([self.images.array(e["image"]) for e in entries]))

    @staticmethod
    def _meta(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        return {"task": [e["task"] for e in entries], "id": [e["id"] for e in entries],
                "image": [e["image"] for e in entries]}  # fmt: skip


class TrainCollator(_Base):
    """``entries → {input_ids, attention_mask, labels: long (B, L) right-padded; pixel_values: float32
    (B, 1, S, S); task, id, image: list[str]}``. Padding has attention 0 and label -100."""

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        pairs = [
            tokenize_messages(entry_to_messages(e), self.tokenizer, self.num_image_tokens, self.max_length)
            for e in entries
        ]
        ids = [p[0] for p in pairs]
        return {
            "input_ids": pad_batch(ids, self.tokenizer.pad_token_id, "right"),
            "attention_mask": pad_batch([[1] * len(s) for s in ids], 0, "right"),
            "labels": pad_batch([p[1] for p in pairs], IGNORE_INDEX, "right"),
            "pixel_values": self.pixels(entries),
            **self._meta(entries),
        }


class PromptCollator(_Base):
    """``entries → {input_ids, attention_mask: long (B, L) LEFT-padded prompts ending in [/INST];
    pixel_values: float32 (B, 1, S, S); task, id, image, response: list[str]}`` (response = reference
    answer)."""

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        ids = [prompt_ids(entry_to_prompt(e), self.tokenizer, self.num_image_tokens) for e in entries]
        for e, s in zip(entries, ids, strict=True):
            if len(s) > self.max_length:
                raise SequenceTooLongError(
                    f"entry {e.get('id')!r}: prompt of {len(s)} tokens exceeds max_length={self.max_length}"
                )
        return {
            "input_ids": pad_batch(ids, self.tokenizer.pad_token_id, "left"),
            "attention_mask": pad_batch([[1] * len(s) for s in ids], 0, "left"),
            "pixel_values": self.pixels(entries),
            **self._meta(entries),
            "response": [e.get("response") for e in entries],
        }
