"""The LLaVA composition (transformers ``LlavaForConditionalGeneration``): tiny config, locally trained
tokenizer, LoRA via PEFT with an asserted trainable set, and merged export. Imports only ``imax.schema``."""

from imax.model.build import (
    DTYPES,
    build_model,
    checkpoint_dtype,
    freeze_unused,
    llava_config,
    load_base,
    load_tokenizer,
    locate_model,
    num_image_tokens,
    resolve_dtype,
    save_base,
)
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
from imax.model.lora import (
    LoraTargetError,
    TrainableSetError,
    apply_lora,
    check_lora_targets,
    check_trainable,
    trainable_parameter_names,
)
from imax.model.tokenizer import (
    BASE_SPECIALS,
    BOS,
    EOS,
    IMAGE_TOKEN,
    INST_CLOSE,
    INST_OPEN,
    PAD,
    UNK,
    check_tokenizer,
    special_id,
    train_tokenizer,
)
from imax.schema.config.model import LoraSettings, ModelConfig, TextSettings, VisionSettings

load_model = load_base
"""Alias named in docs/architecture.md's package map."""

__all__ = [
    "BASE_SPECIALS",
    "BOS",
    "DTYPES",
    "EOS",
    "IMAGE_TOKEN",
    "INST_CLOSE",
    "INST_OPEN",
    "PAD",
    "UNK",
    "CheckpointKind",
    "CheckpointKindError",
    "LoraSettings",
    "LoraTargetError",
    "ModelConfig",
    "TextSettings",
    "TrainableSetError",
    "VisionSettings",
    "apply_lora",
    "base_path_of",
    "build_model",
    "check_lora_targets",
    "check_tokenizer",
    "check_trainable",
    "checkpoint_config",
    "checkpoint_dtype",
    "checkpoint_kind",
    "export_checkpoint",
    "freeze_unused",
    "image_inputs",
    "llava_config",
    "llava_core",
    "load_adapter_checkpoint",
    "load_base",
    "load_checkpoint",
    "load_full_checkpoint",
    "load_model",
    "load_tokenizer",
    "locate_model",
    "merge_and_save",
    "num_image_tokens",
    "resolve_dtype",
    "save_base",
    "special_id",
    "train_tokenizer",
    "trainable_parameter_names",
    "trained_names",
    "vision_features",
]
