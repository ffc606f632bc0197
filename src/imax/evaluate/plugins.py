"""Plug-ins for report scorers that need model weights (CheXbert-F1, RadGraph-F1).

Nothing here downloads. A plug-in is built from a *local* path; when the path is not given, does not
exist, or its package/weights cannot be loaded, :func:`load_plugins` returns the reason instead, and the
evaluation reports the metric as unavailable rather than failing.

To add a scorer, write ``def build(path: Path) -> ReportScorer`` and list it in ``PLUGINS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from imax.schema.records import CHEXPERT14


class ReportScorer(Protocol):
    """Scores generated reports against references; returns ``{metric_name: value}``."""

    name: str

    def score(self, hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]: ...


# CheXbert's head order (stanfordmlgroup/CheXbert src/constants.py); classes per head:
# 0 blank, 1 positive, 2 negative, 3 uncertain (No Finding: 0 blank, 1 positive).
CHEXBERT_CONDITIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices", "No Finding",
)  # fmt: skip


class CheXbertScorer:
    """CheXbert-F1: label both reports with CheXbert, then micro/macro F1 over the 14 observations.

    ``path`` is a directory holding a BERT-base config + tokenizer (HF format) and ``chexbert.pth``
    (the released checkpoint: ``{"model_state_dict": ...}``, keys prefixed ``module.``).
    """

    name = "chexbert"

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoTokenizer, BertConfig, BertModel

        ckpt = path / "chexbert.pth"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt} not found")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.bert = BertModel(BertConfig.from_pretrained(path, local_files_only=True))
        hidden = self.bert.config.hidden_size
        self.heads = torch.nn.ModuleList(
            [torch.nn.Linear(hidden, 4) for _ in range(13)] + [torch.nn.Linear(hidden, 2)]
        )
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        state = state.get("model_state_dict", state)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        self.bert.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("bert.")})
        self.heads.load_state_dict(
            {k[len("linear_heads.") :]: v for k, v in state.items() if k.startswith("linear_heads.")}
        )
        self.bert.eval()

    def labels(self, texts: Sequence[str]) -> list[frozenset[str]]:
        import torch

        out: list[frozenset[str]] = []
        with torch.no_grad():
            for t in texts:
                enc = self.tokenizer(t or " ", return_tensors="pt", truncation=True, max_length=512)
                cls = self.bert(**enc).last_hidden_state[:, 0]
                preds = [int(h(cls).argmax(-1)) for h in self.heads]
                out.append(frozenset(c for c, p in zip(CHEXBERT_CONDITIONS, preds, strict=True) if p == 1))
        return out

    def score(self, hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
        from imax.evaluate.metrics.classification import f1_counts, f1_from_counts, label_matrix

        p, t = label_matrix(self.labels(hyps), CHEXPERT14), label_matrix(self.labels(refs), CHEXPERT14)
        _, macro, micro = f1_from_counts(*f1_counts(p, t))
        return {"chexbert_f1_micro": micro, "chexbert_f1_macro": macro}


def _radgraph(path: Path) -> ReportScorer:
    # The `radgraph` package is not a dependency (it pins old transformers; radgraph#5). When a user
    # installs it and points to local weights, wrap its F1RadGraph here.
    try:
        from radgraph import F1RadGraph  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError("package 'radgraph' is not installed") from exc

    class _RadGraph:
        name = "radgraph"

        def __init__(self) -> None:
            self.f1 = F1RadGraph(reward_level="partial", model_path=str(path))

        def score(self, hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
            mean, *_ = self.f1(hyps=list(hyps), refs=list(refs))
            return {"radgraph_f1": float(mean)}

    return _RadGraph()


PLUGINS: dict[str, Callable[[Path], ReportScorer]] = {
    "chexbert": CheXbertScorer,
    "radgraph": _radgraph,
}
"""Literal registry: plug-in name → builder from a local path."""

PLUGIN_METRICS: dict[str, tuple[str, ...]] = {
    "chexbert": ("chexbert_f1_micro", "chexbert_f1_macro"),
    "radgraph": ("radgraph_f1",),
}


def load_plugins(paths: Mapping[str, Path | None]) -> tuple[list[ReportScorer], dict[str, str]]:
    """Build the plug-ins named in ``paths``; returns (scorers, {plugin name: why unavailable})."""
    scorers: list[ReportScorer] = []
    unavailable: dict[str, str] = {}
    for name, path in paths.items():
        if path is None:
            unavailable[name] = f"no local weights given ({name}_path); nothing is downloaded"
            continue
        if not Path(path).exists():
            unavailable[name] = f"{path} does not exist"
            continue
        try:
            scorers.append(PLUGINS[name](Path(path)))
        except Exception as exc:  # any loader failure becomes "unavailable", not a crash
            unavailable[name] = f"could not load from {path}: {type(exc).__name__}: {exc}"
    return scorers, unavailable
