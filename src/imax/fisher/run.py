"""Fisher spectra at a training run's named checkpoints → ``RUN/fisher.json``.

``fisher.json`` is a list, one record per checkpoint in training order::

    {"checkpoint": "mid", "path": ".../checkpoints/fisher-mid", "step": 120, "total_steps": 240,
     "fraction": 0.5,
     "se": float, "rho": float, "topk_ratio": float, "k": 5, "trace": float, "eff_rank": float,
     "participation_ratio": float, "eigenvalues": [N floats, descending],
     "n_samples": N, "n_params": P, "method": "vmap"|"loop", "param_groups": int,
     "per_task": {task: {"n", "se", "rho", "topk_ratio", "trace", "eff_rank", "participation_ratio",
                         "eigenvalues"}},
     "task_cosine": {"tasks": [T names], "matrix": T×T (null where a task's mean gradient is 0)},
     "probe": {"data", "split", "n", "seed", "ids_sha256"}}

Runs are comparable only when ``probe.ids_sha256`` agrees (same probe samples).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from imax.fisher.core import fisher_spectrum
from imax.fisher.probe import probe_set
from imax.schema.config.fisher import FisherConfig
from imax.schema.errors import ImaxError, MissingPathError


def _is_train_checkpoint(path: Path) -> bool:
    """A checkpoint ``imax train`` writes: LoRA (adapter/) or full fine-tune (model/)."""
    return (path / "adapter" / "adapter_config.json").is_file() or (path / "model" / "config.json").is_file()


def checkpoint_dir(run_dir: Path, name: str) -> Path:
    """``RUN/checkpoints/fisher-<name>`` (what ``imax.train`` writes) or ``RUN/checkpoints/<name>``, of a
    LoRA or a full fine-tune run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingPathError(f"run directory {str(run_dir)!r} does not exist")
    root = run_dir / "checkpoints"
    if not root.is_dir():
        from imax.model.files import describe_directory

        what = describe_directory(run_dir)
        raise ImaxError(f"{run_dir}: not a training run (no checkpoints/){f': {what}' if what else ''}")
    for cand in (root / f"fisher-{name}", root / name):
        if _is_train_checkpoint(cand):
            return cand
    have = sorted(p.name for p in root.iterdir() if _is_train_checkpoint(p))
    raise MissingPathError(
        f"{run_dir}: no named checkpoint {name!r} (looked for {root}/fisher-{name} with adapter/ or model/; "
        f"checkpoints there: {have})"
    )


def load_checkpoint(ckpt: Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model with the training-time trainable set, tokenizer) of an ``imax.train`` checkpoint: a
    ``PeftModel`` (LoRA + projector trainable) or the full fine-tune's LLaVA (what trained is trainable)."""
    from imax.model import load_checkpoint as load_any

    # trainable=True restores requires_grad on what trained: the default Fisher parameters
    return load_any(ckpt, trainable=True, dtype=dtype)


def _state(ckpt: Path) -> dict[str, Any]:
    path = ckpt / "state.json"
    if not path.is_file():
        return {"step": None, "total_steps": None, "fraction": None}
    s = json.loads(path.read_text())
    total = s.get("total_steps")
    frac = s["step"] / total if total else None
    return {"step": s.get("step"), "total_steps": total, "fraction": frac}


def _max_length(ckpt: Path) -> int:
    from imax.model import checkpoint_config

    return int(checkpoint_config(ckpt).get("max_length", 0))  # 0: no limit (a run records its resolved value)


def fisher_for_run(run_dir: Path, data_dir: Path, cfg: FisherConfig) -> list[dict[str, Any]]:
    """Spectra at ``cfg.checkpoints`` of ``run_dir`` on the probe set of ``data_dir``; writes the JSON
    (``cfg.out`` or ``RUN/fisher.json``) and returns its records (schema in the module docstring)."""
    from imax.data import ModelInterface, TrainCollator, load_entries, read_data_root
    from imax.model import load_processor, num_image_tokens

    run_dir, data_dir = Path(run_dir), Path(data_dir)
    ckpts = [(name, checkpoint_dir(run_dir, name)) for name in cfg.checkpoints]  # fail before any work
    probe = probe_set(load_entries(data_dir, cfg.split), cfg.n_probe, cfg.seed, cfg.split)
    ids_sha = hashlib.sha256("\n".join(str(e["id"]) for e in probe).encode()).hexdigest()
    data_root = read_data_root(data_dir)
    records: list[dict[str, Any]] = []
    for name, ckpt in ckpts:
        model, _tokenizer = load_checkpoint(ckpt, cfg.dtype)
        core = model.get_base_model() if hasattr(model, "get_base_model") else model
        interface = ModelInterface.from_processor(load_processor(ckpt, core), num_image_tokens(core))
        collate = TrainCollator(interface, data_root, _max_length(ckpt))
        res = fisher_spectrum(
            model,
            probe,
            collate=collate,
            batch_size=cfg.batch_size,
            params=cfg.params,
            k=cfg.k,
            method=cfg.method,
            chunk_size=cfg.chunk_size,
            max_jacobian_mb=cfg.max_jacobian_mb,
        )
        records.append(
            {
                "checkpoint": name,
                "path": str(ckpt),
                **_state(ckpt),
                **res.to_json(),
                "probe": {
                    "data": str(data_dir),
                    "split": cfg.split,
                    "n": len(probe),
                    "seed": cfg.seed,
                    "ids_sha256": ids_sha,
                },
            }
        )
        del model
    out = Path(cfg.out) if cfg.out is not None else run_dir / "fisher.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    tmp.write_text(json.dumps(records, indent=1) + "\n")
    os.replace(tmp, out)
    return records
