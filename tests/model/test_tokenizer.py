from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from imax.model import BASE_SPECIALS, special_id, train_tokenizer

from .conftest import CORPUS, TASK_TOKENS


def test_specials_are_single_ids_in_fixed_order(tokenizer):
    ids = [special_id(tokenizer, t) for t in (*BASE_SPECIALS, *TASK_TOKENS)]
    assert ids == list(range(len(BASE_SPECIALS) + len(TASK_TOKENS)))
    assert (
        tokenizer.unk_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    ) == (
        0,
        1,
        2,
        3,
    )
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_specials_stay_single_ids_inside_text(tokenizer):
    ids = tokenizer.encode("<image>\n[refer] Locate[/INST]the heart</s>", add_special_tokens=False)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "<image>" and "[refer]" in tokens and "[/INST]" in tokens and tokens[-1] == "</s>"
    assert not any("refer]" in t and t != "[refer]" for t in tokens)


def test_lossless_round_trip(tokenizer):
    text = "Ratio 0.47; box {<3><97><50><100>} — ünïcode\n\ttabs"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_deterministic_and_save_load(tokenizer, tmp_path):
    again = train_tokenizer(CORPUS, TASK_TOKENS, vocab_size=320)
    assert again.get_vocab() == tokenizer.get_vocab()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "[calculate] What is the ratio?<image>"
    assert loaded.encode(text, add_special_tokens=False) == tokenizer.encode(text, add_special_tokens=False)
    assert loaded.pad_token == "<pad>" and loaded.eos_token == "</s>"


def test_padding_side_and_too_small_vocab():
    assert train_tokenizer(CORPUS[:5], (), 300, padding_side="left").padding_side == "left"
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(CORPUS, TASK_TOKENS, vocab_size=100)
