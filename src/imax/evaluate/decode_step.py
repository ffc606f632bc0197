"""The lean loop's one-token step: the Llama decoder layer replayed op for op, for a small model on few cores.

:class:`StepRunner` computes what ``LlamaModel.forward`` + the LM head compute for one new token per row:
embedding, rotary embedding (a table built once), each layer's norm, attention through the model's own
attention function, MLP and residuals, final norm, LM head. It skips what the wrappers redo every step
(the image-token checks, the 4-D mask built from the 2-D one, output capture) and, for plain
``nn.Linear`` projections of a small model, computes q|k|v and gate|up as one GEMM call each and
o_proj/down_proj as two half-width GEMMs in one call, so both cores work (MKL runs a 32-row GEMM on one).
Those give each output column from the same row and weights, up to float rounding in the BLAS; the tests
check the tokens equal ``generate``'s.

Why it is kept (re-measured 2026-12-06, benchmarks/eval.py's tiny model and prompts, batch 32, rounds
interleaved, medians; against a plain step that calls each decoder layer's own ``forward``): on two
threads 7.5 % faster at 32 new tokens and 15 % at 128 (quiet machine), far more under contention from
other jobs; on one thread 0.4 % and 4.4 %. Time-weighted over 32 + 128 tokens, 13 % on two threads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers import LlavaForConditionalGeneration
from transformers.cache_utils import Cache
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS


def replayable(lm: torch.nn.Module) -> bool:
    """The modules ``StepRunner`` calls are all there (a decoder of a listed type whose layers were
    swapped for other classes is refused rather than half-replayed)."""
    parts = {
        "": ("embed_tokens", "rotary_emb", "norm", "layers"),
        "self_attn": ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling", "layer_idx"),
        "mlp": ("gate_proj", "up_proj", "down_proj", "act_fn"),
    }
    if not all(hasattr(lm, name) for name in parts[""]):
        return False
    return all(
        hasattr(layer, "input_layernorm")
        and hasattr(layer, "post_attention_layernorm")
        and all(
            hasattr(getattr(layer, part, None), name) for part in ("self_attn", "mlp") for name in parts[part]
        )
        for layer in lm.layers
    )


# Stacked q|k|v and gate|up weights are a per-call copy of most of the language model: worth it for
# small models, where one GEMM call instead of three (two) saves per-call overhead at every step and runs
# on both cores (below); for large ones the GEMMs are big anyway and the copy would only cost memory, so
# above this size nothing is fused.
_FUSE_MAX_BYTES = 256 * 2**20


class _Fused:
    """Plain ``nn.Linear`` layers applied to one input as one call.

    Equal widths (gate|up; q|k|v without grouped-query attention) are stacked ``(P, E, N)`` and run as
    one batched GEMM: MKL runs a 32-row GEMM on one core, while torch's ``bmm`` spreads the P pieces over
    the cores (8 % off a 128-token batch on 2 cores, measured against concatenated weights). Unequal widths are concatenated ``(ΣN, E)`` into
    one GEMM. Either way each output column is a dot product of the same row and weights as the layer's
    own GEMM, summed by a different BLAS call: equal up to float rounding (the tests check the tokens).
    """

    def __init__(self, linears: Sequence[torch.nn.Linear]) -> None:
        self.widths = [m.out_features for m in linears]
        self.stacked = len(set(self.widths)) == 1
        join = torch.stack if self.stacked else torch.cat
        self.weight = join([m.weight for m in linears])  # (P, N, E) or (ΣN, E)
        has_bias = linears[0].bias is not None
        self.bias = join([m.bias for m in linears]) if has_bias else None  # (P, N) or (ΣN,)

    @staticmethod
    def of(*linears: torch.nn.Module) -> _Fused | None:
        """The fusion of ``linears``; None when any is not exactly ``nn.Linear`` (a LoRA adapter, a
        quantised layer: those run as their own modules) or only some have a bias."""
        if any(type(m) is not torch.nn.Linear for m in linears) or len({m.bias is None for m in linears}) > 1:
            return None
        return _Fused(linears)  # type: ignore[arg-type]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """float (B, E) → (P, B, N) when stacked, else (B, ΣN)."""
        if not self.stacked:
            return F.linear(x, self.weight, self.bias)
        out = torch.matmul(x, self.weight.transpose(1, 2))
        return out if self.bias is None else out + self.bias[:, None]


class _Halves:
    """A plain ``nn.Linear`` whose output feeds a residual, run as two half-width GEMMs in one batched
    call (both cores, as :class:`_Fused`; 1–4 % off a 128-token batch) over a view of its own weight
    (no copy)."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        half = linear.out_features // 2
        self.weight = linear.weight.view(2, half, linear.in_features)  # (2, N/2, E)
        self.bias = None if linear.bias is None else linear.bias.view(2, 1, half)

    @staticmethod
    def of(linear: torch.nn.Module) -> _Halves | None:
        """None for anything but an ``nn.Linear`` of even width (it then runs as its own module)."""
        if type(linear) is not torch.nn.Linear or linear.out_features % 2:
            return None
        return _Halves(linear)  # type: ignore[arg-type]

    def add_to(self, residual: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``residual + linear(x)``: float (B, 1, N) and (B, E) → (B, 1, N)."""
        out = torch.matmul(x, self.weight.transpose(1, 2))  # (2, B, N/2)
        if self.bias is not None:
            out = out + self.bias
        batch = residual.shape[0]
        return (residual.view(batch, 2, -1) + out.transpose(0, 1)).view(batch, 1, -1)


class _LayerPlan(NamedTuple):
    """How one decoder layer's projections run in a step; None: as the layer's own module."""

    qkv: _Fused | None
    gate_up: _Fused | None
    o_proj: _Halves | None
    down_proj: _Halves | None


def _layer_plans(lm: torch.nn.Module) -> list[_LayerPlan]:
    """Per decoder layer: q|k|v and gate|up fused (:class:`_Fused`), o_proj and down_proj halved
    (:class:`_Halves`), where the projections are plain ``nn.Linear``; nothing fused or halved for a
    large model (the copy would cost memory, and big GEMMs already use every core)."""
    layers = lm.layers[: lm.config.num_hidden_layers]
    size = sum(
        m.weight.numel() * m.weight.element_size()
        for layer in layers
        for m in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                  layer.mlp.gate_proj, layer.mlp.up_proj)
    )  # fmt: skip
    if size > _FUSE_MAX_BYTES:
        return [_LayerPlan(None, None, None, None)] * len(layers)
    return [
        _LayerPlan(
            _Fused.of(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj),
            _Fused.of(layer.mlp.gate_proj, layer.mlp.up_proj),
            _Halves.of(layer.self_attn.o_proj),
            _Halves.of(layer.mlp.down_proj),
        )
        for layer in layers
    ]


def _rotary_table(
    lm: torch.nn.Module, n_positions: int, like: torch.Tensor
) -> tuple[torch.Tensor, ...] | None:
    """``(cos, sin)``, each ``(n_positions, 1, D)``: the rotary embedding of positions 0..n−1 computed once
    by the model's own ``rotary_emb`` (an elementwise function of the position, so row ``p`` is what a
    step at position ``p`` would compute). None for RoPE types that rescale with the sequence length
    (dynamic, longrope): those are recomputed every step as the model does."""
    rope_type = getattr(lm.rotary_emb, "rope_type", None)
    if not isinstance(rope_type, str) or "dynamic" in rope_type or rope_type == "longrope":
        return None
    positions = torch.arange(n_positions, device=like.device)[:, None]
    return lm.rotary_emb(like, position_ids=positions)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``x`` (..., B, H, 1, D) with ``cos``/``sin`` (B, 1, 1, D): the Llama formula
    ``x·cos + rotate_half(x)·sin``, op for op (so bit for bit) as ``apply_rotary_pos_emb``."""
    half = x.shape[-1] // 2
    return (x * cos) + (torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin)


def _layer_step(
    layer: torch.nn.Module,
    plan: _LayerPlan,
    hidden: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    mask: torch.Tensor | None,
    cache: Cache,
    attend: Callable[..., tuple[torch.Tensor, object]],
) -> torch.Tensor:
    """One decoder layer for one new token per row: float (B, 1, E) → (B, 1, E), appending the row's
    keys/values to ``cache``. What ``LlamaDecoderLayer.forward`` computes (pre-norm attention and SwiGLU
    MLP, each with its residual), with the projections run as ``plan`` says and q and k rotated together
    where q|k|v is fused (elementwise, so the same numbers)."""
    attn, mlp = layer.self_attn, layer.mlp
    batch, head_dim = hidden.shape[0], attn.head_dim
    heads = (batch, -1, 1, head_dim)  # (B, N) → (B, H, 1, D): the layout HF's view + transpose gives
    x = layer.input_layernorm(hidden)[:, 0]  # (B, E)
    qkv, gate_up = plan.qkv, plan.gate_up
    if qkv is None:
        q = _rope(attn.q_proj(x).view(heads), cos, sin)
        k = _rope(attn.k_proj(x).view(heads), cos, sin)
        v = attn.v_proj(x).view(heads)
    elif qkv.stacked:
        out = qkv(x)  # (3, B, N)
        q, k = _rope(out[:2].view(2, *heads), cos, sin)
        v = out[2].view(heads)
    else:  # grouped-query attention: q wider than k and v
        n_q, n_k = qkv.widths[:2]
        out = qkv(x)  # (B, Nq + Nk + Nv)
        qk = _rope(out[:, : n_q + n_k].view(heads), cos, sin)  # (B, Hq + Hk, 1, D)
        q, k = qk[:, : n_q // head_dim], qk[:, n_q // head_dim :]
        v = out[:, n_q + n_k :].view(heads)
    k, v = cache.update(k, v, attn.layer_idx)
    dropout = attn.attention_dropout if attn.training else 0.0
    out, _ = attend(attn, q, k, v, mask, dropout=dropout, scaling=attn.scaling)
    out = out.reshape(batch, -1)  # (B, Hq·D)
    if plan.o_proj is not None:
        hidden = plan.o_proj.add_to(hidden, out)
    else:
        hidden = hidden + attn.o_proj(out[:, None])
    x = layer.post_attention_layernorm(hidden)
    if gate_up is None:
        return hidden + mlp(x)
    pieces = gate_up(x[:, 0])  # (2, B, I)
    gate, up = pieces if gate_up.stacked else pieces.split(gate_up.widths, dim=-1)
    act = mlp.act_fn(gate) * up  # (B, I)
    return (
        plan.down_proj.add_to(hidden, act)
        if plan.down_proj is not None
        else hidden + mlp.down_proj(act[:, None])
    )


class StepRunner:
    """The language model's one-token step, with what does not change between steps built once."""

    def __init__(self, inner: LlavaForConditionalGeneration, n_positions: int) -> None:
        lm = inner.model.language_model
        self.inner, self.lm = inner, lm
        self.layers = lm.layers[: lm.config.num_hidden_layers]
        self.plans = _layer_plans(lm)
        self.rotary = _rotary_table(lm, n_positions, lm.embed_tokens.weight)
        # The attention function the layers themselves look up (SDPA, eager, ...), with their module's eager
        # fallback: the same call as ``LlamaAttention.forward`` makes.
        eager = sys.modules[type(self.layers[0].self_attn).__module__].eager_attention_forward
        self.attend = ALL_ATTENTION_FUNCTIONS.get_interface(lm.config._attn_implementation, eager)

    def __call__(
        self, tokens: torch.Tensor, position: torch.Tensor, mask: torch.Tensor | None, cache: Cache
    ) -> torch.Tensor:
        """Long (B, 1) tokens at long (B, 1) positions, bool (B, 1, 1, n) attention mask over the n cached
        positions (None: attend to all) → float (B, V) next-token logits: ``LlamaModel.forward`` (embed,
        rotary, every decoder layer, final norm) and the LM head, for one token."""
        hidden = self.lm.embed_tokens(tokens)
        if self.rotary is not None:
            cos, sin = (t[position[:, 0]] for t in self.rotary)  # (B, 1, D)
        else:
            cos, sin = self.lm.rotary_emb(hidden, position_ids=position)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, 1, D): broadcast over heads
        for layer, plan in zip(self.layers, self.plans, strict=True):
            hidden = _layer_step(layer, plan, hidden, cos, sin, mask, cache, self.attend)
        return self.inner.lm_head(self.lm.norm(hidden)[:, -1])
