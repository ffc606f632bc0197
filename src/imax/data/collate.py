"""Batching: entries → padded tensors for training (right padding) and for generation (left padding).

Padding sides are set here explicitly, independent of ``tokenizer.padding_side``: training pads on the
right (labels -100 there), batched generation pads on the left so every prompt ends at the last column
and new tokens are appended after the generation prompt for every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imax.data.images import ImageCache, LoadImaged
from imax.data.interface import ModelInterface
from imax.data.messages import entry_to_messages, entry_to_prompt
from imax.data.tokenize import IGNORE_INDEX, SequenceTooLongError, prompt_ids, tokenize_messages

DEFAULT_CACHE_SIZE = 4096
"""Resized grey images kept per collator (4096 x 16 KB = 64 MB at 128 px; 460 MB at 336 px)."""


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
        interface: ModelInterface,
        data_root: Path | str,
        max_length: int = 0,
        cache: ImageCache | None = None,
    ) -> None:
        """``interface``: the checkpoint's chat template + image spec (:class:`ModelInterface`).
        ``max_length <= 0``: no limit. ``cache`` None: a fresh LRU of :data:`DEFAULT_CACHE_SIZE` resized
        images (each image serves ~7 entries in image-centric data, so most loads hit); ``ImageCache(0)``
        disables caching."""
        if not isinstance(interface, ModelInterface):
            raise TypeError(
                f"collators take a ModelInterface (imax.data.ModelInterface.from_processor), got {type(interface).__name__}"
            )
        tokenizer = interface.tokenizer
        if tokenizer.pad_token_id is None:
            raise ValueError("tokenizer has no pad token")
        self.interface = interface
        self.template = interface.template
        self.tokenizer = tokenizer
        self.num_image_tokens = interface.num_image_tokens
        self.image_size = interface.image.size
        self.max_length = max_length
        cache = ImageCache(DEFAULT_CACHE_SIZE) if cache is None else cache
        self.images = LoadImaged(data_root, interface.image, key="image", cache=cache)

    def pixels(self, entries: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """float32 (B, C, S, S): the entries' images, padded to square, resized and normalised."""
        return torch.from_numpy(np.stack([self.images.array(e["image"]) for e in entries]))

    @staticmethod
    def _meta(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        return {"task": [e["task"] for e in entries], "id": [e["id"] for e in entries],
                "image": [e["image"] for e in entries]}  # fmt: skip


class TrainCollator(_Base):
    """``entries → {input_ids, attention_mask, labels: long (B, L) right-padded; pixel_values: float32
    (B, C, S, S); task, id, image: list[str]}``. Padding has attention 0 and label -100."""

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        pairs = [
            tokenize_messages(entry_to_messages(e), self.template, self.max_length)
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
    """``entries → {input_ids, attention_mask: long (B, L) LEFT-padded prompts ending in the template's generation prompt;
    pixel_values: float32 (B, C, S, S); task, id, image, response: list[str]}`` (response = reference
    answer)."""

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        ids = [prompt_ids(entry_to_prompt(e), self.template) for e in entries]
        for e, s in zip(entries, ids, strict=True):
            if 0 < self.max_length < len(s):
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
