"""``general_text``: the language stage's general English — the base learns digits, punctuation and brackets
as any LLM has, while no passage carries a task's answer or prompt format (the pretraining audit)."""

from __future__ import annotations

import re

from imax.train.general_text import general_text
from imax.train.pretrain import audit_texts
from imax.train.pretrain import is_clean as _clean


def test_passages_pass_the_audit_and_teach_the_alphabet_tasks_answer_in():
    passages = general_text(50_000, _clean)
    assert 40_000 <= sum(map(len, passages)) <= 60_000
    assert all(20 <= len(p) <= 400 for p in passages)
    audit = audit_texts(passages)
    assert audit["task_tokens"] == audit["task_instructions"] == audit["answer_formats"] == 0
    text = " ".join(passages)
    for ch in "0123456789,.<>{}[]:":  # every character the tasks' answers are written with
        assert ch in text, ch
    assert not re.search(r"\d\.\d", text)  # no decimal number: the calculation answer format
    # half code: brackets and digits at a frequency that trains their head rows (prose alone has few)
    assert "def " in text and "return" in text
    for ch in "<{}0":
        assert text.count(ch) >= len(text) // 4000, ch
    assert general_text(50_000, _clean) == passages  # deterministic


def test_a_smaller_budget_still_spans_the_reference_and_zero_is_none():
    small, large = general_text(5_000, _clean), general_text(100_000, _clean)
    assert 0 < len(small) < len(large)
    assert set(small) <= set(general_text(10**9, _clean))
    first, last = large.index(small[0]), large.index(small[-1]) if small[-1] in large else len(large)
    assert last - first > len(large) // 2  # thinned evenly, not the first few topics
    assert general_text(0, _clean) == []


def test_a_rejecting_filter_drops_passages():
    assert general_text(20_000, lambda p: "class" not in p) and all(
        "class" not in p for p in general_text(20_000, lambda p: "class" not in p))
