from __future__ import annotations

import pytest

from imax.data import (
    IGNORE_INDEX,
    Message,
    SequenceTooLongError,
    entry_to_messages,
    entry_to_prompt,
    prompt_ids,
    tokenize_messages,
)

from .conftest import entry

N = 16


def specials(tok):
    return {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "[INST]", "[/INST]", "<image>")}


def test_messages_carry_the_mask():
    user, assistant = entry_to_messages(entry(0))
    assert user == Message("user", "<image>\n[calculate] What is the cardiothoracic ratio?", masked=True)
    assert assistant == Message("assistant", "The cardiothoracic ratio is 0.52.", masked=False)
    assert entry_to_prompt(entry(0)) == [user]


def test_layout_and_loss_mask(tokenizer):
    e = entry(0)
    ids, labels = tokenize_messages(entry_to_messages(e), tokenizer, N, max_length=200)
    s = specials(tokenizer)
    assert len(ids) == len(labels)
    assert ids[:2] == [s["<s>"], s["[INST]"]]
    assert ids[2 : 2 + N] == [s["<image>"]] * N and ids[2 + N] != s["<image>"]
    assert ids.count(s["<image>"]) == N
    close = ids.index(s["[/INST]"])
    assert tokenizer.decode(ids[2 + N : close]) == "\n" + e["instruction"]
    # -100 exactly on the prompt (everything up to and including [/INST]), ids on response + eos.
    assert labels[: close + 1] == [IGNORE_INDEX] * (close + 1)
    assert labels[close + 1 :] == ids[close + 1 :]
    assert ids[-1] == s["</s>"]
    assert tokenizer.decode(labels[close + 1 : -1]) == e["response"]
    assert prompt_ids(entry_to_prompt(e), tokenizer, N) == ids[: close + 1]


def test_mask_comes_from_the_flags_only(tokenizer):
    msgs = [
        Message("user", "<image>\nsay [/INST] twice", masked=True),
        Message("assistant", "ok", masked=True),
    ]
    _ids, labels = tokenize_messages(
        [*msgs, Message("assistant", "[/INST] yes", masked=False)], tokenizer, N, 200
    )
    trained = [i for i in labels if i != IGNORE_INDEX]
    assert tokenizer.decode(trained[:-1]) == "[/INST] yes" and trained[-1] == tokenizer.eos_token_id
    unmasked_user = tokenize_messages([Message("user", "<image>\nhi", masked=False)], tokenizer, N, 200)[1]
    assert tokenizer.decode([i for i in unmasked_user if i != IGNORE_INDEX]) == "\nhi"  # never <image>/[INST]


def test_truncation_cuts_the_answer_never_the_image(tokenizer):
    e = entry(0, response="The heart is enlarged. Small left pleural effusion. No pneumothorax.")
    full, _ = tokenize_messages(entry_to_messages(e), tokenizer, N, 200)
    close = full.index(tokenizer.convert_tokens_to_ids("[/INST]"))
    ids, labels = tokenize_messages(entry_to_messages(e), tokenizer, N, max_length=close + 4)
    assert len(ids) == close + 4 and ids == full[: close + 4]
    assert tokenizer.eos_token_id not in ids  # a cut answer must not teach stopping
    assert labels[close + 1 :] == ids[close + 1 :]
    with pytest.raises(SequenceTooLongError, match="raise max_length"):
        tokenize_messages(entry_to_messages(e), tokenizer, N, max_length=close + 1)  # no answer token left
    with pytest.raises(SequenceTooLongError, match="without cutting the prompt"):
        tokenize_messages(entry_to_messages(e), tokenizer, N, max_length=N)


def test_prompt_ids_needs_a_final_user_message(tokenizer):
    with pytest.raises(ValueError, match="ending with a user message"):
        prompt_ids(entry_to_messages(entry(0)), tokenizer, N)
