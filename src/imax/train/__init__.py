"""Training: one explicit Accelerate loop (:func:`train`), resumable safetensors/JSON checkpoints, and
pretraining of the tiny base model (:func:`pretrain`)."""

from imax.train.loop import TrainResult, train
from imax.train.pretrain import pretrain

__all__ = ["TrainResult", "pretrain", "train"]
