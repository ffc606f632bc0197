"""imax.model.fused_lora: the fused LoRA linear computes what PEFT's layer computes, with the same mask."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import Linear as PeftLoraLinear
from torch import nn

from imax.model import apply_lora
from imax.model.fused_lora import (
    BitDropout,
    FusedLoraLinear,
    drop_mask,
    keep_scale,
    quantised_drops,
    use_fused_lora,
)
from imax.schema.config.model import LoraSettings


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj = nn.Linear(12, 10)
        self.down_proj = nn.Linear(10, 12, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(torch.tanh(self.q_proj(x)))


def _pair(p: float) -> tuple[nn.Module, nn.Module]:
    """The same LoRA model twice (random A and B): PEFT's stock layers, and the fused re-classing."""
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=p, target_modules=["q_proj", "down_proj"],
                        init_lora_weights=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock = get_peft_model(_Block(), config)
    fused = copy.deepcopy(stock)
    assert use_fused_lora(fused) == 2
    # The stock model gets the same 16-bit masks through PEFT's own forward (its dropout slot).
    for module in stock.modules():
        if isinstance(module, PeftLoraLinear) and p > 0:
            module.lora_dropout["default"] = BitDropout(p)
    return stock, fused


def _run(model: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    return y.detach(), {"x": x.grad, **grads}


@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("training", [True, False])
def test_fused_layer_equals_peft_layer(p, training):
    stock, fused = _pair(p)
    stock.train(training)
    fused.train(training)
    x = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(1))
    y_stock, g_stock = _run(stock, x, seed=7)
    y_fused, g_fused = _run(fused, x, seed=7)
    torch.testing.assert_close(y_fused, y_stock, rtol=1e-5, atol=1e-6)
    assert g_fused.keys() == g_stock.keys() and len(g_fused) == 5  # x + A, B of two layers
    for name in g_stock:
        torch.testing.assert_close(g_fused[name], g_stock[name], rtol=1e-5, atol=1e-6, msg=name)
    if training and p > 0:  # the mask really drops: another seed gives another output
        y_other, _ = _run(fused, x, seed=8)
        assert not torch.allclose(y_other, y_fused)


def test_fused_layer_is_used_and_falls_back_to_peft_when_it_would_differ(monkeypatch):
    stock, fused = _pair(0.0)
    layer = fused.base_model.model.q_proj
    assert type(layer) is FusedLoraLinear
    x = torch.randn(4, 12)
    assert layer._fused_arguments(x, (), {}) is not None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer._fused_arguments(x, (), {}) is None
    assert layer._fused_arguments(x.double(), (), {}) is None
    layer.base_layer.weight.requires_grad_(True)  # a trainable base weight needs its gradient
    assert layer._fused_arguments(x, (), {}) is None
    layer.base_layer.weight.requires_grad_(False)
    layer.merge()
    assert layer._fused_arguments(x, (), {}) is None
    torch.testing.assert_close(layer(x), stock.base_model.model.q_proj(x), rtol=1e-5, atol=1e-6)
    layer.unmerge()
    with fused.disable_adapter():
        assert layer._fused_arguments(x, (), {}) is None
        torch.testing.assert_close(layer(x), layer.base_layer(x))


def test_vmap_per_sample_gradients_through_the_fused_layer():
    from torch.func import functional_call, grad, vmap

    _, fused = _pair(0.0)
    fused.eval()
    params = {n: p.detach() for n, p in fused.named_parameters() if p.requires_grad}
    xs = torch.randn(4, 5, 12, generator=torch.Generator().manual_seed(2))

    def loss(ps: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(fused, ps, (x,)).square().mean()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, xs)
    for i in range(len(xs)):
        one = grad(loss)(params, xs[i])
        for name in params:
            torch.testing.assert_close(per_sample[name][i], one[name], rtol=1e-5, atol=1e-7)


def test_drop_mask_rate_quantisation_and_seeding():
    assert quantised_drops(0.05) == 3277 and keep_scale(0.05) == 65536 / (65536 - 3277)
    assert drop_mask(torch.Size([10]), 0.0, torch.device("cpu")) is None
    assert drop_mask(torch.Size([7]), 1.0, torch.device("cpu")).all()
    torch.manual_seed(3)
    a = drop_mask(torch.Size([1000, 1001]), 0.05, torch.device("cpu"))
    torch.manual_seed(3)
    b = drop_mask(torch.Size([1000, 1001]), 0.05, torch.device("cpu"))
    assert torch.equal(a, b) and a.shape == (1000, 1001)
    rate = a.double().mean().item()
    assert abs(rate - 3277 / 65536) < 0.001  # 1M draws: sd ~0.0002
    with pytest.raises(ValueError, match="must be in"):
        BitDropout(1.5)


def test_bit_dropout_keeps_the_expectation_and_is_identity_in_eval():
    drop = BitDropout(0.25)
    x = torch.ones(200_000)
    torch.manual_seed(0)
    y = drop(x)
    assert y.unique().tolist() == pytest.approx([0.0, keep_scale(0.25)])
    assert abs(y.mean().item() - 1.0) < 0.01
    assert torch.equal(drop.eval()(x), x)


def test_apply_lora_fuses_by_default_and_not_when_asked(model):
    fused = apply_lora(copy.deepcopy(model), LoraSettings(r=4, alpha=8))
    layers = [m for m in fused.modules() if isinstance(m, PeftLoraLinear)]
    assert layers and all(type(m) is FusedLoraLinear for m in layers)
    assert all(isinstance(m.lora_dropout["default"], BitDropout) for m in layers)
    stock = apply_lora(copy.deepcopy(model), LoraSettings(r=4, alpha=8, fused=False))
    layers = [m for m in stock.modules() if isinstance(m, PeftLoraLinear)]
    assert layers and all(type(m) is PeftLoraLinear for m in layers)
    assert all(type(m.lora_dropout["default"]) is nn.Dropout for m in layers)
