"""BLEU / ROUGE-L / CIDEr on short strings with hand-computed values; METEOR availability."""

from __future__ import annotations

import math
import shutil

import pytest

from imax.evaluate import nlg


def test_tokenize():
    assert nlg.tokenize("No pleural effusion. Heart size, NORMAL!") == "no pleural effusion heart size normal"


def test_bleu_hand_computed():
    # hyp "the cat sat on the mat" vs ref "the cat is on the mat" (6 tokens each → brevity penalty 1)
    # 1-grams: the×2, cat, on, mat match; sat not → 5/6
    # 2-grams: the cat, on the, the mat of 5 → 3/5
    # 3-grams: on the mat of 4 → 1/4;  4-grams: none of 3 → 0
    # BLEU-1 = 5/6; BLEU-2 = sqrt(5/6·3/5) = sqrt(1/2); BLEU-3 = (5/6·3/5·1/4)^(1/3) = 1/2; BLEU-4 ≈ 0
    b = nlg.bleu(["The cat sat on the mat."], ["the cat is on the mat"])
    assert b["bleu_1"] == pytest.approx(5 / 6, abs=1e-6)
    assert b["bleu_2"] == pytest.approx(math.sqrt(0.5), abs=1e-6)
    assert b["bleu_3"] == pytest.approx(0.5, abs=1e-6)
    assert b["bleu_4"] < 1e-3


def test_bleu_brevity_penalty():
    # hyp "the cat" (c=2) vs ref "the cat sat down" (r=4): precision 1, BP = exp(1 − 4/2) = e^-1
    assert nlg.bleu(["the cat"], ["the cat sat down"])["bleu_1"] == pytest.approx(math.exp(-1), abs=1e-6)


def test_rouge_l_hand_computed():
    # LCS("the cat sat on the mat", "the cat is on the mat") = "the cat on the mat" = 5; P = R = 5/6 → F = 5/6
    assert nlg.rouge_l_sample("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # LCS = 2, P = 2/2, R = 2/4; F = (1 + 1.44)·1·0.5 / (0.5 + 1.44·1) = 1.22 / 1.94
    assert nlg.rouge_l_sample("the cat", "the cat sat down") == pytest.approx(1.22 / 1.94)
    assert nlg.rouge_l_sample("", "the cat") == 0.0
    assert nlg.rouge_l(["a b", "x"], ["a b", "y"]) == pytest.approx(0.5)


def test_empty_hypothesis_scores_zero():
    assert nlg.bleu([""], ["the heart is normal"])["bleu_1"] == pytest.approx(0.0, abs=1e-6)
    assert nlg.cider(["", "the heart"], ["the heart is normal", "the lungs are clear"]) >= 0.0


def test_cider_identical_beats_different():
    refs = ["the heart is enlarged", "no pleural effusion", "the lungs are clear"]
    assert nlg.cider(refs, refs) > nlg.cider(
        ["the lungs are clear", "the heart is enlarged", "no pleural effusion"], refs
    )


def test_meteor_unavailable_without_java():
    server, reason = nlg.start_meteor(java="/nonexistent/java-binary")
    assert server is None and "not found" in reason


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="java not installed")
def test_meteor_runs_with_java():
    server, reason = nlg.start_meteor()
    assert server is not None, reason
    with server:
        same = server.score(["the heart is enlarged"], ["the heart is enlarged"])
        other = server.score(["no pneumothorax"], ["the heart is enlarged"])
    assert same > 0.9 and other < same
