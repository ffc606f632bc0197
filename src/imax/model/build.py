"""Compose the LLaVA model from plain transformers parts; save and load it as a local checkpoint.

The model is transformers' own ``LlavaForConditionalGeneration`` (vision tower + projector + LM composed,
not subclassed), so a saved base or a merged export loads with plain transformers and no imax code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoProcessor,
    AutoTokenizer,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    ProcessorMixin,
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


CLS_TOKENS: dict[str, int] = {"clip_vision_model": 1, "siglip_vision_model": 0}
"""Extra (CLS) tokens each known vision tower puts before its patch tokens (transformers ``model_type``)."""


def num_image_tokens(model: torch.nn.Module) -> int:
    """``<image>`` positions one image fills: (image_size / patch_size)² patches, plus the tower's CLS
    token (CLIP: 1, SigLIP: none), minus 1 under the "default" strategy (which drops the first token).

    Accepts a plain LLaVA model or a PEFT wrapper of one (anything with a ``LlavaConfig`` as ``.config``).
    """
    config = model.config
    vision = config.vision_config
    cls = CLS_TOKENS.get(getattr(vision, "model_type", ""))
    if cls is None:
        raise ValueError(f"unknown vision tower {vision.model_type!r}: known {sorted(CLS_TOKENS)}")
    # floor: the patch conv drops a remainder (SigLIP-so400m: 384 px / patch 14 → 27² = 729 patches)
    n = (vision.image_size // vision.patch_size) ** 2 + cls
    strategy = config.vision_feature_select_strategy
    if strategy == "full":
        return n
    if strategy == "default":
        return n - 1
    raise ValueError(f"unknown vision_feature_select_strategy {strategy!r}")


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' logger for a block: without torchvision, touching ``CLIPImageProcessor``
    logs a fallback notice (to its PIL twin, which computes the same pixels) that would break imax's
    one-line error output."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def image_processor_for(
    model: torch.nn.Module,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    resample: int = 2,
) -> Any:
    """The image processor of a model imax composed itself (:func:`build_model`): ``CLIPImageProcessor``
    at the tower's side and channel count (``do_convert_rgb`` only for 3 channels), mean/std 0.5 per channel unless
    given (the tiny tower is trained from scratch on that scale), bilinear resampling (``resample``, a
    PIL code). Published checkpoints ship their own."""
    vision = model.config.vision_config
    c, side = int(vision.num_channels), int(vision.image_size)
    mean = tuple(mean) if mean is not None else (0.5,) * c
    std = tuple(std) if std is not None else (0.5,) * c
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean/std need {c} values (one per input channel), got {mean}, {std}")
    with _quiet_transformers():
        from transformers import CLIPImageProcessor  # imported here: its lazy import logs (see above)

        return CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}, do_center_crop=True,
            resample=resample, image_mean=list(mean), image_std=list(std), do_convert_rgb=c == 3,
        )  # fmt: skip


def make_processor(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, image_processor: Any = None
) -> LlavaProcessor:
    """The ``LlavaProcessor`` of a model imax composed itself: ``image_processor`` (default
    :func:`image_processor_for`), the tokenizer and its chat template, the tower's patch size, feature
    strategy and CLS count. Saved beside the model by :func:`save_base`, read back by
    :func:`load_processor` like any published checkpoint's."""
    vision = model.config.vision_config
    image_processor = image_processor if image_processor is not None else image_processor_for(model)
    image_token = tokenizer.convert_ids_to_tokens(model.config.image_token_index)
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=int(vision.patch_size),
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        chat_template=tokenizer.chat_template,
        image_token=image_token,
        num_additional_image_tokens=CLS_TOKENS.get(vision.model_type, 0),
    )


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
    tokenizer: PreTrainedTokenizerBase,
    path: Path,
    processor: ProcessorMixin | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` (safetensors + config.json), ``tokenizer`` and its processor (image processor
    config, processor config, chat template) to the local directory ``path`` — the layout of a published
    llava-hf checkpoint, which ``AutoProcessor`` + ``LlavaForConditionalGeneration`` load as is.

    ``processor``: the checkpoint's own (pass the base's when saving a fine-tune of it); None builds
    :func:`make_processor` (for models composed by :func:`build_model`). ``state_dict``: the full weights
    when the live model is sharded (FSDP / ZeRO-3 gather them with ``accelerator.get_state_dict``); None
    saves the model's own parameters.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, state_dict=state_dict)
    tokenizer.save_pretrained(path)
    processor = processor if processor is not None else make_processor(model, tokenizer)
    processor.save_pretrained(path)
    return path


PROCESSOR_FILES: tuple[str, ...] = ("processor_config.json", "preprocessor_config.json")
"""Files that mark a directory holding a processor (transformers 5 nests the image processor in the
first; published llava-hf checkpoints ship the second)."""


def _has_processor(path: Path) -> bool:
    return any((path / name).is_file() for name in PROCESSOR_FILES)


def processor_dir(path: str | Path) -> Path:
    """The directory holding the processor of ``path`` (a directory or hub id): ``path`` itself (a base,
    a merged export), its ``model/`` (a full fine-tune checkpoint) or the base named by ``path/base.json``
    (a LoRA checkpoint)."""
    path = locate_model(path)  # a local directory, or a hub id resolved to its cached snapshot
    for candidate in (path, path / "model"):
        if _has_processor(candidate):
            return candidate
    pointer = path / "base.json"
    if pointer.is_file():
        data = json.loads(pointer.read_text())
        value = data.get("path", data.get("base")) if isinstance(data, dict) else data
        if isinstance(value, str) and _has_processor(base := locate_model(value)):
            return base
    raise MissingPathError(
        f"{str(path)!r} has no {PROCESSOR_FILES[0]} (nor model/ or base.json leading to one): a LLaVA checkpoint "
        "needs its processor (processor.save_pretrained); rebuild a tiny base with `imax pretrain`"
    )


def load_processor(path: str | Path, model: torch.nn.Module | None = None) -> ProcessorMixin:
    """The checkpoint's own processor (``AutoProcessor``, local files only) for the checkpoint at ``path``
    (see :func:`processor_dir`); with ``model``, checked against it: image token id, input side,
    channels and image-token count must agree, else :class:`ImaxError` naming the mismatch."""
    where = processor_dir(path)
    with _quiet_transformers():
        processor = AutoProcessor.from_pretrained(where, local_files_only=True)
    if model is not None:
        check_processor(processor, model, where)
    return processor


def _input_side(image_processor: Any) -> int | None:
    """The square side an image processor outputs: its centre-crop size when it crops, else its resize
    size (``height`` or ``shortest_edge``; a dict or a transformers ``SizeDict``)."""
    crop = getattr(image_processor, "crop_size", None) if getattr(image_processor, "do_center_crop", False) else None
    size = crop or getattr(image_processor, "size", None)
    if isinstance(size, int) or size is None:
        return size
    for key in ("height", "shortest_edge"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if value is not None:
            return int(value)
    return None


def check_processor(processor: ProcessorMixin, model: torch.nn.Module, where: Path | str = "") -> None:
    """Raise :class:`ImaxError` unless ``processor`` feeds ``model``: same image token id, a square input
    of the tower's side and channel count, and the model's image-token count."""
    config = model.config
    vision = config.vision_config
    tok = processor.tokenizer
    token = getattr(processor, "image_token", IMAGE_TOKEN)
    ids = tok.encode(token, add_special_tokens=False)
    problems = []
    if ids != [config.image_token_index]:
        problems.append(f"image token {token!r} is {ids}, the model's image_token_index {config.image_token_index}")
    ip = processor.image_processor
    mean = getattr(ip, "image_mean", None)
    channels = len(mean) if isinstance(mean, list | tuple) else (3 if getattr(ip, "do_convert_rgb", True) is not False else 1)
    if channels != vision.num_channels:
        problems.append(f"processor gives {channels} channel(s), tower takes {vision.num_channels}")
    side = _input_side(ip)
    if side != vision.image_size:
        problems.append(f"processor input side {side}, tower image_size {vision.image_size}")
    elif getattr(processor, "patch_size", None):
        n = (side // processor.patch_size) ** 2 + int(getattr(processor, "num_additional_image_tokens", 0) or 0)
        n -= getattr(processor, "vision_feature_select_strategy", None) == "default"
        if n != num_image_tokens(model):
            problems.append(f"processor expands an image to {n} tokens, the model takes {num_image_tokens(model)}")
    if problems:
        raise ImaxError(f"{where}: processor does not match the model: " + "; ".join(problems))


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
