"""General-language text for the base's language stage: what a pretrained LLM knows beyond radiology.

The study's language model is a general chat LLM: it has read digits, punctuation, brackets, lists and
prose long before it sees a chest X-ray. A language model pretrained only on the phantom's descriptions
has never produced a digit, a comma-separated list or a bracket: the output rows of those tokens are
pushed down by every step and stay untrained, so a LoRA fine-tune (embeddings and head frozen, as in the
study) starts from a model that cannot write the tasks' answers at all (measured: first fine-tune loss
8.5 nats on a 1,053-token vocabulary, above the uniform 7.0). That would measure our stand-in's missing
alphabet, not the data organisation.

The text here is the Python language reference's prose (``pydoc_data.topics``, shipped with CPython, so
nothing is downloaded): English with integers, punctuation, braces and angle brackets, and nothing about
medicine. Every paragraph that hits :func:`imax.train.pretrain.audit_texts`-style patterns (a decimal
number, a question, a ``{<`` box, a ``k: name`` grade, a section header) is dropped, so the base still
never sees a task's answer or prompt format.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imax.schema.errors import ImaxError

SOURCE = "pydoc_data.topics (the Python language reference's prose, shipped with CPython)"


def _paragraphs() -> list[str]:
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # a stripped Python build without pydoc_data
        raise ImaxError("general text for the language stage: this Python has no pydoc_data.topics "
                        "(set PretrainConfig.general_text_chars=0 to train on descriptions only)") from exc
    out: list[str] = []
    for key in sorted(topics):  # sorted: the same corpus in every run
        for para in re.split(r"\n\s*\n", topics[key]):
            text = " ".join(para.split())
            if len(text) >= 40 and not re.fullmatch(r"[*=\-~^ ]+", text):
                out.append(text)
    return out


def _pieces(sentence: str, max_chars: int) -> list[str]:
    """``sentence`` cut at spaces (or hard, for a space-less run) into pieces of at most ``max_chars``."""
    out = []
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars + 1)
        cut = cut if cut > 0 else max_chars
        out.append(sentence[:cut])
        sentence = sentence[cut:].lstrip()
    return [*out, sentence] if sentence else out


def _chunks(text: str, max_chars: int) -> list[str]:
    """``text`` packed sentence by sentence into passages of at most ``max_chars`` characters."""
    passages, current = [], ""
    for sentence in re.split(r"(?<=[.;:])\s+", text):
        for piece in _pieces(sentence, max_chars):
            if current and len(current) + 1 + len(piece) > max_chars:
                passages.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
    if current:
        passages.append(current)
    return [p for p in passages if len(p) >= 20]


def general_text(total_chars: int, is_clean: Callable[[str], bool], max_chars: int = 400) -> list[str]:
    """Deterministic general-language passages of at most ``max_chars`` characters each, about
    ``total_chars`` characters in all (every passage ``is_clean`` accepts, taken evenly across the
    reference, so a smaller budget still spans its topics). 0 → []."""
    if total_chars <= 0:
        return []
    passages = [c for p in _paragraphs() for c in _chunks(p, max_chars) if is_clean(c)]
    available = sum(len(p) for p in passages)
    if available <= total_chars:
        return passages
    stride = available / total_chars
    out, taken, acc = [], 0, 0.0
    for p in passages:  # keep every k-th character's passage: an even thinning, no RNG needed
        acc += len(p)
        if acc >= stride * taken:
            out.append(p)
            taken += len(p)
    return out
