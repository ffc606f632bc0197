"""LoRA linears with one fused forward/backward, and dropout masks from 16-bit random integers.

Same parameters, same function as PEFT's ``lora.Linear``: ``y = W x + b + s · B A drop(x)``, with
``s = alpha / r``. Only how it is computed changes; ``LoraSettings.fused = False`` gives PEFT's stock
layers. Why: on the tiny model the LoRA branch, not the matmuls, set the pace of a CPU training step.

* **Masks.** PEFT's ``nn.Dropout`` draws its mask with ``bernoulli_``: one 32-bit Mersenne-Twister draw
  per element, on one thread (about a fifth of a step). :func:`drop_mask` draws 64 bits per four
  elements (``random_`` over the full int64 range, read as four int16) and drops an element when its
  16 bits fall under a threshold, about a third of the cost. The drop probability is quantised to
  ``k / 65536`` (0.05 → 3277/65536 = 0.0500031) and kept values are scaled by ``1 / (1 − k/65536)``,
  so the expectation is exactly the input. Masks come from the default torch generator of the input's
  device: the RNG state a checkpoint saves reproduces them on resume, as it does for ``nn.Dropout``.
* **Passes.** PEFT writes the branch's ``(N, out)`` output, scales it, then adds it to the base output
  (three passes over the largest activations, and their mirror images in the backward), and scales
  the dropped input. :class:`_LoraLinearFn` accumulates ``s · (x_d Aᵀ) Bᵀ`` into the base output in the
  GEMM itself (``addmm_``, the dropout's ``1/(1−p)`` folded into its ``alpha``), masks with one
  ``where`` (one pass), and in the backward folds the scale into the rank-r intermediate.

The fused path runs only where it is the same computation: a plain ``nn.Linear`` base with frozen
weight and bias, one active unmerged vanilla adapter (no DoRA or other variant), dropout that is
:class:`BitDropout` or none, no autocast, one dtype, no extra forward arguments. Anything else takes
PEFT's own ``forward`` (with :class:`BitDropout` still in its dropout slot).
tests/model/test_fused_lora.py checks outputs and gradients against PEFT's layer under the same mask.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from peft.tuners.lora import Linear as PeftLoraLinear
from torch import nn
from torch._C._functorch import is_functorch_wrapped_tensor

_LEVELS = 1 << 16  # values of a 16-bit draw
_INT16_MIN = -(1 << 15)


def quantised_drops(p: float) -> int:
    """k such that elements are dropped with probability ``k / 65536`` (``round(p · 65536)``)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return round(p * _LEVELS)


def keep_scale(p: float) -> float:
    """The factor kept elements are multiplied by: ``1 / (1 − k/65536)``."""
    drops = quantised_drops(p)
    return _LEVELS / (_LEVELS - drops) if drops < _LEVELS else 0.0


def drop_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor | None:
    """Bool mask of ``shape``, True = dropped, each with probability ``k / 65536``; None when k is 0."""
    drops = quantised_drops(p)
    if drops == 0:
        return None
    if drops == _LEVELS:  # the threshold would not fit an int16 comparison
        return torch.ones(shape, dtype=torch.bool, device=device)
    n = shape.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    return bits.view(torch.int16)[:n].view(shape) < _INT16_MIN + drops


class BitDropout(nn.Module):
    """Drop-in for ``nn.Dropout(p)`` (inverted dropout, identity in eval mode) with :func:`drop_mask`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        quantised_drops(p)  # validates p
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        mask = drop_mask(x.shape, self.p, x.device)
        return x if mask is None else torch.where(mask, 0.0, x) * keep_scale(self.p)

    def extra_repr(self) -> str:
        return f"p={self.p} (quantised {quantised_drops(self.p) / _LEVELS:.7f})"


def _accumulate_matmul(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """``c + alpha · a @ b`` for a fresh ``c``: inside the GEMM (``addmm_``, no extra pass over ``c``),
    except under a ``torch.func`` transform: ``vmap`` has no batching rule for ``addmm_`` and would loop."""
    if is_functorch_wrapped_tensor(c):
        return torch.addmm(c, a, b, alpha=alpha)
    return c.addmm_(a, b, alpha=alpha)


class _LoraLinearFn(torch.autograd.Function):
    """``y = x Wᵀ + b + scale · (mask(x) Aᵀ) Bᵀ`` for frozen ``W``, ``b`` (no gradient for them).

    Shapes: x (N, in); W (out, in); b (out,) or None; A (r, in); B (out, r); mask (N, in) bool
    (True = dropped) or None; scale = LoRA scaling × the dropout's keep scale. Returns y (N, out) and,
    for the backward, ``h = mask(x) Aᵀ`` (N, r) and the dropped input (N, in). Written in the
    ``setup_context`` form with a generated vmap rule so ``torch.func`` (the Fisher's per-sample
    gradients) can transform it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        mask: torch.Tensor | None,
        scale: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dropped = x if mask is None else torch.where(mask, 0.0, x)  # one pass (masked_fill copies, then fills)
        h = dropped @ lora_a.t()
        y = _accumulate_matmul(F.linear(x, weight, bias), h, lora_b.t(), scale)
        # Without a mask the dropped input is x itself, saved from the inputs (an input returned as an
        # output cannot be saved in this form); an empty placeholder stands in for it here.
        return y, h, dropped if mask is not None else x.new_empty(0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, weight, _, lora_a, lora_b, mask, scale = inputs
        _, h, dropped = output
        ctx.mark_non_differentiable(h, dropped)
        dropped = x if mask is None else dropped
        ctx.save_for_backward(weight, lora_a, lora_b, dropped, h, mask)
        ctx.scale = scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, *_: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        weight, lora_a, lora_b, dropped, h, mask = ctx.saved_tensors
        need_x, _, _, need_a, need_b, _, _ = ctx.needs_input_grad
        grad_h = (grad @ lora_b) * ctx.scale  # (N, r): the scale applied at rank r, not at (N, out)
        grad_x = grad_a = grad_b = None
        if need_b:
            grad_b = (grad.transpose(-2, -1) @ h) * ctx.scale  # (out, r)
        if need_a:
            grad_a = grad_h.transpose(-2, -1) @ dropped  # (r, in)
        if need_x:
            grad_x = grad_h @ lora_a  # (N, in): the branch's part first, masked,
            if mask is not None:
                grad_x.masked_fill_(mask, 0.0)
            grad_x = _accumulate_matmul(grad_x, grad, weight)  # then the base part
        return grad_x, None, None, grad_a, grad_b, None, None


class FusedLoraLinear(PeftLoraLinear):
    """PEFT's ``lora.Linear`` whose forward takes the fused path when it computes the same thing.

    Adds no state: :func:`use_fused_lora` re-classes PEFT's layers in place, so parameters, names,
    saving, merging and unloading are PEFT's own.
    """

    def _fused_arguments(self, x: torch.Tensor, args: tuple, kwargs: dict) -> tuple | None:
        """(A, B, dropout p, scaling) when the fused path applies (module docstring), else None."""
        if args or kwargs or self.disable_adapters or self.merged or self.fan_in_fan_out:
            return None
        base = self.base_layer
        if type(base) is not nn.Linear or base.weight.requires_grad:
            return None
        if base.bias is not None and base.bias.requires_grad:
            return None
        active = [a for a in self.active_adapters if a in self.lora_A]
        if len(active) != 1 or active[0] in self.lora_variant:
            return None
        name = active[0]
        lora_a, lora_b = self.lora_A[name].weight, self.lora_B[name].weight
        if self.lora_A[name].bias is not None or self.lora_B[name].bias is not None:
            return None
        if torch.is_autocast_enabled(x.device.type):
            return None
        if not x.dtype == base.weight.dtype == lora_a.dtype == lora_b.dtype:
            return None
        dropout = self.lora_dropout[name]
        if isinstance(dropout, BitDropout):
            p = dropout.p if dropout.training else 0.0
        elif isinstance(dropout, nn.Identity):
            p = 0.0
        else:
            return None
        return lora_a, lora_b, p, self.scaling[name]

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        fused = self._fused_arguments(x, args, kwargs)
        if fused is None:
            return super().forward(x, *args, **kwargs)
        lora_a, lora_b, p, scaling = fused
        flat = x.reshape(-1, x.shape[-1])
        mask = drop_mask(flat.shape, p, x.device)
        scale = scaling * (keep_scale(p) if mask is not None else 1.0)
        base = self.base_layer
        y, _, _ = _LoraLinearFn.apply(flat, base.weight, base.bias, lora_a, lora_b, mask, scale)
        return y.view(*x.shape[:-1], y.shape[-1])


def use_fused_lora(model: nn.Module) -> int:
    """Re-class every PEFT ``lora.Linear`` of ``model`` as :class:`FusedLoraLinear` and put
    :class:`BitDropout` of the same ``p`` in its dropout slots, in place; returns the layers changed."""
    changed = 0
    for module in model.modules():
        if type(module) is not PeftLoraLinear:
            continue
        module.__class__ = FusedLoraLinear
        for name, dropout in list(module.lora_dropout.items()):
            if type(dropout) is nn.Dropout:
                module.lora_dropout[name] = BitDropout(dropout.p) if dropout.p > 0 else nn.Identity()
        changed += 1
    return changed
