"""The LLaVA composition (transformers ``LlavaForConditionalGeneration``): tiny config, locally trained
tokenizer, LoRA via PEFT with an asserted trainable set, and merged export. Imports only ``imax.schema``."""

from imax.model.checkpoint import (
    CheckpointKind,
    CheckpointKindError,
    base_path_of,
    checkpoint_config,
    checkpoint_kind,
    load_adapter_checkpoint,
    load_checkpoint,
    load_full_checkpoint,
    trained_names,
)
from imax.model.compose import image_inputs, llava_core, vision_features
from imax.model.export import export_checkpoint, merge_and_save
from imax.model.files import (
    DTYPES,
    check_model_dir,
    checkpoint_dtype,
    locate_model,
    resolve_dtype,
)
from imax.model.llava import (
    CLS_TOKENS,
    build_model,
    freeze_unused,
    llava_config,
    num_image_tokens,
    settings_of,
)
from imax.model.load import (
    load_base,
    load_tokenizer,
    meta_model,
    save_base,
)
from imax.model.lora import (
    LoraTargetError,
    TrainableSetError,
    apply_lora,
    check_lora_targets,
    check_trainable,
    trainable_parameter_names,
)
from imax.model.processor import (
    check_processor,
    image_processor_for,
    load_processor,
    make_processor,
    processor_dir,
)
from imax.model.tokenizer import (
    BASE_SPECIALS,
    BOS,
    EOS,
    IMAGE_TOKEN,
    INST_CLOSE,
    INST_OPEN,
    PAD,
    TINY_CHAT_TEMPLATE,
    UNK,
    check_tokenizer,
    special_id,
    train_tokenizer,
)
from imax.model.vision_cache import VisionFeatureCache, build_vision_cache, tower_is_frozen
from imax.schema.config.model import LoraSettings, ModelConfig, TextSettings, VisionSettings

load_model = load_base
"""Alias named in docs/architecture.md's package map."""

__all__ = [
    "BASE_SPECIALS",
    "BOS",
    "CLS_TOKENS",
    "DTYPES",
    "EOS",
    "IMAGE_TOKEN",
    "INST_CLOSE",
    "INST_OPEN",
    "PAD",
    "TINY_CHAT_TEMPLATE",
    "UNK",
    "CheckpointKind",
    "CheckpointKindError",
    "LoraSettings",
    "LoraTargetError",
    "ModelConfig",
    "TextSettings",
    "TrainableSetError",
    "VisionFeatureCache",
    "VisionSettings",
    "apply_lora",
    "base_path_of",
    "build_model",
    "build_vision_cache",
    "check_lora_targets",
    "check_model_dir",
    "check_processor",
    "check_tokenizer",
    "check_trainable",
    "checkpoint_config",
    "checkpoint_dtype",
    "checkpoint_kind",
    "export_checkpoint",
    "freeze_unused",
    "image_inputs",
    "image_processor_for",
    "llava_config",
    "llava_core",
    "load_adapter_checkpoint",
    "load_base",
    "load_checkpoint",
    "load_full_checkpoint",
    "load_model",
    "load_processor",
    "load_tokenizer",
    "locate_model",
    "make_processor",
    "merge_and_save",
    "meta_model",
    "num_image_tokens",
    "processor_dir",
    "resolve_dtype",
    "save_base",
    "settings_of",
    "special_id",
    "tower_is_frozen",
    "train_tokenizer",
    "trainable_parameter_names",
    "trained_names",
    "vision_features",
]
