"""Data path: entries (rows) → messages with a mask flag → token ids + labels (the checkpoint's chat
template); images (the checkpoint's image processor, pad-to-square); collators.
Imports only ``imax.schema`` (plus torch/transformers/PIL/pyarrow)."""

from imax.data.collate import PromptCollator, TrainCollator, pad_batch
from imax.data.dataset import EntryDataset, load_entries, read_data_root, read_entries
from imax.data.images import (
    ImageCache,
    ImageSpec,
    LoadImaged,
    load_image,
    normalize,
    pad_to_square,
    preprocess,
    resize,
)
from imax.data.interface import ModelInterface, processor_image_tokens
from imax.data.messages import IMAGE_PLACEHOLDER, Message, entry_to_messages, entry_to_prompt
from imax.data.tokenize import (
    IGNORE_INDEX,
    ChatTemplate,
    Encoded,
    SequenceTooLongError,
    TemplateError,
    prompt_ids,
    tokenize_messages,
)

Collator = TrainCollator
"""Alias named in docs/architecture.md's package map."""

__all__ = [
    "IGNORE_INDEX",
    "IMAGE_PLACEHOLDER",
    "ChatTemplate",
    "Collator",
    "Encoded",
    "EntryDataset",
    "ImageCache",
    "ImageSpec",
    "LoadImaged",
    "Message",
    "ModelInterface",
    "PromptCollator",
    "SequenceTooLongError",
    "TemplateError",
    "TrainCollator",
    "entry_to_messages",
    "entry_to_prompt",
    "load_entries",
    "load_image",
    "normalize",
    "pad_batch",
    "pad_to_square",
    "preprocess",
    "processor_image_tokens",
    "prompt_ids",
    "read_data_root",
    "read_entries",
    "resize",
    "tokenize_messages",
]
