"""``imax fisher``: empirical-Fisher spectra at a run's named checkpoints → RUN/fisher.json (+ plots)."""

from __future__ import annotations

from pathlib import Path

from imax.schema.config import ConfigError
from imax.schema.config.fisher import FisherConfig as Config

HELP = "Fisher spectra (SE, ρ, per task, task gradient cosine) at a run's initial/early/mid/late checkpoints."


def run(cfg: Config) -> int:
    if cfg.run is None or cfg.data is None:
        raise ConfigError("imax fisher needs --run DIR (a training run) and --data DIR (a built dataset)")
    from imax.fisher import fisher_for_run
    from imax.fisher.plots import plot_spectra, plot_task_cosine, plot_trajectory

    records = fisher_for_run(cfg.run, cfg.data, cfg)
    out = Path(cfg.out) if cfg.out is not None else Path(cfg.run) / "fisher.json"
    for r in records:
        print(
            f"{r['checkpoint']:>8}  step {r['step']}  SE {r['se']:.4f}  rho {r['rho']:.4f}  "
            f"top{r['k']} {r['topk_ratio']:.4f}  trace {r['trace']:.4g}  ({r['method']})"
        )
    if cfg.plot:
        plot_spectra(records, out.with_name("fisher_spectra.png"))
        plot_trajectory({Path(cfg.run).name: records}, out.with_name("fisher_trajectory.png"))
        plot_task_cosine(records, out.with_name("fisher_task_cosine.png"))
    print(f"wrote {out}")
    return 0


__all__ = ["HELP", "Config", "run"]
