"""``imax export``: a fine-tuned checkpoint → a merged model that plain transformers loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HELP = "Merge a LoRA checkpoint into its base and save a plain transformers LLaVA model."


@dataclass
class Config:
    """Options of ``imax export``."""

    checkpoint: Path = Path("runs/train/final")
    """Checkpoint directory holding adapter/ (PEFT save_pretrained output) and base.json."""
    base: Path | None = None
    """Base model directory (default: the path named in CHECKPOINT/base.json)."""
    out: Path = Path("runs/export")
    """Output directory (safetensors weights, config.json, tokenizer, and the checkpoint's artifacts)."""
    merge: bool = True
    """Merge LoRA and the projector into the weights (--no-merge: write adapter/ + base.json instead)."""


def run(cfg: Config) -> int:
    from imax.model.export import export_checkpoint

    out = export_checkpoint(cfg.checkpoint, cfg.out, base=cfg.base, merge=cfg.merge)
    print(f"exported {'merged model' if cfg.merge else 'adapter'} to {out}")
    return 0
