from __future__ import annotations

import json

import torch
from transformers import LlavaForConditionalGeneration

from imax.cli import main
from imax.model import apply_lora, merge_and_save, save_base
from imax.schema.config.model import LoraSettings

from .conftest import batch


def trained_peft(model):
    """A LoRA model whose adapters and projector copy are not at their identity init."""
    peft = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _name, p in peft.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return peft.eval()


def test_merged_export_loads_in_plain_transformers(model, tokenizer, tmp_path):
    b = batch(tokenizer, 4)
    with torch.no_grad():
        base_logits = model(**b).logits.clone()
    peft = trained_peft(model)
    with torch.no_grad():
        want = peft(**b).logits
    assert not torch.allclose(want, base_logits, atol=1e-3)  # the adapter really changes the output
    merge_and_save(peft, tokenizer, tmp_path / "merged")
    plain = LlavaForConditionalGeneration.from_pretrained(tmp_path / "merged", local_files_only=True).eval()
    assert not any("lora" in n or "modules_to_save" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(plain(**b).logits, want, atol=1e-5, rtol=0)
        torch.testing.assert_close(peft(**b).logits, want, atol=0, rtol=0)  # not merged in place


def test_export_cli(model, tokenizer, tmp_path):
    save_base(model, tokenizer, tmp_path / "base")
    peft = trained_peft(model)
    ckpt = tmp_path / "ckpt"
    peft.save_pretrained(ckpt / "adapter")
    (ckpt / "base.json").write_text(json.dumps({"path": str(tmp_path / "base")}))
    (ckpt / "tasks.json").write_text("{}")
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "tasks.json").is_file()
    plain = LlavaForConditionalGeneration.from_pretrained(tmp_path / "out", local_files_only=True).eval()
    b = batch(tokenizer, 4)
    with torch.no_grad():
        torch.testing.assert_close(plain(**b).logits, peft(**b).logits, atol=1e-5, rtol=0)


def test_export_cli_missing_adapter_is_one_line_error(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a checkpoint" in err and "adapter/adapter_config.json" in err and "Traceback" not in err
