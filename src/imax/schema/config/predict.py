"""Configs of ``imax ask`` (one image, one question), ``imax predict`` (a folder of images) and
``imax demo`` (a local web page): putting a trained model to a user's own images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class AskConfig:
    """Ask a checkpoint one question about one image."""

    text: str | None = None
    """The task's argument: the region for rec, a box x1,y1,x2,y2 in pixels for reg, the question for
    vqa, the measure (ctr | cpar) for calculation, the label space for multilabel; none for the others."""
    model: Path = Path("runs/model")
    """Checkpoint: a training run, a checkpoint (adapter/ or model/), a merged export or a base directory."""
    base: Path | None = None
    """Base model directory for an adapter checkpoint (default: the one named in its base.json)."""
    image: Path = Path("image.png")
    """Image file: PNG (8 or 16 bit), JPEG or DICOM, any size."""
    task: str = "report"
    """Task to ask (calculation, report, multiclass, multilabel, rec, reg, vqa)."""
    overlay: Path | None = None
    """Write the image with the answer's (and the query's) boxes drawn to this PNG."""
    json: bool = False
    """Print one JSON object (raw output, parsed answer, parse status, prompt, boxes) instead of text."""
    max_length: int = 1024
    """Longest prompt in tokens (longer is an error, never truncated)."""


@dataclass
class PredictConfig:
    """Answer questions about every image of a folder or list file, with the evaluation's batching."""

    model: Path = Path("runs/model")
    """Checkpoint: a training run, a checkpoint (adapter/ or model/), a merged export or a base directory."""
    base: Path | None = None
    """Base model directory for an adapter checkpoint (default: the one named in its base.json)."""
    images: Path = Path("images")
    """A folder (every file under it, recursively) or a text file listing image paths, one per line."""
    tasks: str = "calculation;multiclass;multilabel;report"
    """Questions put to every image, separated by ';': TASK or TASK=TEXT (e.g. 'report;rec=heart;vqa=is
    the heart enlarged?'); TEXT as for imax ask."""
    out: Path = Path("predictions.jsonl")
    """Output JSON lines: one row per (image, question) with raw output, parsed answer, parse status;
    unreadable images appear with parse_status 'image_error: ...'."""
    overlays: Path | None = None
    """Folder for overlay PNGs of every answer that has boxes (None: none written)."""
    batch_size: int = 16
    """Prompts per generate() call (batches never mix tasks)."""
    vision_cache_gb: float = 1.0
    """Encode each image once for all its questions when the features fit in this many GB."""
    max_length: int = 1024
    """Longest prompt in tokens (longer is an error, never truncated)."""
    progress: bool = True
    """Show a progress bar on stderr."""


@dataclass
class DemoConfig:
    """Serve a local page (127.0.0.1 only) to put a checkpoint to uploaded or sample images."""

    model: Path = Path("runs/model")
    """Checkpoint: a training run, a checkpoint (adapter/ or model/), a merged export or a base directory."""
    base: Path | None = None
    """Base model directory for an adapter checkpoint (default: the one named in its base.json)."""
    port: int = 7860
    """Port on 127.0.0.1 (0: any free port, printed at start)."""
    samples: Path | None = None
    """Sample images offered on the page: a built dataset (its test split), or a folder of images.
    None: the test split of the dataset the checkpoint was trained on, else a small generated phantom."""
    max_samples: int = 12
    """Most sample images offered."""
    metrics: Path | None = None
    """metrics.json summarised on the model card (None: looked for beside the checkpoint and its run)."""
    max_length: int = 1024
    """Longest prompt in tokens (longer is an error, never truncated)."""
