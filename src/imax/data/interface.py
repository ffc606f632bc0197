"""The model's input interface, as the checkpoint's own processor defines it: chat template, image token
and count, image preprocessing. One object, built the same way for every checkpoint (imax's tiny base
included: it is saved with its processor like any published LLaVA checkpoint)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase

from imax.data.images import ImageSpec
from imax.data.messages import entry_to_messages, entry_to_prompt
from imax.data.tokenize import ChatTemplate
from imax.schema.errors import ImaxError


def processor_image_tokens(processor: Any, side: int) -> int:
    """Image tokens ``LlavaProcessor`` expands one image to at input side ``side``:
    ``(side // patch_size)² + num_additional_image_tokens``, minus 1 under the "default" strategy."""
    patch = getattr(processor, "patch_size", None)
    if not patch:
        raise ImaxError(f"{type(processor).__name__} has no patch_size: cannot count image tokens")
    n = (side // patch) ** 2 + int(getattr(processor, "num_additional_image_tokens", 0) or 0)
    return n - (getattr(processor, "vision_feature_select_strategy", None) == "default")


@dataclass(frozen=True)
class ModelInterface:
    """Chat template + image spec of one checkpoint.

    ``template.tokenizer`` is the checkpoint's tokenizer; ``template.num_image_tokens`` the ids one image
    fills; ``image`` the pixel spec (``pixel_values`` rows ``float32 (C, S, S)``).
    """

    template: ChatTemplate
    image: ImageSpec

    @classmethod
    def from_processor(cls, processor: Any, num_image_tokens: int | None = None) -> ModelInterface:
        """From a transformers ``LlavaProcessor`` (``AutoProcessor.from_pretrained(checkpoint)``).

        Template: ``processor.chat_template``, else the tokenizer's. Image tokens: the processor's count
        (:func:`processor_image_tokens`); ``num_image_tokens`` (the model's count) must agree with it, and
        stands in for it when an older processor config has no ``patch_size``.
        """
        tokenizer = getattr(processor, "tokenizer", None)
        image_processor = getattr(processor, "image_processor", None)
        if tokenizer is None or image_processor is None:
            raise ImaxError(f"{type(processor).__name__} lacks a tokenizer or an image processor")
        image = ImageSpec.from_processor(image_processor)
        if not getattr(processor, "patch_size", None) and num_image_tokens is not None:
            n = num_image_tokens  # an older processor_config without patch_size: the model's count
        else:
            n = processor_image_tokens(processor, image.size)
        if num_image_tokens is not None and num_image_tokens != n:
            raise ImaxError(
                f"the processor expands an image to {n} tokens but the model takes {num_image_tokens} "
                "(patch_size / vision_feature_select_strategy / num_additional_image_tokens disagree)"
            )
        template = getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)
        image_token = getattr(processor, "image_token", None) or "<image>"
        return cls(ChatTemplate(tokenizer, template or "", image_token, n), image)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.template.tokenizer

    @property
    def num_image_tokens(self) -> int:
        return self.template.num_image_tokens

    def sequence_length(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """Longest full training sequence (image tokens + prompt + answer + EOS) over ``entries``: the
        ``max_length`` that cuts nothing."""
        return max((len(self.template.encode(entry_to_messages(e)).ids) for e in entries), default=0)

    def prompt_length(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """Longest generation prompt over ``entries``."""
        return max((len(self.template.prompt_ids(entry_to_prompt(e))) for e in entries), default=0)

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of the interface (for config.yaml / run records)."""
        return {
            "chat_template": self.template.template,
            "image_token": self.template.image_token,
            "num_image_tokens": self.num_image_tokens,
            "vocab_size": len(self.tokenizer),
            "image": self.image.describe(),
        }
