"""Stage 3 of the data path: messages → ``(input_ids, labels)`` with the LLaMA-2 chat layout.

Layout (ids are concatenated; the spaces are only notation)::

    <s> [INST] <image>×N \\n instruction [/INST] response </s>

* ``<s>``, ``[INST]``, ``[/INST]``, ``</s>`` are single special ids written here, never parsed from text.
* Each message's content is encoded on its own (byte-level BPE, lossless), so the response ids decode to
  exactly the response string, and the ``<image>`` id in a user message is expanded to N copies.
* Labels: ``-100`` on template tokens, image tokens and every token of a ``masked`` message; the token
  ids of an unmasked message (plus ``</s>`` after an assistant message) otherwise. Masks come from the
  message flags only.
* Too long (> ``max_length``): the tail is cut, which only ever removes assistant tokens (and the final
  ``</s>``, so a cut answer does not teach the model to stop early). A cut that would reach into a user
  turn (its image tokens or instruction), or leave no labelled token, raises
  :class:`SequenceTooLongError`: the sample would silently train on nothing. Raise ``max_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerFast

from imax.data.messages import Message
from imax.schema.errors import ImaxError

IGNORE_INDEX = -100
"""Label of positions without loss (the ``ignore_index`` of ``torch.nn.functional.cross_entropy``)."""


class SequenceTooLongError(ImaxError):
    """A sample's prompt (image tokens + instruction) does not fit ``max_length``."""


@dataclass(frozen=True)
class TemplateIds:
    """Ids of the template's special tokens in one tokenizer."""

    bos: int
    eos: int
    inst_open: int
    inst_close: int
    image: int

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerFast) -> TemplateIds:
        def one(token: str) -> int:
            i = tokenizer.convert_tokens_to_ids(token)
            if i is None or (i == tokenizer.unk_token_id and token != tokenizer.unk_token):
                raise ValueError(
                    f"tokenizer has no special token {token!r} (train it with imax.model.train_tokenizer)"
                )
            return int(i)

        return cls(one("<s>"), one("</s>"), one("[INST]"), one("[/INST]"), one("<image>"))


def _content_ids(text: str, tokenizer: PreTrainedTokenizerFast, t: TemplateIds, n_image: int) -> list[int]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    out: list[int] = []
    for i in ids:
        # One placeholder id → N image ids: the model replaces exactly N positions with image features.
        out.extend([i] * n_image if i == t.image else [i])
    return out


def _render(
    messages: Sequence[Message], tokenizer: PreTrainedTokenizerFast, n_image: int
) -> tuple[list[int], list[int], list[bool]]:
    """(ids, labels, protected) where ``protected`` marks positions truncation must not cut."""
    t = TemplateIds.of(tokenizer)
    ids, labels, protected = [t.bos], [IGNORE_INDEX], [True]
    for m in messages:
        body = _content_ids(m.content, tokenizer, t, n_image)
        if m.role == "user":
            seg = [t.inst_open, *body, t.inst_close]
            # Image positions never carry a label: the model overwrites them with image features.
            lab = [
                IGNORE_INDEX,
                *(IGNORE_INDEX if m.masked or i == t.image else i for i in body),
                IGNORE_INDEX,
            ]
            keep = True
        elif m.role == "assistant":
            seg = [*body, t.eos]
            lab = [IGNORE_INDEX] * len(seg) if m.masked else list(seg)
            keep = False
        else:
            raise ValueError(f"unknown message role {m.role!r}")
        ids += seg
        labels += lab
        protected += [keep] * len(seg)
    return ids, labels, protected


def tokenize_messages(
    messages: Sequence[Message], tokenizer: PreTrainedTokenizerFast, num_image_tokens: int, max_length: int
) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``, both of length L ≤ ``max_length`` (see the module doc for layout, masks
    and truncation). ``labels[i] == input_ids[i]`` on trained positions; the model shifts them itself."""
    ids, labels, protected = _render(messages, tokenizer, num_image_tokens)
    if len(ids) > max_length:
        if any(protected[max_length:]):
            raise SequenceTooLongError(
                f"prompt of {sum(protected)} tokens ({num_image_tokens} image tokens) plus answer does not fit "
                f"max_length={max_length} without cutting the prompt; raise max_length"
            )
        ids, labels = ids[:max_length], labels[:max_length]
    if all(x == IGNORE_INDEX for x in labels):
        raise SequenceTooLongError(
            f"no answer token left within max_length={max_length} (prompt is {sum(protected)} tokens); "
            "raise max_length"
        )
    return ids, labels


def prompt_ids(
    messages: Sequence[Message], tokenizer: PreTrainedTokenizerFast, num_image_tokens: int
) -> list[int]:
    """Generation prompt ``<s> [INST] <image>×N \\n instruction [/INST]`` (the last message must be the user's)."""
    if not messages or messages[-1].role != "user":
        raise ValueError("prompt_ids needs messages ending with a user message (no assistant answer)")
    ids, _, _ = _render(messages, tokenizer, num_image_tokens)
    return ids
