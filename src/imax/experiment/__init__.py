"""The study end to end: IMAX vs DMAX vs pseudo-IMAX, over seeds, with a report."""

from imax.experiment.run import collect, run_experiment

__all__ = ["collect", "run_experiment"]
