from __future__ import annotations

import pytest
import torch
from transformers import LlavaForConditionalGeneration

from imax.model import build_model, load_base, num_image_tokens, save_base
from imax.schema.errors import MissingPathError

from .conftest import batch, tiny_config


def test_config_wires_tokenizer_ids(model, tokenizer):
    assert isinstance(model, LlavaForConditionalGeneration)
    assert model.config.image_token_index == tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.text_config.pad_token_id == tokenizer.pad_token_id
    assert model.config.text_config.vocab_size == len(tokenizer)
    assert model.config.vision_config.num_channels == 1
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_seeded_build_is_reproducible(tokenizer):
    a = build_model(tiny_config(), tokenizer).state_dict()
    b = build_model(tiny_config(), tokenizer).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_num_image_tokens_default_and_full(tokenizer):
    assert num_image_tokens(build_model(tiny_config("default"), tokenizer)) == 4
    full = build_model(tiny_config("full"), tokenizer).eval()
    assert num_image_tokens(full) == 5
    with torch.no_grad():
        out = full(**batch(tokenizer, 5))
    assert torch.isfinite(out.loss)


def test_forward_backward_finite(model, tokenizer):
    model.train()
    out = model(**batch(tokenizer, num_image_tokens(model)))
    assert out.logits.shape[:2] == (
        2,
        4 + 1 + len(tokenizer.encode("[calculate] What is the ratio? 0.52")) + 1,
    )
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:  # only the vision tower's post_layernorm, which LLaVA never reads
            assert "post_layernorm" in name and p.grad is None, name


@pytest.mark.parametrize("n_ids", [3, 5])
def test_image_token_count_mismatch_raises(model, tokenizer, n_ids):
    with pytest.raises(Exception, match="Image features and image tokens do not match"), torch.no_grad():
        model(**batch(tokenizer, 4, n_ids=n_ids))


def test_save_load_round_trip_identical_logits(model, tokenizer, tmp_path):
    save_base(model, tokenizer, tmp_path / "base")
    assert (tmp_path / "base" / "model.safetensors").is_file()
    loaded, tok = load_base(tmp_path / "base")
    assert tok.get_vocab() == tokenizer.get_vocab()
    b = batch(tokenizer, 4)
    with torch.no_grad():
        assert torch.equal(model(**b).logits, loaded.eval()(**b).logits)


def test_missing_base_path_message(tmp_path):
    with pytest.raises(MissingPathError, match=r"model directory .*nope.* does not exist"):
        load_base(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingPathError, match=r"has no config\.json"):
        load_base(tmp_path / "empty")
