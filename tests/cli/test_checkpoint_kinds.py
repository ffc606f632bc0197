"""Every checkpoint imax writes — LoRA and full fine-tune — evaluates, exports, feeds Fisher and
pseudo-labels, through the same commands a user types."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from safetensors import safe_open
from transformers import AutoTokenizer, LlavaForConditionalGeneration

from imax.cli import main
from imax.model import checkpoint_kind, load_checkpoint

from .conftest import tiny_train

KINDS = ("lora", "full")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _final(runs, kind):
    return getattr(runs, kind) / "checkpoints" / "final"


def _predictions(path):
    return [json.loads(line) for line in (path / "predictions.jsonl").read_text().splitlines()]


def test_each_kind_is_recognised(runs):
    assert checkpoint_kind(_final(runs, "lora")) == "lora"
    assert checkpoint_kind(_final(runs, "full")) == "full"
    assert checkpoint_kind(runs.base) == "model"
    assert (_final(runs, "full") / "trainable.safetensors").is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_and_export_reproduce_the_checkpoint(runs, kind, tmp_path, capsys):
    final = _final(runs, kind)
    common = ["--data", str(runs.data), "--split", "val", "--bootstrap", "0", "--no-meteor", "--batch-size", "4"]
    assert main(["evaluate", "--model", str(final), "--out", str(tmp_path / "eval"), *common]) == 0
    preds = _predictions(tmp_path / "eval")
    assert len(preds) == 8  # 2 val images x 4 tasks

    assert main(["export", "--checkpoint", str(final), "--out", str(tmp_path / "export")]) == 0
    capsys.readouterr()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "config.yaml", "tasks.json"):
        assert (tmp_path / "export" / name).is_file(), name
    # Plain transformers on the export gives the checkpoint's logits ...
    plain = LlavaForConditionalGeneration.from_pretrained(tmp_path / "export").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "export")
    ours, _ = load_checkpoint(final)
    image_id = plain.config.image_token_index
    n_image = (plain.config.vision_config.image_size // plain.config.vision_config.patch_size) ** 2
    ids = torch.tensor([[tok.bos_token_id, *[image_id] * n_image, *tok.encode("heart", add_special_tokens=False)]])
    pixels = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = plain(input_ids=ids, pixel_values=pixels).logits
        b = ours(input_ids=ids, pixel_values=pixels).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # ... and imax evaluates the export to the same answers.
    assert main(["evaluate", "--model", str(tmp_path / "export"), "--out", str(tmp_path / "eval2"), *common]) == 0
    assert [p["output"] for p in _predictions(tmp_path / "eval2")] == [p["output"] for p in preds]


@pytest.mark.parametrize("kind", KINDS)
def test_fisher_takes_each_kind(runs, kind, tmp_path, capsys):
    out = tmp_path / "fisher.json"
    assert main(["fisher", "--run", str(getattr(runs, kind)), "--data", str(runs.data), "--n-probe", "4",
                 "--checkpoints", "initial,late", "--batch-size", "4", "--no-plot", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["checkpoint"] for r in records] == ["initial", "late"]
    with safe_open(str(_final(runs, kind) / "trainable.safetensors"), framework="pt") as f:
        trained = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 - safe_open is not iterable
    assert records[-1]["n_params"] == trained  # the Fisher is over exactly what trained
    assert records[-1]["trace"] > 0 and records[0]["step"] == 0 and records[-1]["step"] == 4


@pytest.mark.parametrize("kind", KINDS)
def test_pseudo_labels_with_each_kind(runs, kind, tmp_path):
    from imax.pseudo import run_pseudo
    from imax.schema.config.pseudo import PseudoConfig

    train_cfg = tiny_train(runs.data, tmp_path / "unused", finetune=kind, max_steps=2, fisher_fractions=())
    cfg = PseudoConfig(data=runs.data, out=tmp_path / "pseudo", train=train_cfg, stage1=getattr(runs, kind),
                       max_images=2, vqa_questions=1, batch_size=4, stage3_init="stage1")
    result = run_pseudo(cfg)
    assert result.generated == sum(1 for _ in (tmp_path / "pseudo" / "pseudo_labels.jsonl").open()) > 0
    final = result.stage3 / "checkpoints" / "final"
    assert checkpoint_kind(final) == kind
    # stage 3 started from stage 1 on stage 1's base
    assert json.loads((result.stage3 / "base.json").read_text())["path"] == str(runs.base.resolve())


def test_init_from_refuses_the_other_kind(runs, tmp_path):
    from imax.schema.errors import ImaxError
    from imax.train import train

    cfg = tiny_train(runs.data, tmp_path / "x", base=runs.base, init_from=_final(runs, "full"), max_steps=1)
    with pytest.raises(ImaxError, match="is a full fine-tune checkpoint; a --finetune lora run starts from a LoRA"):
        train(cfg)
    cfg = dataclasses.replace(cfg, out=tmp_path / "y", init_from=runs.base)
    with pytest.raises(ImaxError, match="is a model directory"):
        train(cfg)


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_in_bf16(runs, kind, tmp_path, capsys):
    """--dtype bfloat16 reaches generation (the lean decode loop and the vision cache run in bf16)."""
    assert main(["evaluate", "--model", str(_final(runs, kind)), "--data", str(runs.data), "--split", "val",
                 "--bootstrap", "0", "--no-meteor", "--batch-size", "4", "--dtype", "bfloat16",
                 "--out", str(tmp_path / "eval")]) == 0
    capsys.readouterr()
    assert len(_predictions(tmp_path / "eval")) == 8
    meta = json.loads((tmp_path / "eval" / "metrics.json").read_text())["meta"]
    assert meta["config"]["dtype"] == "bfloat16"
