"""``imax pretrain``: the tiny base from a phantom pool that carries no task data (cached by config hash)."""

from __future__ import annotations

from imax.schema.config.train import PretrainConfig as Config

HELP = "Pretrain the tiny base (vision tower, language model, projector) on a phantom pool without task data."


def run(cfg: Config) -> int:
    import json

    from imax.train.pretrain import pretrain

    path = pretrain(cfg, log=lambda msg: print(msg, flush=True))
    probe = json.loads((path / "pretrain_report.json").read_text())["probe"]
    # pretrained vs random-init encoder, linear probes on held-out pool images
    print(json.dumps({k: probe.get(k, {}) for k in ("auroc", "measures", "regions", "pretrained_better")}, indent=2))
    print(path)
    return 0


__all__ = ["HELP", "Config", "run"]
