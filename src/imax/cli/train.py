"""``imax train``: LoRA fine-tuning (one process, ``torchrun`` DDP on the CPU, or accelerate on GPUs)."""

from __future__ import annotations

from imax.schema.config.train import TrainConfig as Config

HELP = "Fine-tune the base model with LoRA on a built dataset (checkpoints, resume, logs)."


def run(cfg: Config) -> int:
    from imax.train import train

    result = train(cfg)
    print(f"trained {result.steps} steps, final loss {result.final_loss:.4f}: {result.final}")
    return 0


__all__ = ["HELP", "Config", "run"]
