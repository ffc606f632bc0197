"""Resumable checkpoints: safetensors for tensors, JSON for everything else, written atomically.

Layout of one checkpoint (``OUT/checkpoints/step-000120/``, or a named one like ``fisher-mid/``)::

    adapter/                    PEFT save_pretrained: adapter_model.safetensors + adapter_config.json
                                (LoRA weights + the projector as modules_to_save) — what evaluate loads
    model/                      instead of adapter/ when finetune="full": save_base layout (pretraining)
    trainable.safetensors       every trainable parameter by its full name — what resume loads (exact)
    optimizer.safetensors       AdamW state tensors, keys "state.<param index>.<name>"
    optimizer.json              param_groups (hyper-parameters; "params" are indices) + trainable names
    state.json                  step, total_steps, epoch, step_in_epoch, samples_seen, sampler seed, world,
                                lr of the next step (the schedule is a pure function of the step)
    rng-rank<R>.safetensors     torch (+ CUDA) generator state of rank R
    rng-rank<R>.json            python ``random`` and numpy global states of rank R
    config.yaml tasks.json data_manifest.json base.json   the artifacts beside every checkpoint

A checkpoint is first written to ``.tmp-<name>/`` and then renamed: a directory without the ``.tmp-``
prefix is always complete (a process killed mid-write leaves only a ``.tmp-`` directory, which resume
ignores and the next save replaces). Nothing here unpickles: loading a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file as _load_file
from safetensors.torch import save_file

from imax.model.files import check_safetensors
from imax.schema.errors import ImaxError, MissingPathError

STEP_DIR = re.compile(r"^step-(\d+)$")


# ---- small helpers ---------------------------------------------------------------------------------
def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (tmp file + os.replace)."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """JSON of ``path``; a missing or malformed file is an :class:`ImaxError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"{path} does not exist: incomplete checkpoint or run directory")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImaxError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from None


def load_file(path: str | Path) -> dict[str, torch.Tensor]:
    """safetensors ``load_file`` that names the file when it is missing, truncated or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"{path} does not exist: incomplete checkpoint")
    check_safetensors(path)
    return _load_file(str(path))


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared / non-contiguous storage; clone detaches from the live parameters too.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


# ---- trainable weights -------------------------------------------------------------------------------
WRAPPER_PREFIXES: tuple[str, ...] = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")
"""Name parts FSDP, activation checkpointing and torch.compile insert into parameter names."""


def clean_name(name: str) -> str:
    """A parameter name without wrapper parts (:data:`WRAPPER_PREFIXES`): the unwrapped model's name."""
    for part in WRAPPER_PREFIXES:
        name = name.replace(part, "")
    return name


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` of the parameters with ``requires_grad`` (names free of wrapper parts)."""
    return {clean_name(n): p for n, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: torch.nn.Module, path: Path, state: dict[str, torch.Tensor] | None = None) -> None:
    """Write the trainable tensors of ``model`` to ``path``; ``state`` (name → full tensor) replaces the
    live parameters when they are sharded (FSDP / ZeRO-3: gathered by ``accelerator.get_state_dict``)."""
    live = trainable_state(model)
    tensors = live if state is None else {n: state[n] for n in live}
    save_file(_contiguous(tensors), str(path))


def fingerprint(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[float, float, int]]:
    """``{name: (sum, sum of squares, numel)}`` in float64: a few bytes per tensor that tell whether it
    changed or lost its data (training checks its saved weights against the initial ones without keeping
    a copy; a ZeRO-3 placeholder has numel 0)."""
    out = {}
    for name, t in tensors.items():
        d = t.detach().double()
        out[name] = (float(d.sum()), float((d * d).sum()), d.numel())
    return out


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    """Copy saved trainable tensors into ``model``; the saved and current trainable sets must match."""
    saved = load_file(path)
    params = trainable_state(model)
    if set(saved) != set(params):
        missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
        raise ImaxError(f"{path}: trainable set differs from this run's (missing {missing[:5]}, unexpected "
                        f"{extra[:5]}): a checkpoint of another fine-tuning mode, base or LoRA setting")
    bad = [n for n, p in params.items() if saved[n].shape != p.shape]
    if bad:
        raise ImaxError(f"{path}: tensor shapes differ from this run's for {bad[:5]} (another base or LoRA rank)")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(saved[name])


# ---- optimizer ---------------------------------------------------------------------------------------
def save_optimizer(optimizer: torch.optim.Optimizer, folder: Path, names: list[str]) -> None:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    save_file(_contiguous(tensors), str(folder / "optimizer.safetensors"))
    write_json(folder / "optimizer.json", {"param_groups": sd["param_groups"], "scalars": scalars, "names": names})


def load_optimizer(optimizer: torch.optim.Optimizer, folder: Path, names: list[str]) -> None:
    meta = read_json(folder / "optimizer.json")
    if meta["names"] != names:
        raise ImaxError(f"{folder / 'optimizer.json'}: optimizer was saved for a different parameter list")
    tensors = load_file(folder / "optimizer.safetensors")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, extra in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(extra)
    groups = meta["param_groups"]
    for g in groups:  # JSON turned tuples into lists
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---- RNG ---------------------------------------------------------------------------------------------
def save_rng(folder: Path, rank: int) -> None:
    """Python, numpy and torch generator states of this process (dropout masks depend on them)."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors["numpy.keys"] = torch.from_numpy(np.asarray(np_keys, dtype=np.uint32).view(np.int32).copy())
    py_version, py_state, py_gauss = random.getstate()
    save_file(_contiguous(tensors), str(folder / f"rng-rank{rank}.safetensors"))
    write_json(
        folder / f"rng-rank{rank}.json",
        {
            "python": {"version": py_version, "state": list(py_state), "gauss_next": py_gauss},
            "numpy": {"kind": np_kind, "pos": int(np_pos), "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        },
    )


def load_rng(folder: Path, rank: int) -> None:
    tensors = load_file(folder / f"rng-rank{rank}.safetensors")
    meta = read_json(folder / f"rng-rank{rank}.json")
    torch.set_rng_state(tensors["torch"])
    if torch.cuda.is_available():
        cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda."))]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    keys = tensors["numpy.keys"].numpy().view(np.uint32)
    n = meta["numpy"]
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def check_resumable(folder: Path, rank: int) -> dict[str, Any]:
    """``state.json`` of the checkpoint ``folder`` after checking, before any model loads, that every
    file resume reads is there and complete; raises :class:`ImaxError` naming the first bad file."""
    state = read_json(folder / "state.json")
    if not state.get("resumable", True):
        raise ImaxError(f"{folder}: written by a sharded engine (FSDP / DeepSpeed): its optimizer state was "
                        "not saved, so it cannot be resumed exactly (start a new run with --init-from)")
    for name in ("trainable.safetensors", "optimizer.safetensors", f"rng-rank{rank}.safetensors"):
        if not (folder / name).is_file():
            raise MissingPathError(f"{folder / name} does not exist: incomplete checkpoint")
        check_safetensors(folder / name)
    read_json(folder / "optimizer.json")
    read_json(folder / f"rng-rank{rank}.json")
    return state


# ---- checkpoint directories ---------------------------------------------------------------------------
def checkpoint_root(out: Path) -> Path:
    return Path(out) / "checkpoints"


def latest_checkpoint(out: Path) -> Path | None:
    """The complete ``step-*`` checkpoint with the highest step, or None."""
    root = checkpoint_root(out)
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name))]
    return max(found)[1] if found else None


def prune(out: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` ``step-*`` checkpoints (named ones stay)."""
    root = checkpoint_root(out)
    found = sorted((int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name)))
    for _, p in found[: max(0, len(found) - max(1, keep_last))]:
        shutil.rmtree(p, ignore_errors=True)


def copy_artifacts(src: Path, dst: Path, names: Iterable[str]) -> None:
    for name in names:
        shutil.copy2(src / name, dst / name)
