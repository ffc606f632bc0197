"""General-language text for the base's language stage: what a pretrained LLM knows beyond radiology.

The study's language model is a general chat LLM: it has read digits, punctuation, brackets, lists and
prose long before it sees a chest X-ray. A language model pretrained only on the phantom's descriptions
has never produced a digit, a comma-separated list or a bracket: the output rows of those tokens are
pushed down by every step and stay untrained, so a LoRA fine-tune (embeddings and head frozen, as in the
study) starts from a model that cannot write the tasks' answers at all (measured: first fine-tune loss
8.5 nats on a 1,053-token vocabulary, above the uniform 7.0). That would measure our stand-in's missing
alphabet, not the data organisation.

The text here comes with CPython, so nothing is downloaded, and says nothing about medicine: half is the
Python language reference's prose (``pydoc_data.topics``: English with integers and punctuation), half is
the standard library's top-level source files (code: digits, commas, brackets, braces and angle brackets at
the frequency an LLM's code data has them). Prose alone was not enough: its rare brackets and digits kept
head rows that differ from each other only by their random init, and with the head frozen (LoRA) the
fine-tune could not give ``<`` after ``{`` more than 8 % after 1,200 steps (measured on the quick base). Every paragraph that hits :func:`imax.train.pretrain.audit_texts`-style patterns (a decimal
number, a question, a ``{<`` box, a ``k: name`` grade, a section header) is dropped, so the base still
never sees a task's answer or prompt format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from imax.schema.errors import ImaxError

SOURCE = ("pydoc_data.topics (the Python language reference's prose) and the standard library's top-level "
          "source files, both shipped with CPython")


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


def _code_blocks() -> list[str]:
    """The standard library's top-level modules, split at blank lines, whitespace runs collapsed."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))  # sorted: the same corpus in every run
    if not files:
        raise ImaxError(f"general text for the language stage: no standard-library sources in {root} "
                        "(set PretrainConfig.general_text_chars=0 to train on descriptions only)")
    out: list[str] = []
    for path in files:
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            text = " ".join(block.split())
            if len(text) >= 40:
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


def _thinned(passages: list[str], total_chars: int) -> list[str]:
    """About ``total_chars`` characters of ``passages``, taken evenly across them (a smaller budget still
    spans every topic or module), in order; all of them when they hold fewer."""
    available = sum(len(p) for p in passages)
    if available <= total_chars:
        return passages
    stride = available / total_chars
    out, taken, seen = [], 0, 0
    for p in passages:  # keep a passage while the kept share lags behind the seen share: no RNG needed
        seen += len(p)
        if taken * stride <= seen:
            out.append(p)
            taken += len(p)
    return out


def general_text(total_chars: int, is_clean: Callable[[str], bool], max_chars: int = 400) -> list[str]:
    """Deterministic general-language passages of at most ``max_chars`` characters each, about
    ``total_chars`` characters in all, half prose and half code (every passage ``is_clean`` accepts). 0 → []."""
    if total_chars <= 0:
        return []
    out: list[str] = []
    for source in (_paragraphs, _code_blocks):
        passages = [c for p in source() for c in _chunks(p, max_chars) if is_clean(c)]
        out += _thinned(passages, total_chars // 2)
    return out
