"""The lean greedy loop (imax.evaluate.decode) yields exactly the tokens of transformers ``generate``."""

from __future__ import annotations

import copy

import pytest
import torch

from imax.data.collate import pad_batch
from imax.evaluate import decode, decode_step
from imax.evaluate.decode import PreallocLayer, fast_path_supported, lean_greedy
from imax.evaluate.generate import greedy_generate, hf_greedy_generate
from imax.model import num_image_tokens

TEXTS = [
    "[calculate] What is the ratio?",
    "[caption] Write the findings.",
    "[refer] Locate the heart.",
    "[caption] Write the findings of this chest X-ray please, in detail.",
    "[refer] heart",
    "[calculate] What is the cardiothoracic ratio of this image?",
]


def _prompts(tokenizer, model) -> list[list[int]]:
    image = tokenizer.convert_tokens_to_ids("<image>")
    n_image = num_image_tokens(model)
    return [
        [tokenizer.bos_token_id, *([image] * n_image), *tokenizer.encode(t, add_special_tokens=False)]
        for t in TEXTS
    ]


def _pixels(n: int) -> torch.Tensor:
    return torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(0))


def _left(prompts: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_batch(prompts, pad, "left"), pad_batch([[1] * len(p) for p in prompts], 0, "left")


def _hf_alone(model, prompts, pixels, max_new_tokens, pad, eos) -> list[list[int]]:
    """The reference: plain ``model.generate`` on one prompt at a time (no padding at all)."""
    return [
        hf_greedy_generate(
            model,
            torch.tensor([p]),
            torch.ones(1, len(p), dtype=torch.long),
            pixels[i : i + 1],
            max_new_tokens,
            pad,
            eos,
        )[0]
        for i, p in enumerate(prompts)
    ]


def test_lean_equals_generate_without_eos(tokenizer, tiny_model):
    prompts = _prompts(tokenizer, tiny_model)
    assert len({len(p) for p in prompts}) > 2  # several lengths: left padding really happens
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    lean = lean_greedy(tiny_model, ids, mask, pixels, 14, set())
    assert all(len(r) == 14 for r in lean)
    assert lean == _hf_alone(tiny_model, prompts, pixels, 14, tokenizer.pad_token_id, -1)
    # Batched generate agrees too, and a second lean call is identical (deterministic).
    assert lean == hf_greedy_generate(tiny_model, ids, mask, pixels, 14, tokenizer.pad_token_id, -1)
    assert lean_greedy(tiny_model, ids, mask, pixels, 14, set()) == lean


def test_lean_equals_generate_unpadded_and_single(tokenizer, tiny_model):
    prompts = _prompts(tokenizer, tiny_model)
    same = [p for p in prompts if len(p) == len(prompts[0])]
    pixels = _pixels(len(same))
    ids, mask = _left(same, tokenizer.pad_token_id)
    expected = _hf_alone(tiny_model, same, pixels, 9, tokenizer.pad_token_id, -1)
    assert lean_greedy(tiny_model, ids, mask, pixels, 9, set()) == expected
    one = torch.tensor([same[0]])
    assert lean_greedy(tiny_model, one, torch.ones_like(one), pixels[:1], 9, set()) == expected[:1]


def _eos_candidates(tokenizer, model, prompts, pixels) -> list[int]:
    """Tokens some rows generate early and others never: as EOS they stop rows at different steps."""
    free = _hf_alone(model, prompts, pixels, 16, tokenizer.pad_token_id, -1)
    early = [t for row in free for t in row[1:6]]
    return [t for t in dict.fromkeys(early) if any(t not in row for row in free)]


def test_lean_equals_generate_with_eos_and_drops_finished_rows(tokenizer, tiny_model, monkeypatch):
    prompts = _prompts(tokenizer, tiny_model)
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    candidates = _eos_candidates(tokenizer, tiny_model, prompts, pixels)
    assert candidates, "the tiny model should give some row-specific early token"
    selects = []
    original = PreallocLayer.batch_select_indices

    def counting(self, indices):
        selects.append(len(indices))
        original(self, indices)

    monkeypatch.setattr(PreallocLayer, "batch_select_indices", counting)
    pad = tokenizer.pad_token_id
    for eos in (candidates[0], candidates[:2]):
        stops = {eos} if isinstance(eos, int) else set(eos)
        lean = lean_greedy(tiny_model, ids, mask, pixels, 16, stops)
        assert lean == _hf_alone(tiny_model, prompts, pixels, 16, pad, eos)
        assert lean == greedy_generate(tiny_model, ids, mask, pixels, 16, pad, eos)
        assert any(len(r) < 16 for r in lean)  # EOS really stopped rows
    assert selects, "finished rows were never dropped from the batch"
    assert min(selects) < len(prompts)


def test_lean_equals_generate_with_lora(tokenizer, fresh_tiny_model):
    from imax.model import apply_lora
    from imax.schema.config.model import LoraSettings

    peft_model = apply_lora(fresh_tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0)).eval()
    torch.manual_seed(1)
    with torch.no_grad():  # non-zero B: the adapters change the logits
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    assert fast_path_supported(peft_model)
    prompts = _prompts(tokenizer, fresh_tiny_model)[:4]
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    lean = lean_greedy(peft_model, ids, mask, pixels, 10, set())
    assert lean == _hf_alone(peft_model, prompts, pixels, 10, tokenizer.pad_token_id, -1)
    base = lean_greedy(peft_model.get_base_model(), ids, mask, pixels, 10, set())
    with peft_model.disable_adapter():
        plain = lean_greedy(peft_model, ids, mask, pixels, 10, set())
    assert base == lean and plain != lean  # the adapters are applied, not bypassed


def test_fast_path_refuses_what_it_would_compute_differently(tiny_model, tokenizer, monkeypatch):
    assert fast_path_supported(tiny_model)
    assert not fast_path_supported(torch.nn.Linear(2, 2))
    penalised = copy.deepcopy(tiny_model)
    penalised.generation_config.repetition_penalty = 1.5
    assert not fast_path_supported(penalised)
    sliding = copy.deepcopy(tiny_model)
    sliding.config.get_text_config(decoder=True).sliding_window = 4
    assert not fast_path_supported(sliding)
    other_lm = copy.deepcopy(tiny_model)  # a decoder whose forward the step loop does not replay
    other_lm.config.get_text_config(decoder=True).model_type = "gemma"
    assert not fast_path_supported(other_lm)

    # greedy_generate then goes through model.generate (the repetition penalty is applied).
    def refuse(*args, **kwargs):
        raise AssertionError("lean loop used for an unsupported model")

    monkeypatch.setattr("imax.evaluate.decode.lean_greedy", refuse)
    prompts = _prompts(tokenizer, tiny_model)[:3]
    pixels = _pixels(3)
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    out = greedy_generate(penalised, ids, mask, pixels, 8, tokenizer.pad_token_id, -1)
    assert out == hf_greedy_generate(penalised, ids, mask, pixels, 8, tokenizer.pad_token_id, -1)


def test_should_compact_bounds_copies():
    assert not decode._should_compact(0, 32, 100)
    assert not decode._should_compact(1, 32, 10)  # 10 row-steps saved < one 32-row step
    assert decode._should_compact(1, 32, 40)
    assert decode._should_compact(8, 32, 4)


def test_prealloc_layer_appends_in_place_and_refuses_overflow():
    layer = PreallocLayer(capacity=5)
    k = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).view(2, 1, 3, 2)
    keys, values = layer.update(k, -k)
    assert torch.equal(keys, k) and torch.equal(values, -k)
    keys, _ = layer.update(k[:, :, :1] + 100, k[:, :, :1])
    assert keys.shape == (2, 1, 4, 2) and torch.equal(keys[:, :, 3], k[:, :, 0] + 100)
    assert layer.get_seq_length() == 4
    layer.batch_select_indices(torch.tensor([1]))
    assert torch.equal(layer.keys, torch.cat([k[1:], k[1:, :, :1] + 100], dim=2))
    with pytest.raises(RuntimeError, match="capacity"):
        layer.update(k[:1], k[:1])


def _other_decoder(tokenizer, model_type: str) -> torch.nn.Module:
    """A tiny random LLaVA whose language model is ``model_type`` with grouped-query attention (4 query
    heads over 2 key/value heads); Qwen2 also has q/k/v biases."""
    from transformers import AutoConfig, LlavaConfig, LlavaForConditionalGeneration

    from imax.model import llava_config
    from imax.schema.config.model import ModelConfig

    cfg = ModelConfig.tiny(
        text={"hidden_size": 64, "num_heads": 4, "intermediate_size": 96, "max_position_embeddings": 512},
        vocab_size=320,
    )
    base = llava_config(cfg, tokenizer)
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "intermediate_size", "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id")  # fmt: skip
    # Full attention (Mistral's config defaults to a 4096-token sliding window, which the lean loop refuses).
    text = AutoConfig.for_model(
        model_type, sliding_window=None, **{f: getattr(base.text_config, f) for f in fields}
    )
    config = LlavaConfig(**{**base.to_dict(), "text_config": text.to_dict()})
    config.text_config.tie_word_embeddings = False
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config).eval()


@pytest.mark.parametrize("model_type", ["qwen2", "mistral"])
def test_lean_equals_generate_for_other_plain_decoders(tokenizer, model_type):
    model = _other_decoder(tokenizer, model_type)
    text = model.config.get_text_config(decoder=True)
    assert text.model_type == model_type and text.num_key_value_heads < text.num_attention_heads
    assert fast_path_supported(model)
    plans = decode_step._layer_plans(model.model.language_model)
    assert all(None not in plan for plan in plans)
    assert (plans[0].qkv.bias is not None) == (model_type == "qwen2")  # Qwen2's q/k/v biases are fused too
    assert not plans[0].qkv.stacked and plans[0].gate_up.stacked  # q is wider than k and v (grouped query)
    prompts = _prompts(tokenizer, model)
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    lean = lean_greedy(model, ids, mask, pixels, 12, set())
    assert lean == _hf_alone(model, prompts, pixels, 12, tokenizer.pad_token_id, -1)


def test_unfused_and_per_step_rotary_give_the_same_tokens(tokenizer, tiny_model, monkeypatch):
    """The step's shortcuts (one GEMM for q|k|v and gate|up, the rotary table) change no token: turning
    each off gives what the fused, tabled step gives, which is what ``generate`` gives."""
    lm = tiny_model.model.language_model
    plans = decode_step._layer_plans(lm)
    assert all(None not in plan and plan.qkv.stacked and plan.gate_up.stacked for plan in plans)
    cos, sin = decode_step._rotary_table(lm, 40, lm.embed_tokens.weight)
    position = torch.tensor([[3], [39], [0]])
    expected = lm.rotary_emb(lm.embed_tokens.weight, position_ids=position)
    assert torch.equal(cos[position[:, 0]], expected[0]) and torch.equal(sin[position[:, 0]], expected[1])

    prompts = _prompts(tokenizer, tiny_model)
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    reference = _hf_alone(tiny_model, prompts, pixels, 10, tokenizer.pad_token_id, -1)
    assert lean_greedy(tiny_model, ids, mask, pixels, 10, set()) == reference
    monkeypatch.setattr(decode_step, "_FUSE_MAX_BYTES", 0)  # too big to fuse: every projection its own module
    assert all(set(plan) == {None} for plan in decode_step._layer_plans(lm))
    assert lean_greedy(tiny_model, ids, mask, pixels, 10, set()) == reference
    monkeypatch.setattr(decode_step, "_rotary_table", lambda *args: None)  # as for a dynamic RoPE
    assert lean_greedy(tiny_model, ids, mask, pixels, 10, set()) == reference


def test_rotary_table_refuses_length_dependent_rope():
    class Rotary(torch.nn.Module):
        rope_type = "dynamic"

    lm = torch.nn.Module()
    lm.rotary_emb = Rotary()
    assert decode_step._rotary_table(lm, 8, torch.zeros(1)) is None
    lm.rotary_emb.rope_type = "longrope"
    assert decode_step._rotary_table(lm, 8, torch.zeros(1)) is None


def test_lora_layers_are_not_fused_and_swapped_layers_are_refused(tokenizer, fresh_tiny_model):
    from imax.model import apply_lora
    from imax.schema.config.model import LoraSettings

    peft_model = apply_lora(copy.deepcopy(fresh_tiny_model), LoraSettings(r=4, alpha=8, dropout=0.0))
    lm = peft_model.get_base_model().model.language_model
    assert all(set(plan) == {None} for plan in decode_step._layer_plans(lm))  # adapters run as modules
    swapped = fresh_tiny_model
    swapped.model.language_model.layers[1].mlp = torch.nn.Identity()  # not a SwiGLU the step can replay
    assert not fast_path_supported(swapped)


def test_fused_projection_computes_each_layer_output():
    torch.manual_seed(0)
    x = torch.randn(5, 16)
    equal = [torch.nn.Linear(16, 8) for _ in range(3)]
    grouped = [torch.nn.Linear(16, 8), torch.nn.Linear(16, 4), torch.nn.Linear(16, 4)]
    stacked, concatenated = decode_step._Fused.of(*equal), decode_step._Fused.of(*grouped)
    assert stacked.stacked and not concatenated.stacked
    out = stacked(x)
    assert out.shape == (3, 5, 8)
    for piece, layer in zip(out, equal, strict=True):
        torch.testing.assert_close(piece, layer(x), rtol=1e-6, atol=1e-6)
    pieces = concatenated(x).split(concatenated.widths, dim=-1)
    for piece, layer in zip(pieces, grouped, strict=True):
        torch.testing.assert_close(piece, layer(x), rtol=1e-6, atol=1e-6)
    assert decode_step._Fused.of(torch.nn.Linear(16, 8), torch.nn.Linear(16, 8, bias=False)) is None
    assert decode_step._Fused.of(torch.nn.Linear(16, 8), torch.nn.Identity()) is None


@pytest.mark.parametrize("bias", [True, False])
def test_halved_projection_adds_the_layer_output(bias):
    torch.manual_seed(0)
    layer, x, residual = torch.nn.Linear(16, 10, bias=bias), torch.randn(5, 16), torch.randn(5, 1, 10)
    got = decode_step._Halves.of(layer).add_to(residual, x)
    torch.testing.assert_close(got, residual + layer(x)[:, None], rtol=1e-6, atol=1e-6)
    assert decode_step._Halves.of(torch.nn.Linear(16, 9)) is None  # odd width: runs as the module


def test_lean_takes_precomputed_image_features(tokenizer, tiny_model):
    from imax.model.compose import vision_features

    prompts = _prompts(tokenizer, tiny_model)
    pixels = _pixels(len(prompts))
    ids, mask = _left(prompts, tokenizer.pad_token_id)
    with torch.no_grad():
        features = vision_features(tiny_model, pixels)
    expected = lean_greedy(tiny_model, ids, mask, pixels, 8, set())
    assert lean_greedy(tiny_model, ids, mask, None, 8, set(), image_features=features) == expected
    with pytest.raises(ValueError, match="exactly one"):
        lean_greedy(tiny_model, ids, mask, pixels, 8, set(), image_features=features)
    with pytest.raises(ValueError, match="exactly one"):
        lean_greedy(tiny_model, ids, mask, None, 8, set())
