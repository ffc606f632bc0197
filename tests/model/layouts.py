"""Tiny random-weight LLaVA checkpoints in the layouts of published llava-hf checkpoints (shared test helper).

Each layout is saved exactly as a published checkpoint is: ``model.save_pretrained`` + ``processor.
save_pretrained`` (tokenizer with an added ``<image>`` token, image processor, processor config, chat
template), so ``AutoProcessor`` / ``LlavaForConditionalGeneration.from_pretrained`` read it with no imax
code. Tokenizers are byte-level BPEs trained offline with ``tokenizers`` on a small corpus.

* ``llava15``   CLIP (3 channels, patch 14, ``vision_feature_layer`` -2, "default") + Llama; llava-1.5's
                processor template ``USER: <image>\\n… ASSISTANT:`` (structured content, no EOS after
                answers); ``CLIPImageProcessor`` (shortest edge + centre crop, CLIP mean/std).
* ``siglip_qwen2`` SigLIP (no CLS, "full") + Qwen2 (grouped-query attention); ChatML with
                ``<|im_end|>`` as EOS; ``SiglipImageProcessor`` (mean/std 0.5).
* ``clip_mistral`` CLIP + Mistral; llava-v1.6-mistral's ``[INST] <image>\\n… [/INST]`` processor template
                (``[INST]`` is ordinary text, several tokens).

Use :func:`build_layout` (``name``, output dir, extra corpus) → the checkpoint dir. ``CHAT_TEMPLATES``
also holds the string-content tokenizer templates of LLaMA-2, ChatML (Qwen2) and Mistral for
template-level tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    MistralConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    SiglipImageProcessor,
    SiglipVisionConfig,
)

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CHAT_TEMPLATES: dict[str, str] = {
    # llava-hf/llava-1.5-7b-hf's chat_template (processor): structured content, no EOS after answers.
    "llava15": (
        "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
        "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
        "{{ '<image>\n' }}{% endfor %}{% if message['role'] != 'assistant' %}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
        "{{ content['text'] + ' '}}{% endfor %}{% else %}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
        "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
    ),
    # ChatML as llava-interleave-qwen's processor writes it (structured content).
    "chatml_structured": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
        "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
        "{{ content['text'] }}{% endfor %}{{ '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # llava-hf/llava-v1.6-mistral-7b-hf's processor template (structured; BOS from the tokenizer).
    "mistral_structured": (
        "{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' }}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
        "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
        "{{ content['text'] }}{% endfor %}{{ ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
        "{{ ' ' + content['text'] + eos_token }}{% endfor %}{% endif %}{% endfor %}"
    ),
    # meta-llama/Llama-2-7b-chat-hf's tokenizer template (string content, BOS written by the template).
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
        "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
        "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
    ),
    # Qwen2-7B-Instruct's tokenizer template (string content, default system prompt).
    "chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # mistralai/Mistral-7B-Instruct-v0.1's tokenizer template (string content, BOS written by the template).
    "mistral": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
    ),
}

CORPUS: tuple[str, ...] = (
    "What is the cardiothoracic ratio of this image? The cardiothoracic ratio is 0.52.",
    "Write the findings of this chest X-ray. The heart is enlarged. Small left pleural effusion.",
    "Is there an effusion? yes no. Locate the right lung in the image. [12, 20, 48, 90]",
    "USER: ASSISTANT: system user assistant You are a helpful assistant. [INST] [/INST]",
)

# family → (specials in id order, bos, eos, pad, unk, whether the tokenizer adds BOS itself)
FAMILIES: dict[str, tuple[tuple[str, ...], str | None, str, str, str | None, bool]] = {
    "llama": (("<unk>", "<s>", "</s>", "<pad>", "<image>"), "<s>", "</s>", "<pad>", "<unk>", True),
    "qwen2": (("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"), None, "<|im_end|>", "<|endoftext|>",
              None, False),
    "mistral": (("<unk>", "<s>", "</s>", "<pad>", "<image>"), "<s>", "</s>", "<pad>", "<unk>", True),
}


def layout_tokenizer(family: str, corpus: Iterable[str] = (), vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE with ``family``'s specials (``<image>`` added), trained offline on ``CORPUS`` +
    ``corpus``; Llama/Mistral tokenizers add BOS as their published ones do, Qwen2's adds nothing."""
    specials, bos, eos, pad, unk, add_bos = FAMILIES[family]
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.add_special_tokens(list(specials))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials), min_frequency=1,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([*CORPUS, *corpus] * 3, trainer=trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                      unk_token=unk, extra_special_tokens=["<image>"])
    return wrapped


def _text_config(kind: str, vocab: int, tok: PreTrainedTokenizerFast) -> object:
    common = dict(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=128, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    if kind == "llama":
        return LlamaConfig(num_key_value_heads=4, **common)
    if kind == "qwen2":
        return Qwen2Config(num_key_value_heads=2, **common)
    return MistralConfig(num_key_value_heads=2, sliding_window=None, **common)


LAYOUTS: dict[str, dict] = {
    "llava15": {"family": "llama", "template": "llava15", "tower": "clip", "image_size": 56, "patch": 14,
                "layer": -2, "strategy": "default"},
    "siglip_qwen2": {"family": "qwen2", "template": "chatml_structured", "tower": "siglip", "image_size": 32,
                     "patch": 8, "layer": -1, "strategy": "full"},
    "clip_mistral": {"family": "mistral", "template": "mistral_structured", "tower": "clip", "image_size": 28,
                     "patch": 7, "layer": -2, "strategy": "default"},
}
"""Each layout: 16 image tokens, 2-layer towers and LMs of width 32/64."""


def build_layout(name: str, out: Path, corpus: Iterable[str] = (), seed: int = 0) -> Path:
    """Save the tiny random-weight checkpoint of layout ``name`` to ``out`` (see the module doc)."""
    spec = LAYOUTS[name]
    tok = layout_tokenizer(spec["family"], corpus)
    side, patch = spec["image_size"], spec["patch"]
    tower = dict(num_channels=3, image_size=side, patch_size=patch, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=64)
    if spec["tower"] == "clip":
        vision = CLIPVisionConfig(**tower)
        image_processor = CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}, do_center_crop=True,
            image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, resample=3, do_convert_rgb=True)
        extra = 1
    else:
        vision = SiglipVisionConfig(**tower)
        image_processor = SiglipImageProcessor(size={"height": side, "width": side}, image_mean=[0.5] * 3,
                                               image_std=[0.5] * 3, resample=3)
        extra = 0
    image_id = tok.convert_tokens_to_ids("<image>")
    n_image = (side // patch) ** 2 + extra - (spec["strategy"] == "default")
    config = LlavaConfig(vision_config=vision, text_config=_text_config(spec["family"], len(tok), tok),
                         image_token_index=image_id, image_seq_length=n_image, projector_hidden_act="gelu",
                         vision_feature_select_strategy=spec["strategy"], vision_feature_layer=spec["layer"],
                         tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    gen = model.generation_config
    gen.pad_token_id, gen.bos_token_id, gen.eos_token_id = tok.pad_token_id, tok.bos_token_id, tok.eos_token_id
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=patch,
                               vision_feature_select_strategy=spec["strategy"],
                               chat_template=CHAT_TEMPLATES[spec["template"]], image_token="<image>",
                               num_additional_image_tokens=extra)
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def tiny_interface(tokenizer: PreTrainedTokenizerFast, side: int = 32, patch: int = 16, channels: int = 1,
                   mean: float = 0.5, std: float = 0.5, resample: int = 2):
    """``imax.data.ModelInterface`` of a tiny CLIP-tower model with ``tokenizer`` (its chat template),
    without building the model: ``(side / patch)²`` image tokens ("default" strategy, CLIP's CLS dropped),
    a ``side`` px input of ``channels`` channels — what ``imax.model.make_processor`` writes for such a model."""
    from imax.data import ModelInterface

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}, do_center_crop=True,
        image_mean=[mean] * channels, image_std=[std] * channels, resample=resample, do_convert_rgb=channels == 3)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
                               vision_feature_select_strategy="default", chat_template=tokenizer.chat_template,
                               image_token="<image>", num_additional_image_tokens=1)
    return ModelInterface.from_processor(processor)
