"""Loading a base: the dtype policy (checkpoint's own on a GPU, float32 on the CPU, or as asked), hub ids
resolved through the HF cache with ``from_pretrained`` semantics (no network: a temporary cache laid out
as huggingface_hub lays it out), and one-line errors for what cannot be loaded."""

from __future__ import annotations

import shutil

import pytest
import torch
from huggingface_hub import constants

from imax.model import (
    check_model_dir,
    checkpoint_dtype,
    load_base,
    locate_model,
    resolve_dtype,
    save_base,
)
from imax.schema.errors import ImaxError, MissingPathError

from .conftest import batch

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def bf16_base(model, tokenizer, tmp_path):
    return save_base(model.to(torch.bfloat16), tokenizer, tmp_path / "bf16")


def test_bf16_checkpoint_loads_fp32_on_cpu_and_bf16_when_asked(bf16_base):
    assert checkpoint_dtype(bf16_base) == torch.bfloat16
    default, _ = load_base(bf16_base)  # auto on the CPU
    assert {p.dtype for p in default.parameters()} == {torch.float32}
    asked, _ = load_base(bf16_base, dtype="bfloat16")
    assert {p.dtype for p in asked.parameters()} == {torch.bfloat16}
    # The fp32 load holds exactly the bf16 values (an upcast, not a re-initialisation).
    for (name, a), (_, b) in zip(default.named_parameters(), asked.named_parameters(), strict=True):
        assert torch.equal(a, b.float()), name


def test_auto_dtype_is_the_checkpoints_own_on_a_gpu(bf16_base, model, tokenizer, tmp_path):
    assert resolve_dtype("auto", bf16_base, device="cuda") == torch.bfloat16
    assert resolve_dtype("auto", bf16_base, device="cpu") == torch.float32
    fp32 = save_base(model.float(), tokenizer, tmp_path / "fp32")
    assert resolve_dtype("auto", fp32, device="cuda") == torch.float32
    assert resolve_dtype("float16", fp32, device="cpu") == torch.float16
    with pytest.raises(ValueError, match="float8"):
        resolve_dtype("float8", fp32)


def _hub_cache(root, repo_id, source):
    """``root`` laid out as huggingface_hub's cache holding ``source`` as ``repo_id`` at main."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(source, repo / "snapshots" / COMMIT)
    return repo / "snapshots" / COMMIT


def test_hub_id_resolves_from_the_cache_offline(model, tokenizer, tmp_path, monkeypatch):
    saved = save_base(model, tokenizer, tmp_path / "saved")
    snapshot = _hub_cache(tmp_path / "hub", "tiny-org/tiny-llava", saved)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert locate_model("tiny-org/tiny-llava").resolve() == snapshot.resolve()
    assert locate_model(f"tiny-org/tiny-llava@{COMMIT}").resolve() == snapshot.resolve()
    loaded, tok = load_base("tiny-org/tiny-llava")
    b = batch(tokenizer, 4)
    with torch.no_grad():
        assert torch.equal(model(**b).logits, loaded.eval()(**b).logits)
    assert tok.get_vocab() == tokenizer.get_vocab()
    with pytest.raises(MissingPathError, match=r"'tiny-org/not-there'.*HF_HUB_OFFLINE is set") as exc:
        load_base("tiny-org/not-there")
    assert "\n" not in str(exc.value)


def test_uncached_hub_id_with_the_hub_unreachable_is_one_line(tmp_path, monkeypatch):
    # Online mode, but the endpoint is a closed local port: no request leaves the machine.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    with pytest.raises(MissingPathError, match=r"'tiny-org/nowhere'.*could not be reached") as exc:
        locate_model("tiny-org/nowhere")
    assert "\n" not in str(exc.value)


def test_not_a_path_nor_a_hub_id(tmp_path):
    with pytest.raises(MissingPathError, match=r"does not exist \(and is not a hub id"):
        locate_model(tmp_path / "a" / "b" / "c")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(MissingPathError, match="is a file"):
        locate_model(tmp_path / "f.txt")


def test_damaged_files_are_named(model, tokenizer, tmp_path):
    base = save_base(model, tokenizer, tmp_path / "base")
    weights = (base / "model.safetensors").read_bytes()
    (base / "model.safetensors").write_bytes(weights[:-100])
    with pytest.raises(ImaxError, match=r"model\.safetensors: truncated or corrupt safetensors"):
        check_model_dir(base)
    (base / "model.safetensors").write_bytes(b"")
    with pytest.raises(ImaxError, match=r"model\.safetensors: truncated"):
        load_base(base)
    (base / "model.safetensors").write_bytes(weights)
    text = (base / "tokenizer.json").read_text()
    (base / "tokenizer.json").write_text(text[: len(text) // 3])
    with pytest.raises(ImaxError, match=r"tokenizer\.json: cannot load the tokenizer"):
        load_base(base)
    (base / "tokenizer.json").write_text(text)
    (base / "config.json").write_text("{not json")
    with pytest.raises(ImaxError, match=r"config\.json: not readable JSON"):
        load_base(base)
