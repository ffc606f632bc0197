"""A byte-level BPE tokenizer trained locally on the dataset text (nothing is downloaded).

Byte-level BPE is lossless (``decode(encode(s)) == s`` for any string), so a response decoded from
generated ids is exactly the text the task parser expects. Every special token is an added token and
therefore encodes as ONE id wherever it occurs in the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

UNK: Final = "<unk>"
BOS: Final = "<s>"
EOS: Final = "</s>"
PAD: Final = "<pad>"
IMAGE_TOKEN: Final = "<image>"
INST_OPEN: Final = "[INST]"
INST_CLOSE: Final = "[/INST]"
BASE_SPECIALS: Final[tuple[str, ...]] = (UNK, BOS, EOS, PAD, IMAGE_TOKEN, INST_OPEN, INST_CLOSE)
"""Fixed specials, in id order 0..6 (LLaMA order for unk/bos/eos); the caller's task tokens follow."""

TINY_CHAT_TEMPLATE: Final = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST]' + message['content'] + '[/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)
"""Chat template of the tokenizers trained here: LLaMA-2's ``<s>[INST] user [/INST] answer </s>`` with the
markers as single special ids and no separating spaces (each space would be one more token). It is saved
with the tokenizer and read back like any checkpoint's template (``imax.data.ChatTemplate``)."""


def train_tokenizer(
    corpus: Iterable[str],
    special_tokens: Sequence[str],
    vocab_size: int,
    padding_side: Literal["right", "left"] = "right",
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` and wrap it as a transformers tokenizer.

    Args:
        corpus: training text (instructions and responses); iterated once.
        special_tokens: extra single-id tokens, e.g. ``imax.tasks.TASK_TOKENS`` (this module must not
            import ``imax.tasks``: the caller passes them).
        vocab_size: target size including specials and the 256 byte symbols (smaller if the corpus
            runs out of merges).
        padding_side: the tokenizer's default padding side (imax's collators pad explicitly anyway).

    Ids 0..6 are ``<unk> <s> </s> <pad> <image> [INST] [/INST]``; ``special_tokens`` follow in order.
    """
    extra = [t for t in dict.fromkeys(special_tokens) if t not in BASE_SPECIALS]
    specials = [*BASE_SPECIALS, *extra]
    if vocab_size < len(specials) + 256:
        raise ValueError(f"vocab_size={vocab_size} is too small for {len(specials)} specials + 256 bytes")
    tok = Tokenizer(models.BPE())
    # Specials are registered before training so that the trainer's normaliser splits them out of the
    # corpus instead of learning merges like "calcul" + "ate]" from the task tokens.
    tok.add_special_tokens(specials)
    # Digits one by one (LLaMA's SentencePiece does the same, split_digits): every number is spelt with
    # the same ten tokens wherever it occurs, so they are frequent enough to be learnt, and "16" in a box
    # is "1" "6" as in any other number rather than a merge only some contexts produce.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=[IMAGE_TOKEN, INST_OPEN, INST_CLOSE, *extra],
        padding_side=padding_side,
        model_max_length=model_max_length,
    )
    wrapped.chat_template = TINY_CHAT_TEMPLATE
    check_tokenizer(wrapped, [*BASE_SPECIALS, *extra])
    return wrapped


def special_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    """The single id of a special token; raises if the tokenizer splits it or lacks it."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"special token {token!r} encodes as {len(ids)} ids {ids}, expected exactly one")
    return ids[0]


def check_tokenizer(
    tokenizer: PreTrainedTokenizerFast, special_tokens: Sequence[str] = (), image_token: str = IMAGE_TOKEN
) -> None:
    """Raise unless ``image_token`` (and each of ``special_tokens``) is one id and pad != eos.

    Any checkpoint's tokenizer passes with its own image token; the chat layout is its template's
    business (a Llama tokenizer's ``[INST]`` is several ordinary tokens, and that is fine)."""
    for token in (image_token, *special_tokens):
        special_id(tokenizer, token)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError("tokenizer needs a pad token distinct from eos (batched generation masks pads)")
