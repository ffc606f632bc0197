"""Compose the LLaVA model from plain transformers parts; save and load it as a local checkpoint.

The model is transformers' own ``LlavaForConditionalGeneration`` (vision tower + projector + LM composed,
not subclassed), so a saved base or a merged export loads with plain transformers and no imax code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from imax.model.tokenizer import IMAGE_TOKEN, check_tokenizer, special_id
from imax.schema.config.model import ModelConfig
from imax.schema.errors import ImaxError, MissingPathError


def llava_config(cfg: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlavaConfig:
    """The ``LlavaConfig`` of ``cfg`` with vocabulary and special ids taken from ``tokenizer``."""
    v, t = cfg.vision, cfg.text
    if v.image_size % v.patch_size:
        raise ValueError(f"image_size {v.image_size} is not a multiple of patch_size {v.patch_size}")
    vision = CLIPVisionConfig(
        num_channels=v.num_channels,
        image_size=v.image_size,
        patch_size=v.patch_size,
        hidden_size=v.hidden_size,
        num_hidden_layers=v.num_layers,
        num_attention_heads=v.num_heads,
        intermediate_size=v.intermediate_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=t.hidden_size,
        num_hidden_layers=t.num_layers,
        num_attention_heads=t.num_heads,
        num_key_value_heads=t.num_kv_heads,
        intermediate_size=t.intermediate_size,
        max_position_embeddings=t.max_position_embeddings,
        rope_theta=t.rope_theta,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    n_image = (v.image_size // v.patch_size) ** 2 + (cfg.vision_feature_select_strategy == "full")
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=special_id(tokenizer, IMAGE_TOKEN),
        image_seq_length=n_image,
        projector_hidden_act=cfg.projector_hidden_act,
        multimodal_projector_bias=True,
        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        vision_feature_layer=cfg.vision_feature_layer,
        tie_word_embeddings=False,
    )


def build_model(cfg: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlavaForConditionalGeneration:
    """Randomly initialise the (tiny) LLaVA model of ``cfg`` for ``tokenizer`` (fp32, seeded by cfg.seed).

    Input ``pixel_values`` are ``(B, num_channels, image_size, image_size)``; each image fills
    :func:`num_image_tokens` consecutive ``<image>`` positions of ``input_ids`` ``(B, L)``.
    The vision tower's ``post_layernorm`` is frozen (unused by LLaVA); everything else is trainable.
    """
    check_tokenizer(tokenizer)
    config = llava_config(cfg, tokenizer)
    # fork_rng: seeding must not disturb the caller's global RNG stream (sampler, dropout).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = LlavaForConditionalGeneration(config)
    _set_generation_ids(model, tokenizer)
    freeze_unused(model)
    return model.float()


def freeze_unused(model: LlavaForConditionalGeneration) -> None:
    """Freeze the vision tower's ``post_layernorm``, the one parameter LLaVA never reads.

    LLaVA takes the tower's ``hidden_states``, which come BEFORE ``post_layernorm``, so that norm never gets
    a gradient. Freezing it keeps "every trainable parameter gets a gradient" true (DDP requires it).
    """
    for name, module in model.model.vision_tower.named_modules():
        if name.split(".")[-1] == "post_layernorm":
            module.requires_grad_(False)


def _set_generation_ids(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast) -> None:
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id


def num_image_tokens(model: torch.nn.Module) -> int:
    """``<image>`` positions one image fills: (image_size / patch_size)^2, +1 with the "full" strategy.

    Accepts a plain LLaVA model or a PEFT wrapper of one (anything with a ``LlavaConfig`` as ``.config``).
    """
    config = model.config
    vision = config.vision_config
    if vision.image_size % vision.patch_size:
        raise ValueError(
            f"image_size {vision.image_size} is not a multiple of patch_size {vision.patch_size}"
        )
    n = (vision.image_size // vision.patch_size) ** 2
    strategy = config.vision_feature_select_strategy
    if strategy == "full":
        return n + 1
    if strategy == "default":
        return n
    raise ValueError(f"unknown vision_feature_select_strategy {strategy!r}")


def settings_of(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast, base: ModelConfig) -> ModelConfig:
    """The :class:`ModelConfig` that describes a LOADED model: vision / text shapes, feature layer and
    strategy, projector activation and vocabulary read from its config and tokenizer (``base`` supplies
    the fields a config does not hold: LoRA settings and the init seed). A run's config.yaml records
    this, not the tiny defaults, when it trains a given base."""
    from dataclasses import replace

    config = model.config
    v, t = config.vision_config, config.text_config
    layer = config.vision_feature_layer
    heads = t.num_attention_heads
    return replace(
        base,
        vision=replace(
            base.vision,
            image_size=int(v.image_size),
            patch_size=int(v.patch_size),
            num_channels=int(getattr(v, "num_channels", base.vision.num_channels)),
            hidden_size=int(v.hidden_size),
            num_layers=int(v.num_hidden_layers),
            num_heads=int(v.num_attention_heads),
            intermediate_size=int(v.intermediate_size),
        ),
        text=replace(
            base.text,
            hidden_size=int(t.hidden_size),
            num_layers=int(t.num_hidden_layers),
            num_heads=int(heads),
            num_kv_heads=int(getattr(t, "num_key_value_heads", None) or heads),
            intermediate_size=int(t.intermediate_size),
            max_position_embeddings=int(t.max_position_embeddings),
            rope_theta=float(_rope_theta(t, base.text.rope_theta)),
        ),
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        vision_feature_layer=int(layer) if isinstance(layer, int) else base.vision_feature_layer,
        projector_hidden_act=str(config.projector_hidden_act),
        vocab_size=len(tokenizer),
    )


def _rope_theta(text_config: Any, default: float) -> float:
    theta = getattr(text_config, "rope_theta", None)
    if theta is None:  # transformers 5 keeps it in rope_parameters
        params = getattr(text_config, "rope_parameters", None) or {}
        theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta) if theta is not None else default


def save_base(
    model: LlavaForConditionalGeneration,
    tokenizer: PreTrainedTokenizerFast,
    path: Path,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` (safetensors + config.json) and ``tokenizer`` to the local directory ``path``.

    ``state_dict``: the full weights when the live model is sharded (FSDP / ZeRO-3 gather them with
    ``accelerator.get_state_dict``); None saves the model's own parameters.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, state_dict=state_dict)
    tokenizer.save_pretrained(path)
    return path


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


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in ``path``, checked (:func:`check_tokenizer`); a broken tokenizer file is an
    :class:`ImaxError` naming it."""
    path = Path(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed tokenizer.json
        bad = next((path / n for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
                    if (path / n).is_file() and not _valid_json(path / n)), path / "tokenizer.json")
        raise ImaxError(f"{bad}: cannot load the tokenizer ({_first_line(exc)})") from None
    try:
        check_tokenizer(tokenizer)
    except ValueError as exc:
        raise ImaxError(f"{path}: tokenizer unusable for imax: {exc}") from None
    return tokenizer


def _valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


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


def load_base(
    path: str | Path, dtype: str | torch.dtype = "auto", device: str | torch.device | None = None
) -> tuple[LlavaForConditionalGeneration, PreTrainedTokenizerFast]:
    """Load a LLaVA-format model directory (``save_base`` layout, a merged export, or any
    ``save_pretrained`` LLaVA checkpoint) or a hub id (:func:`locate_model`).

    ``dtype``: a torch dtype, a :data:`DTYPES` name or "auto" (:func:`resolve_dtype`: float32 on the CPU,
    the checkpoint's own dtype elsewhere). ``device`` only informs "auto"; the model is returned on the CPU.
    Raises :class:`MissingPathError` / :class:`ImaxError` (one line naming the file) when the directory,
    its config, its tokenizer or its weights are missing, truncated or malformed.
    """
    path = check_model_dir(path)
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else resolve_dtype(dtype, path, device)
    # Tokenizer first: it is cheap, and a broken one should fail before gigabytes of weights load.
    tokenizer = load_tokenizer(path)
    try:
        model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ImaxError(f"{path}: cannot load the LLaVA weights ({_first_line(exc)})") from None
    freeze_unused(model)
    if model.config.image_token_index != special_id(tokenizer, IMAGE_TOKEN):
        raise ImaxError(
            f"{path}: config image_token_index {model.config.image_token_index} is not the "
            f"tokenizer's {IMAGE_TOKEN} id {special_id(tokenizer, IMAGE_TOKEN)}"
        )
    return model, tokenizer


def meta_model(path: str | Path) -> LlavaForConditionalGeneration:
    """The model of the directory ``path`` (or hub id) built on the meta device: its module tree and
    parameter shapes without reading or allocating a weight (to check a LoRA regex before loading 7B)."""
    path = check_model_dir(path)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ImaxError(f"{path / 'config.json'}: not a usable model config ({_first_line(exc)})") from None
    with torch.device("meta"):
        return LlavaForConditionalGeneration(config)


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
