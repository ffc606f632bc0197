"""Stage 2 of the data path: an entry (one row of entries.parquet) → chat messages with a loss-mask flag.

The flag travels with the text: :mod:`imax.data.tokenize` derives the label mask from it and never
re-derives it by searching the rendered string (LLaVA#661/#1166 lost samples that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

IMAGE_PLACEHOLDER = "<image>"
"""Placeholder for one image in a user message; the tokenizer expands it to ``num_image_tokens`` ids."""


@dataclass(frozen=True)
class Message:
    """One chat turn. ``masked=True``: no loss on its tokens (prompt); ``masked=False``: trained on."""

    role: Literal["user", "assistant"]
    content: str
    masked: bool


def entry_to_messages(entry: Mapping[str, Any]) -> list[Message]:
    """``[user("<image>\\n" + instruction, masked), assistant(response, unmasked)]`` for one entry."""
    return [
        Message("user", f"{IMAGE_PLACEHOLDER}\n{entry['instruction']}", masked=True),
        Message("assistant", str(entry["response"]), masked=False),
    ]


def entry_to_prompt(entry: Mapping[str, Any]) -> list[Message]:
    """The messages of ``entry`` without the assistant answer (for generation)."""
    return entry_to_messages(entry)[:1]
