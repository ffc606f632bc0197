"""LoRA on the language model via PEFT, with the trainable set asserted, not assumed.

What trains: LoRA A/B on q, k, v, o, gate, up, down of every LM layer, plus a full trainable copy of the
projector (``modules_to_save``). What never trains: the vision tower, the embeddings, the LM head and every
original LM weight. :func:`check_trainable` enforces exactly that after every wrap.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from imax.model.fused_lora import use_fused_lora
from imax.schema.config.model import LoraSettings
from imax.schema.errors import ImaxError


class TrainableSetError(ImaxError):
    """The set of trainable parameters is not the one the LoRA recipe allows."""


class LoraTargetError(ImaxError):
    """The LoRA target regex selects modules outside the language model (or none inside it)."""


def check_lora_targets(model: torch.nn.Module, regex: str) -> list[str]:
    """Names of the modules ``regex`` selects (PEFT's rule: a full match of the module name), checked.

    Raises :class:`LoraTargetError` naming the regex and the offending modules when it reaches the vision
    tower or the projector (the recipe keeps the tower frozen and trains the projector in full), or when
    it selects no linear layer of the language model. Called before PEFT wraps anything, so a user's
    regex fails with its own name instead of a trainable-set assertion after the wrap.
    """
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise LoraTargetError(f"LoRA target regex {regex!r} is not a valid regex: {exc}") from None
    hits = [name for name, _ in model.named_modules() if name and pattern.fullmatch(name)]
    outside = [n for n in hits if ".language_model." not in f".{n}."]
    if outside:
        shown = ", ".join(outside[:5]) + (f" (+{len(outside) - 5} more)" if len(outside) > 5 else "")
        raise LoraTargetError(
            f"LoRA target regex {regex!r} (model.lora.target_regex) reaches {len(outside)} module(s) outside "
            f"the language model: {shown}; LoRA must stay on the LM (the vision tower is frozen)"
        )
    linear = [n for n in hits if isinstance(model.get_submodule(n), torch.nn.Linear)]
    if not linear:
        raise LoraTargetError(
            f"LoRA target regex {regex!r} (model.lora.target_regex) selects no linear layer of the language "
            "model"
        )
    return hits


def apply_lora(model: torch.nn.Module, lora: LoraSettings) -> PeftModel:
    """Wrap a ``LlavaForConditionalGeneration`` with LoRA adapters (in place) and check the trainable set.

    The returned ``PeftModel`` takes the same inputs as the model (``input_ids (B, L)``,
    ``attention_mask (B, L)``, ``pixel_values (B, C, S, S)``, ``labels (B, L)``).
    """
    check_lora_targets(model, lora.target_regex)
    # Freeze first: PEFT only unfreezes what it adds, so nothing the caller left trainable leaks through.
    model.requires_grad_(False)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        # A string is a full-match regex over module names; scoped to the LM (see LORA_TARGET_REGEX).
        target_modules=lora.target_regex,
        modules_to_save=list(lora.modules_to_save),
        bias="none",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft 0.21 calls a transformers-5 deprecated alias on every wrap; the warning is not ours to fix.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    if lora.fused:
        use_fused_lora(peft_model)
    check_trainable(peft_model, lora.modules_to_save)
    return peft_model


def randomize_lora_b(model: torch.nn.Module, seed: int = 0) -> int:
    """Draw every LoRA B matrix (r_out x r) from N(0, 1/r), in place; returns how many were drawn.

    PEFT starts B at 0 so a fresh adapter leaves the model unchanged, but then every LoRA-A gradient is
    0 too: per-sample gradient and Fisher checks on an untrained adapter would see half their columns
    empty. This gives such checks (tests, benchmarks) a generic adapter instead.
    """
    g = torch.Generator().manual_seed(seed)
    drawn = 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=g, dtype=param.dtype) / param.shape[1] ** 0.5)
                drawn += 1
    return drawn


def trainable_parameter_names(model: torch.nn.Module) -> list[str]:
    """Sorted names of the parameters with ``requires_grad``."""
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def check_trainable(
    model: torch.nn.Module, modules_to_save: Sequence[str] = ("multi_modal_projector",)
) -> None:
    """Raise :class:`TrainableSetError` unless the trainable set is LoRA-on-LM + ``modules_to_save`` copies.

    Rules: no vision-tower parameter trains; inside the language model only ``lora_A``/``lora_B`` train;
    anything else that trains must be the PEFT copy (``<module>.modules_to_save.``) of a listed module;
    and there is at least one LoRA parameter.
    """
    bad: list[str] = []
    n_lora = 0
    for name in trainable_parameter_names(model):
        is_lora = ".lora_A." in name or ".lora_B." in name
        if ".vision_tower." in name:
            bad.append(f"{name} (vision tower must stay frozen)")
        elif ".language_model." in name:
            if is_lora:
                n_lora += 1
            else:
                bad.append(f"{name} (only LoRA A/B may train in the language model)")
        elif not any(f".{m}.modules_to_save." in name for m in modules_to_save):
            bad.append(f"{name} (not LoRA and not a modules_to_save copy of {list(modules_to_save)})")
    if bad:
        raise TrainableSetError(
            f"{len(bad)} parameter(s) trainable against the LoRA recipe: " + "; ".join(bad[:10])
        )
    if n_lora == 0:
        raise TrainableSetError("no LoRA parameter is trainable: the target regex matched no LM layer")
