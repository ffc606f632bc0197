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


def test_tiny_base_carries_its_processor_and_template(model, tokenizer, tmp_path):
    """The tiny base is saved like a published checkpoint: plain AutoProcessor loads it, and imax reads
    it back through the same path as any checkpoint (no special case)."""
    from transformers import AutoProcessor

    from imax.data import ModelInterface, entry_to_messages
    from imax.model import TINY_CHAT_TEMPLATE, load_processor

    save_base(model, tokenizer, tmp_path / "base")
    plain = AutoProcessor.from_pretrained(tmp_path / "base", local_files_only=True)
    assert plain.chat_template == TINY_CHAT_TEMPLATE
    interface = ModelInterface.from_processor(load_processor(tmp_path / "base", model), num_image_tokens(model))
    assert interface.num_image_tokens == num_image_tokens(model) == 4
    assert (interface.image.size, interface.image.channels) == (32, 1)
    assert interface.image.mean == interface.image.std == (0.5,)
    e = {"instruction": "[calculate] What is the ratio?", "response": "0.52"}
    ids = interface.template.encode(entry_to_messages(e)).ids
    assert tokenizer.decode(ids) == "<s>[INST]" + "<image>" * 4 + "\n[calculate] What is the ratio?[/INST]0.52</s>"


def test_processor_missing_or_mismatched_is_a_clear_error(model, tokenizer, tmp_path):
    from imax.model import load_processor, make_processor
    from imax.schema.errors import ImaxError

    model.save_pretrained(tmp_path / "bare")
    with pytest.raises(MissingPathError, match=r"has no processor_config\.json"):
        load_processor(tmp_path / "bare")
    proc = make_processor(model, tokenizer)
    proc.patch_size = 8  # 16 image tokens where the model takes 4
    proc.save_pretrained(tmp_path / "wrong")
    with pytest.raises(ImaxError, match="expands an image to 16 tokens, the model takes 4"):
        load_processor(tmp_path / "wrong", model)


def test_image_token_count_follows_the_tower():
    """CLIP has a CLS token ("default" drops it), SigLIP has none: llava-1.5's 576, a SigLIP "full" 729."""
    from types import SimpleNamespace

    from transformers import CLIPVisionConfig, SiglipVisionConfig

    def llava(vision, strategy):
        return SimpleNamespace(config=SimpleNamespace(vision_config=vision, vision_feature_select_strategy=strategy))

    assert num_image_tokens(llava(CLIPVisionConfig(image_size=336, patch_size=14), "default")) == 576
    assert num_image_tokens(llava(CLIPVisionConfig(image_size=336, patch_size=14), "full")) == 577
    assert num_image_tokens(llava(SiglipVisionConfig(image_size=384, patch_size=14), "full")) == 729


def test_interface_of_an_older_processor_without_patch_size(model, tokenizer):
    """Older llava-hf processor configs carry no patch_size: the model's count stands in."""
    from imax.data import ModelInterface
    from imax.model import make_processor
    from imax.schema.errors import ImaxError

    proc = make_processor(model, tokenizer)
    proc.patch_size = None
    assert ModelInterface.from_processor(proc, num_image_tokens(model)).num_image_tokens == 4
    with pytest.raises(ImaxError, match="no patch_size"):
        ModelInterface.from_processor(proc)
