from __future__ import annotations

import pytest

from imax.data import (
    IGNORE_INDEX,
    ChatTemplate,
    Message,
    SequenceTooLongError,
    TemplateError,
    entry_to_messages,
    entry_to_prompt,
    prompt_ids,
    tokenize_messages,
)
from model.layouts import CHAT_TEMPLATES, layout_tokenizer

from .conftest import entry

N = 16

# (template, tokenizer family, the rendered prompt up to the answer, what follows the answer)
FAMILIES = {
    "llava15": ("llava15", "llama", "USER: <image>\n{q} ASSISTANT:", " {a} "),  # EOS appended by imax
    "llama2": ("llama2", "llama", "<s>[INST] <image>\n{q} [/INST]", " {a} </s>"),
    "chatml": ("chatml", "qwen2",
               "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n{q}"
               "<|im_end|>\n<|im_start|>assistant\n", "{a}<|im_end|>\n"),
    "mistral": ("mistral", "llama", "<s>[INST] <image>\n{q} [/INST]", "{a}</s>"),
    "chatml_structured": ("chatml_structured", "qwen2",
                          "<|im_start|>user\n<image>\n{q}<|im_end|>\n<|im_start|>assistant\n", "{a}<|im_end|>\n"),
    "mistral_structured": ("mistral_structured", "mistral", "[INST] <image>\n{q} [/INST]", " {a}</s>"),
}


@pytest.fixture(scope="module")
def toks():
    return {f: layout_tokenizer(f, ["What is the cardiothoracic ratio? The ratio is 0.52."]) for f in
            ("llama", "qwen2", "mistral")}


def template_for(name, toks):
    template, family, _, _ = FAMILIES[name]
    return ChatTemplate(toks[family], CHAT_TEMPLATES[template], "<image>", N)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_template_family_labels_exactly_the_answer_and_end_of_turn(name, toks):
    """Rendered as the checkpoint's template renders it; labels = the answer's tokens + EOS, nothing else."""
    t = template_for(name, toks)
    tok = t.tokenizer
    e = entry(0, response="The ratio is 0.52.")
    q, a = e["instruction"], e["response"]
    _, _, prompt, tail = FAMILIES[name]
    msgs = entry_to_messages(e)
    assert t.render(msgs[:1], generation=True) == prompt.format(q=q)
    full = t.render(msgs, generation=False)
    assert full == prompt.format(q=q) + tail.format(a=a)  # the template's own layout, spans joined
    ids, labels = tokenize_messages(msgs, t, max_length=0)
    assert ids.count(t.image_id) == N  # one <image> expanded to the processor's count
    trained = [(k, i) for k, i in enumerate(labels) if i != IGNORE_INDEX]
    positions = [k for k, _ in trained]
    assert positions == list(range(positions[0], positions[-1] + 1))  # one contiguous span
    assert all(ids[k] == i for k, i in trained)
    assert trained[-1][1] == tok.eos_token_id  # the end-of-turn the model must learn to emit
    assert tok.decode([i for _, i in trained[:-1]]).strip() == a  # exactly the answer (template spacing aside)
    # every token before the answer span is prompt; anything after the EOS (ChatML's newline) is not trained
    assert positions[0] == len(prompt_ids(entry_to_prompt(e), t))
    assert ids[: positions[0]] == prompt_ids(entry_to_prompt(e), t)
    # BOS exactly once: written by the template (llama2/mistral) or added by the tokenizer (llava, [INST])
    assert ids.count(tok.bos_token_id) == (tok.bos_token_id is not None)


def test_llava15_appends_eos_where_the_template_has_none(toks):
    t = template_for("llava15", toks)
    ids, labels = tokenize_messages(entry_to_messages(entry(0)), t, 0)
    assert "</s>" not in t.render(entry_to_messages(entry(0)), generation=False)
    assert ids[-1] == labels[-1] == t.tokenizer.eos_token_id


def test_layout_and_loss_mask_of_the_tiny_template(tokenizer):
    """imax's own tokenizer: LLaMA-2 markers as single ids, joined without spaces (TINY_CHAT_TEMPLATE)."""
    t = ChatTemplate(tokenizer, tokenizer.chat_template, "<image>", N)
    s = {k: tokenizer.convert_tokens_to_ids(k) for k in ("<s>", "</s>", "[INST]", "[/INST]", "<image>")}
    e = entry(0)
    ids, labels = tokenize_messages(entry_to_messages(e), t, max_length=200)
    assert ids[:2] == [s["<s>"], s["[INST]"]]
    assert ids[2 : 2 + N] == [s["<image>"]] * N and ids[2 + N] != s["<image>"]
    close = ids.index(s["[/INST]"])
    assert tokenizer.decode(ids[2 + N : close]) == "\n" + e["instruction"]
    assert labels[: close + 1] == [IGNORE_INDEX] * (close + 1)
    assert labels[close + 1 :] == ids[close + 1 :] and ids[-1] == s["</s>"]
    assert tokenizer.decode(labels[close + 1 : -1]) == e["response"]
    assert prompt_ids(entry_to_prompt(e), t) == ids[: close + 1]


def test_messages_carry_the_mask():
    user, assistant = entry_to_messages(entry(0))
    assert user == Message("user", "<image>\n[calculate] What is the cardiothoracic ratio?", masked=True)
    assert assistant == Message("assistant", "The cardiothoracic ratio is 0.52.", masked=False)
    assert entry_to_prompt(entry(0)) == [user]


@pytest.mark.parametrize("name", ["llava15", "chatml", "mistral"])
def test_mask_comes_from_the_flags_only(name, toks, tokenizer):
    """An answer that repeats template text ('ASSISTANT:', '[/INST]', '<|im_start|>') is still labelled from
    the flags; a masked earlier answer gets no loss; a multi-turn list keeps one span per message."""
    t = template_for(name, toks)
    trick = {"llava15": "ASSISTANT: yes", "chatml": "assistant\nyes", "mistral": "[/INST] yes"}[name]
    msgs = [Message("user", "<image>\nsay it twice", masked=True), Message("assistant", "ok", masked=True),
            Message("user", "again", masked=True), Message("assistant", trick, masked=False)]
    _ids, labels = tokenize_messages(msgs, t, 0)
    trained = [i for i in labels if i != IGNORE_INDEX]
    assert trained[-1] == t.tokenizer.eos_token_id
    assert t.tokenizer.decode(trained[:-1]).strip() == trick
    assert "".join(t.spans(msgs)) == t.render(msgs, generation=False)
    # an unmasked user message trains on its whole span (template markers included), never on image ids
    own = ChatTemplate(tokenizer, tokenizer.chat_template, "<image>", N)
    unmasked_user = tokenize_messages([Message("user", "<image>\nhi", masked=False)], own, 200)[1]
    assert tokenizer.decode([i for i in unmasked_user if i != IGNORE_INDEX]) == "<s>[INST]\nhi[/INST]"


def test_truncation_cuts_the_answer_never_the_image(tokenizer):
    t = ChatTemplate(tokenizer, tokenizer.chat_template, "<image>", N)
    e = entry(0, response="The heart is enlarged. Small left pleural effusion. No pneumothorax.")
    full, _ = tokenize_messages(entry_to_messages(e), t, 200)
    close = full.index(tokenizer.convert_tokens_to_ids("[/INST]"))
    ids, labels = tokenize_messages(entry_to_messages(e), t, max_length=close + 4)
    assert len(ids) == close + 4 and ids == full[: close + 4]
    assert tokenizer.eos_token_id not in ids  # a cut answer must not teach stopping
    assert labels[close + 1 :] == ids[close + 1 :]
    with pytest.raises(SequenceTooLongError, match="raise max_length"):
        tokenize_messages(entry_to_messages(e), t, max_length=close + 1)  # no answer token left
    with pytest.raises(SequenceTooLongError, match="without cutting the prompt"):
        tokenize_messages(entry_to_messages(e), t, max_length=N)


def test_prompt_ids_needs_a_final_user_message(tokenizer):
    t = ChatTemplate(tokenizer, tokenizer.chat_template, "<image>", N)
    with pytest.raises(ValueError, match="ending with a user message"):
        prompt_ids(entry_to_messages(entry(0)), t)


def test_unusable_templates_are_refused(tokenizer):
    with pytest.raises(TemplateError, match="no chat template"):
        ChatTemplate(tokenizer, "", "<image>", N)
    with pytest.raises(TemplateError, match="encodes as"):
        ChatTemplate(tokenizer, tokenizer.chat_template, "<img>", N)  # not one token
    # a template that renders the last message differently once another follows: no prefix spans
    moving = ("{% for m in messages %}{% if loop.last %}<<{{ m['content'] }}>>{% else %}{{ m['content'] }}"
              "{% endif %}{% endfor %}")
    t = ChatTemplate(tokenizer, moving, "<image>", N)
    with pytest.raises(TemplateError, match="extension"):
        t.encode(entry_to_messages(entry(0)))
    dropping = "{% for m in messages %}{{ m['content'] | replace('<image>', '') }}{{ eos_token }}{% endfor %}"
    with pytest.raises(TemplateError, match="image"):
        ChatTemplate(tokenizer, dropping, "<image>", N).encode(entry_to_messages(entry(0)))
