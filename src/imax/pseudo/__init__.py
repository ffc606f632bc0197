"""Three-stage pseudo-IMAX: train on DMAX, pseudo-label each image's missing tasks, train on the result."""

from imax.pseudo.run import PseudoResult, label_missing, run_pseudo

__all__ = ["PseudoResult", "label_missing", "run_pseudo"]
