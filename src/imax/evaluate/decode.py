"""A lean greedy decoding loop for LLaVA: one prefill, then one-token steps into a preallocated KV cache.

``model.generate`` spends most of a batched decode step copying the KV cache: its ``DynamicCache`` grows
by ``torch.cat`` every step, rewriting the whole cache (at batch 32, ~150 positions, 4 layers: ~40 MB per
step). This loop writes each step's keys/values into buffers allocated once (``PreallocLayer``) and
attends over views of them, asks for the prefill's logits at the last position only, and drops rows that
have emitted EOS from the batch once that saves more than the copy costs. After the prefill (the whole
LLaVA forward, vision tower included) each one-token step runs the decoder's computation itself, op for
op, with fused projections (:class:`imax.evaluate.decode_step.StepRunner`, which says what it gains).

It does what greedy ``generate`` does, step for step: position ids from the attention mask
(``cumsum − 1``), the vision tower only at the prefill, the full model forward with ``cache``, argmax of
the last position's logits (ties to the lowest id, as ``torch.argmax``), a row stops at its first EOS.
``fast_path_supported`` refuses models where that would not be the same computation (a language model
whose forward is not the plain embed → layers → norm loop, sliding-window attention, a generation config
with logits processors such as a repetition penalty); the caller then uses ``model.generate``.
tests/evaluate/test_decode.py checks the tokens equal ``generate``'s.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from transformers import LlavaForConditionalGeneration
from transformers.cache_utils import Cache, DynamicLayer

from imax.evaluate.decode_step import StepRunner, replayable
from imax.model.compose import image_inputs

# Generation-config fields that do not change greedy decoding: ids (passed explicitly), sampling
# warpers (only applied when sampling; we never sample), output flags, and length limits (we pass
# max_new_tokens). Any other field differing from its default (repetition_penalty, min_length,
# bad_words_ids, ...) means logits processors we do not apply, so the fast path is refused.
_NEUTRAL_GENERATION_FIELDS = frozenset(
    {
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "decoder_start_token_id",
        "transformers_version",
        "_from_model_config",
        "max_length",
        "max_new_tokens",
        "do_sample",
        "num_beams",
        "temperature",
        "top_k",
        "top_p",
        "top_h",
        "min_p",
        "typical_p",
        "epsilon_cutoff",
        "eta_cutoff",
        "use_cache",
        "output_attentions",
        "output_hidden_states",
        "output_scores",
        "output_logits",
        "return_dict_in_generate",
    }
)

# Language models whose base forward is exactly: embed_tokens → rotary_emb → every decoder layer with
# (mask, position embeddings, cache) → norm, with one full-attention mask for all layers, and whose
# decoder layer is Llama's (RMSNorm → q/k/v → RoPE → attention → o_proj → residual → RMSNorm → SwiGLU
# → residual), as ``StepRunner`` replays it (checked in transformers 5.24; Gemma, for one, scales the
# embeddings; Qwen3 normalises q and k).
_PLAIN_DECODER_TYPES = frozenset({"llama", "mistral", "qwen2"})


class PreallocLayer(DynamicLayer):
    """One decoder layer's KV cache in buffers allocated at the first update, filled in place.

    ``keys``/``values`` are views ``(B, H, n, D)`` of buffers ``(B, H, capacity, D)`` holding the ``n``
    positions seen so far, so attention covers exactly the seen positions (as with ``DynamicLayer``) but
    nothing is copied when a step appends one position.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        b, h, _, _ = key_states.shape
        self._k = key_states.new_empty(b, h, self.capacity, key_states.shape[-1])
        self._v = value_states.new_empty(b, h, self.capacity, value_states.shape[-1])
        self.length = 0
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``(B, H, q, D)`` states; return all ``(B, H, n, D)`` seen so far (views)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache full: {end} positions > capacity {self.capacity}")
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows ``indices`` (long (B',)); copies only the filled positions."""
        if not self.is_initialized:
            return
        k = self._k.new_empty(len(indices), *self._k.shape[1:])
        v = self._v.new_empty(len(indices), *self._v.shape[1:])
        k[:, :, : self.length] = self._k[indices, :, : self.length]
        v[:, :, : self.length] = self._v[indices, :, : self.length]
        self._k, self._v = k, v
        self.keys, self.values = k[:, :, : self.length], v[:, :, : self.length]


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a PEFT wrapper (LoRA layers are injected into it in place, so its
    forward still applies the adapters); any other model unchanged. Prompt-learning adapters (prefix
    tuning, ...) live in the wrapper's forward, so such a wrapper is returned as is (and refused)."""
    get_base = getattr(model, "get_base_model", None)
    prompt_learning = getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False)
    return get_base() if callable(get_base) and not prompt_learning else model


def fast_path_supported(model: torch.nn.Module) -> bool:
    """True when :func:`lean_greedy` computes what greedy ``model.generate`` would: a (possibly
    PEFT-wrapped) ``LlavaForConditionalGeneration`` whose language model uses full attention in every
    layer and whose generation config adds no logits processor."""
    inner = _unwrap(model)
    if not isinstance(inner, LlavaForConditionalGeneration):
        return False
    text = inner.config.get_text_config(decoder=True)
    if text.model_type not in _PLAIN_DECODER_TYPES:
        return False
    layer_types = getattr(text, "layer_types", None) or ["full_attention"]
    if getattr(text, "sliding_window", None) is not None or set(layer_types) != {"full_attention"}:
        return False
    changed = set(inner.generation_config.to_diff_dict())
    return changed <= _NEUTRAL_GENERATION_FIELDS and replayable(inner.model.language_model)


def _should_compact(finished: int, batch: int, steps_left: int) -> bool:
    """Drop finished rows when the row-steps saved (``finished × steps_left``) exceed one full-batch
    step, about what copying the cache's filled part costs; bounds the number of copies."""
    return finished > 0 and finished * steps_left >= batch


@torch.inference_mode()
def lean_greedy(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: torch.Tensor | None,
    max_new_tokens: int,
    eos_token_ids: Collection[int],
    image_features: torch.Tensor | None = None,
) -> list[list[int]]:
    """Greedy new tokens per row, cut before the first EOS (``fast_path_supported`` models only).

    Args:
        input_ids: long (B, L), LEFT-padded prompts (each ends at column L − 1).
        attention_mask: long (B, L), 0 on the pads.
        pixel_values: float (B, C, S, S), one image per row; None when ``image_features`` are given.
        eos_token_ids: ids that end a row (empty: every row gets ``max_new_tokens`` tokens).
        image_features: float (B, n_image, D), the rows' pre-projector vision features
            (:func:`imax.model.compose.vision_features`, e.g. encoded once per image for all its
            prompts); the prefill then skips the vision tower.
    Returns:
        B lists of generated ids (no prompt, no EOS).
    """
    inner = _unwrap(model)
    batch, length = input_ids.shape
    rows: list[list[int]] = [[] for _ in range(batch)]
    if batch == 0 or max_new_tokens <= 0:
        return rows
    n_layers = inner.config.get_text_config(decoder=True).num_hidden_layers
    cache = Cache(layers=[PreallocLayer(length + max_new_tokens) for _ in range(n_layers)])
    # As generate: positions count real tokens only, so a left-padded row sees the positions it would
    # alone; a mask without padding is dropped (SDPA then runs its causal path, as for one prompt).
    # (B, 1, 1, L + max_new_tokens) bool, True = attend: the SDPA mask the model would build each step.
    mask = torch.ones(batch, 1, 1, length + max_new_tokens, dtype=torch.bool, device=input_ids.device)
    mask[:, 0, 0, :length] = attention_mask.bool()
    padded = not bool(attention_mask.all())
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    if (pixel_values is None) == (image_features is None):
        raise ValueError("give exactly one of pixel_values and image_features")
    vision = {"pixel_values": pixel_values} if image_features is None else image_inputs(inner, image_features)
    out = inner(
        input_ids=input_ids,
        attention_mask=attention_mask if padded else None,
        **vision,
        position_ids=positions,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,  # only the last position's logits are needed (saves the (B, L, V) head)
    )
    position = positions[:, -1:]  # (B', 1) position of each live row's last token
    step_logits = StepRunner(inner, int(position.max()) + max_new_tokens + 1)
    live = list(range(batch))  # original row index of each row still in the batch
    stops = set(eos_token_ids)
    logits = out.logits[:, -1]
    for step in range(max_new_tokens):
        nxt = logits.float().argmax(-1)  # (B',), fp32 like generate's scores
        for j, token in enumerate(nxt.tolist()):
            if live[j] < 0:
                continue  # finished earlier and not compacted yet: its tokens are ignored
            if token in stops:
                live[j] = -1
            else:
                rows[live[j]].append(token)
        steps_left = max_new_tokens - step - 1
        dead = sum(r < 0 for r in live)
        if steps_left == 0 or dead == len(live):
            break
        if _should_compact(dead, len(live), steps_left):
            keep = torch.tensor([j for j, r in enumerate(live) if r >= 0], device=nxt.device)
            cache.batch_select_indices(keep)
            nxt, mask, position = nxt[keep], mask[keep], position[keep]
            live = [r for r in live if r >= 0]
            padded = padded and not bool(mask[..., :length].all())
        position = position + 1
        seen = length + step + 1  # prompt + the tokens fed so far, this one included
        logits = step_logits(nxt[:, None], position, mask[..., :seen] if padded else None, cache)
    return rows
