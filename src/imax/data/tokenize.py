"""Stage 3 of the data path: messages → ``(input_ids, labels)`` rendered with the CHECKPOINT's chat template.

The checkpoint's own Jinja chat template (its processor's, else its tokenizer's) lays the prompt out —
llava-1.5 ``USER: <image>\\n… ASSISTANT:``, LLaMA-2 ``<s>[INST] … [/INST]``, ChatML ``<|im_start|>user…``,
Mistral ``<s>[INST] … [/INST]`` — exactly as ``processor.apply_chat_template`` does for a user of
plain transformers, so training, imax's generation and a plain ``AutoProcessor`` + ``generate`` on the
export see the same tokens.

Message spans come from rendering PREFIXES of the message list, never from searching the rendered
string: with ``r_k`` the rendering of the first ``k`` messages (with the generation prompt when message
``k`` is the assistant's), message ``k`` owns the text ``r_k[len(r_{k-1}):]``; a template for which
``r_{k-1}`` is not a prefix of ``r_k`` is refused (:class:`TemplateError`). Each span is tokenized on its
own — the first with the tokenizer's special tokens unless the template wrote the BOS text itself (the
rule ``ProcessorMixin.apply_chat_template`` applies), the rest without — so a single-turn prompt is
tokenized exactly as the whole prompt string is. The checkpoint's image token (one added token) is then
expanded to ``num_image_tokens`` ids, as ``LlavaProcessor`` expands it.

Labels: ``-100`` on every token of a ``masked`` message (the prompt, the template's role headers, the
image tokens); an unmasked user message trains on its whole span (role markers included), never on its
image ids. An unmasked (assistant) span is labelled up to and including its first EOS id (the
end-of-turn the model must learn to emit; anything the template writes after it, e.g. ChatML's
newline, stays unlabelled); a template that ends assistant turns without EOS (llava-1.5) gets the EOS id
appended, as LLaVA's own training code does. Masks come from the message flags only.

Too long (> ``max_length``; ``max_length <= 0``: no limit): the tail is cut, which only ever removes
assistant tokens (and the final EOS, so a cut answer does not teach the model to stop early). A cut that
would reach into a user turn, or leave no labelled token, raises :class:`SequenceTooLongError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase

from imax.data.messages import IMAGE_PLACEHOLDER, Message
from imax.schema.errors import ImaxError

IGNORE_INDEX = -100
"""Label of positions without loss (the ``ignore_index`` of ``torch.nn.functional.cross_entropy``)."""


class SequenceTooLongError(ImaxError):
    """A sample's prompt (image tokens + instruction) does not fit ``max_length``."""


class TemplateError(ImaxError):
    """The checkpoint's chat template cannot be used to derive per-message token spans."""


_PROBE = "imax-probe-text"


@dataclass(frozen=True)
class Encoded:
    """One rendered sample: ``ids``, ``labels`` (``IGNORE_INDEX`` off the answer) and ``protected``
    (positions truncation must not cut: every token of a user/system message), all of one length."""

    ids: list[int]
    labels: list[int]
    protected: list[bool]


class ChatTemplate:
    """Render :class:`Message` lists with a checkpoint's chat template, one token span per message.

    Args:
        tokenizer: the checkpoint's tokenizer (fast or slow; needs ``eos_token_id``).
        template: Jinja chat template (``processor.chat_template`` or ``tokenizer.chat_template``).
        image_token: the checkpoint's image token string (``processor.image_token``); one id.
        num_image_tokens: ids one image fills (the processor's / model's count).

    Message content may use ``imax.data.IMAGE_PLACEHOLDER`` for the image. Templates that read structured
    content (``[{"type": "image"}, {"type": "text", "text": …}]``, as llava-hf processors' templates do)
    get it structured; templates that read ``content`` as a string get the placeholder replaced by
    ``image_token``. Which kind a template is, is decided once by rendering a probe message.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, template: str, image_token: str, num_image_tokens: int
    ) -> None:
        if not template:
            raise TemplateError("the checkpoint has no chat template (processor or tokenizer chat_template)")
        if tokenizer.eos_token_id is None:
            raise TemplateError("the checkpoint's tokenizer has no eos token: the model could not stop")
        ids = tokenizer.encode(image_token, add_special_tokens=False)
        if len(ids) != 1:
            raise TemplateError(f"image token {image_token!r} encodes as {len(ids)} ids {ids}, expected one")
        if num_image_tokens <= 0:
            raise ValueError(f"num_image_tokens must be positive, got {num_image_tokens}")
        self.tokenizer = tokenizer
        self.template = template
        self.image_token = image_token
        self.image_id = int(ids[0])
        self.eos_id = int(tokenizer.eos_token_id)
        self.num_image_tokens = num_image_tokens
        self.structured = _PROBE not in self._apply([{"role": "user", "content": _PROBE}], True, structured=False)

    # -- rendering -----------------------------------------------------------------------------------
    def _content(self, text: str) -> str | list[dict[str, str]]:
        if not self.structured:
            return text.replace(IMAGE_PLACEHOLDER, self.image_token)
        parts: list[dict[str, str]] = []
        for i, piece in enumerate(text.split(IMAGE_PLACEHOLDER)):
            if i:
                parts.append({"type": "image"})
            # The placeholder line break ("<image>\n…") is the template's to write (llava: '<image>\n').
            piece = piece[1:] if i and piece.startswith("\n") else piece
            if piece:
                parts.append({"type": "text", "text": piece})
        return parts

    def _apply(self, conversation: list[dict[str, Any]], generation: bool, structured: bool | None = None) -> str:
        try:
            out = self.tokenizer.apply_chat_template(
                conversation, chat_template=self.template, tokenize=False, add_generation_prompt=generation
            )
        except Exception as exc:  # jinja's TemplateError, raise_exception(...) in the template
            if structured is False:  # the probe: a template that rejects string content is structured
                return ""
            raise TemplateError(f"the checkpoint's chat template failed: {exc}") from None
        return str(out)

    def render(self, messages: Sequence[Message], generation: bool) -> str:
        """The template's text for ``messages`` (``generation``: with the assistant generation prompt)."""
        conv = [{"role": m.role, "content": self._content(m.content)} for m in messages]
        return self._apply(conv, generation)

    def spans(self, messages: Sequence[Message], generation: bool = False) -> list[str]:
        """Text of each message in the rendering of ``messages``: ``"".join(spans) == render(messages)``.

        ``generation``: the last message is a user's and the generation prompt closes the last span.
        """
        out, prev = [], ""
        for k in range(1, len(messages) + 1):
            gen = generation if k == len(messages) else messages[k].role == "assistant"
            text = self.render(messages[:k], gen)
            if not text.startswith(prev):
                raise TemplateError(
                    f"the chat template does not render message {k} as an extension of the first {k - 1} "
                    "(prefix rendering is how imax derives loss masks without searching the text)"
                )
            out.append(text[len(prev) :])
            prev = text
        return out

    # -- tokens --------------------------------------------------------------------------------------
    def _ids(self, text: str, first: bool) -> list[int]:
        bos = self.tokenizer.bos_token
        special = first and not (bos is not None and text.startswith(bos))
        ids = self.tokenizer.encode(text, add_special_tokens=special)
        out: list[int] = []
        for i in ids:
            # One image token → N ids: the model replaces exactly N positions with image features.
            out.extend([i] * self.num_image_tokens if i == self.image_id else [i])
        return out

    def encode(self, messages: Sequence[Message], generation: bool = False) -> Encoded:
        """Ids, labels and protected flags of ``messages`` (see the module doc for the rules)."""
        ids: list[int] = []
        labels: list[int] = []
        protected: list[bool] = []
        n_images = 0
        for k, (m, text) in enumerate(zip(messages, self.spans(messages, generation), strict=True)):
            seg = self._ids(text, first=k == 0)
            if m.role == "assistant":
                end = seg.index(self.eos_id) + 1 if self.eos_id in seg else None
                if end is None:
                    seg, end = [*seg, self.eos_id], len(seg) + 1
                lab = [IGNORE_INDEX] * len(seg) if m.masked else [*seg[:end], *[IGNORE_INDEX] * (len(seg) - end)]
                keep = False
            elif m.role in ("user", "system"):
                # Image positions never carry a label: the model overwrites them with image features.
                lab = [IGNORE_INDEX if m.masked or i == self.image_id else i for i in seg]
                keep = True
            else:
                raise ValueError(f"unknown message role {m.role!r}")
            n_images += m.content.count(IMAGE_PLACEHOLDER)
            ids += seg
            labels += lab
            protected += [keep] * len(seg)
        found = ids.count(self.image_id)
        if found != n_images * self.num_image_tokens:
            raise TemplateError(
                f"the chat template rendered {found} image ids for {n_images} image(s) of "
                f"{self.num_image_tokens} tokens: it drops or repeats the image placeholder"
            )
        return Encoded(ids, labels, protected)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Generation prompt ids (the messages end with a user's; the generation prompt is appended).

        The whole prompt string is tokenized at once, exactly as ``processor(text=prompt)`` would."""
        if not messages or messages[-1].role != "user":
            raise ValueError("a generation prompt needs messages ending with a user message (no answer)")
        text = self.render(messages, generation=True)
        return self._ids(text, first=True)


def tokenize_messages(
    messages: Sequence[Message], template: ChatTemplate, max_length: int
) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``, both of length L ≤ ``max_length`` (``<= 0``: no limit); see the module doc
    for layout, masks and truncation. ``labels[i] == input_ids[i]`` on trained positions (unshifted)."""
    enc = template.encode(messages)
    ids, labels, protected = enc.ids, enc.labels, enc.protected
    if 0 < max_length < len(ids):
        if any(protected[max_length:]):
            raise SequenceTooLongError(
                f"prompt of {sum(protected)} tokens ({template.num_image_tokens} image tokens) plus answer does "
                f"not fit max_length={max_length} without cutting the prompt; raise max_length"
            )
        ids, labels = ids[:max_length], labels[:max_length]
    if all(x == IGNORE_INDEX for x in labels):
        raise SequenceTooLongError(
            f"no answer token left within max_length={max_length} (prompt is {sum(protected)} tokens); "
            "raise max_length"
        )
    return ids, labels


def prompt_ids(messages: Sequence[Message], template: ChatTemplate) -> list[int]:
    """Generation prompt ids of ``messages`` (ending with the user's) under ``template``."""
    return template.prompt_ids(messages)
