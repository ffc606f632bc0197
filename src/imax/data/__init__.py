"""Data path: entries (rows) → messages with a mask flag → token ids + labels; images; collators.
Imports only ``imax.schema`` (plus torch/transformers/PIL/pyarrow)."""

from imax.data.collate import PromptCollator, TrainCollator, pad_batch
from imax.data.dataset import EntryDataset, load_entries, read_data_root, read_entries
from imax.data.images import ImageCache, LoadImaged, load_image, normalize, preprocess, resize
from imax.data.messages import IMAGE_PLACEHOLDER, Message, entry_to_messages, entry_to_prompt
from imax.data.tokenize import (
    IGNORE_INDEX,
    SequenceTooLongError,
    TemplateIds,
    prompt_ids,
    tokenize_messages,
)

Collator = TrainCollator
"""Alias named in docs/architecture.md's package map."""

__all__ = [
    "IGNORE_INDEX",
    "IMAGE_PLACEHOLDER",
    "Collator",
    "EntryDataset",
    "ImageCache",
    "LoadImaged",
    "Message",
    "PromptCollator",
    "SequenceTooLongError",
    "TemplateIds",
    "TrainCollator",
    "entry_to_messages",
    "entry_to_prompt",
    "load_entries",
    "load_image",
    "normalize",
    "pad_batch",
    "preprocess",
    "prompt_ids",
    "read_data_root",
    "read_entries",
    "resize",
    "tokenize_messages",
]
