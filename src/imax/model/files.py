"""Find and check a model directory on disk without loading a weight: local path or hub id, dtype it
records, complete safetensors files, a LLaVA config, and what an imax directory is when it is not a model.
Every failure is one :class:`ImaxError` line naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from imax.schema.errors import ImaxError, MissingPathError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
"""``org/name`` or ``org/name@revision``: what :func:`locate_model` treats as a Hugging Face hub id."""


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""``--dtype`` names → torch dtypes ("auto" is resolved by :func:`resolve_dtype`)."""


HUB_FILES: tuple[str, ...] = ("*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken")
"""What :func:`locate_model` fetches of a hub repo: configs, safetensors weights, tokenizer and processor
files (never pickled ``*.bin`` / ``*.pt`` weights, which imax does not load)."""


def locate_model(spec: str | Path) -> Path:
    """A local model directory for ``spec``: an existing local directory, or a hub id (``org/name`` or
    ``org/name@revision``) resolved with ``from_pretrained`` semantics: the HF cache first, the hub when
    it is reachable and ``HF_HUB_OFFLINE`` is not set.

    Raises :class:`MissingPathError` (one line, naming ``spec``) when the path does not exist and is not a
    hub id, or when the hub id is neither cached nor downloadable.
    """
    path = Path(spec)
    if path.exists():
        if not path.is_dir():
            raise MissingPathError(f"model {str(spec)!r} is a file, not a model directory")
        return path
    text = str(spec)
    if not HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise MissingPathError(
            f"model directory {text!r} does not exist (and is not a hub id like org/name)"
        )
    repo_id, _, revision = text.partition("@")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=list(HUB_FILES)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError, ValueError) as exc:
        where = ("HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub could not be reached or "
                 f"refused it ({type(exc).__name__})")
        raise MissingPathError(
            f"model {text!r}: no local directory of that name, not in the HF cache ({constants.HF_HUB_CACHE}), "
            f"and {where}"
        ) from None


def resolve_dtype(dtype: str, checkpoint: Path | None = None, device: str | torch.device | None = None) -> torch.dtype:
    """The torch dtype to load weights in.

    ``"auto"``: float32 on the CPU (bf16 matmuls are 20-30x slower there and fp16 ones unsupported);
    elsewhere the checkpoint's own dtype (``config.json``'s ``dtype`` / ``torch_dtype``, float32 when
    unrecorded). Any other value names the dtype (:data:`DTYPES`).
    """
    if dtype != "auto":
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
        return DTYPES[dtype]
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(device).type == "cpu" or checkpoint is None:
        return torch.float32
    return checkpoint_dtype(checkpoint) or torch.float32


def checkpoint_dtype(path: Path) -> torch.dtype | None:
    """The dtype a saved model directory records in ``config.json`` (None when it records none)."""
    config = _read_json(Path(path) / "config.json")
    name = config.get("dtype") or config.get("torch_dtype") if isinstance(config, dict) else None
    if name is None and isinstance(config, dict):  # composite configs record it on the text model
        text = config.get("text_config") or {}
        name = text.get("dtype") or text.get("torch_dtype")
    return DTYPES.get(str(name).removeprefix("torch.")) if name else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImaxError(f"{path}: not readable JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _weight_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.safetensors"))


def check_weight_files(path: Path) -> None:
    """Open the header of every ``*.safetensors`` file in ``path`` and check that each tensor's bytes are
    all there; raise :class:`ImaxError` naming the first truncated or corrupt file.

    ``from_pretrained`` would otherwise fail deep inside safetensors with a bare ``SafetensorError``.
    Reads headers only (a few KB per file), never the tensors.
    """
    for file in _weight_files(Path(path)):
        check_safetensors(file)


def check_safetensors(file: Path) -> None:
    """Raise :class:`ImaxError` naming ``file`` when it is not a complete safetensors file (truncated,
    empty, or not safetensors at all)."""
    file = Path(file)
    size = file.stat().st_size
    try:
        with file.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{size} bytes, shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n <= 0 or 8 + n > size:
                raise ValueError(f"header of {n} bytes does not fit in the file's {size} bytes")
            header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end > size:
            raise ValueError(f"tensor data ends at byte {8 + n + end} but the file has {size} bytes")
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise ImaxError(f"{file}: truncated or corrupt safetensors file ({exc})") from None


def check_model_dir(path: str | Path) -> Path:
    """The local directory of the LLaVA model ``path`` (a directory or hub id, :func:`locate_model`) after
    checking, without loading any weight, that it has a LLaVA ``config.json``, a ``tokenizer.json`` and
    complete ``*.safetensors`` files. Raises a one-line :class:`ImaxError` naming the bad file, or saying
    what the directory is instead (a built dataset, a LoRA checkpoint, a run, ...)."""
    path = locate_model(path)
    for name in ("config.json", "tokenizer.json"):
        if not (path / name).is_file():
            kind = describe_directory(path)
            raise MissingPathError(
                f"model directory {str(path)!r} has no {name}: {kind or 'not a LLaVA checkpoint'}"
            )
    config = _read_json(path / "config.json")
    if not isinstance(config, dict) or "vision_config" not in config or "text_config" not in config:
        raise ImaxError(f"{path / 'config.json'}: not a LLaVA config (no vision_config / text_config)")
    if not _weight_files(path):
        raise MissingPathError(f"model directory {str(path)!r} has no *.safetensors weights")
    check_weight_files(path)
    return path


def describe_directory(path: Path) -> str | None:
    """What imax artifact ``path`` looks like, for error messages ("a built dataset", "a training run",
    "a LoRA checkpoint", ...), or None when it is none of them."""
    path = Path(path)
    if (path / "adapter" / "adapter_config.json").is_file():
        return "a LoRA checkpoint (adapter/ + base.json), not a model directory"
    if (path / "model" / "config.json").is_file():
        return f"a full fine-tune checkpoint: its model is {path / 'model'}"
    if (path / "checkpoints").is_dir():
        return f"a training run directory: its final checkpoint is {path / 'checkpoints' / 'final'}"
    if (path / "manifest.json").is_file() or (path / "entries.parquet").is_file():
        return "a built dataset directory (imax build output), not a model"
    if (path / "metrics.json").is_file():
        return "an evaluation output directory, not a model"
    return None
