"""The LLaVA composition (transformers ``LlavaForConditionalGeneration``): tiny config, locally trained
tokenizer, LoRA via PEFT with an asserted trainable set, and merged export. Imports only ``imax.schema``."""

from imax.model.build import (
    CLS_TOKENS,
    build_model,
    check_processor,
    freeze_unused,
    image_processor_for,
    llava_config,
    load_base,
    load_processor,
    make_processor,
    model_config_of,
    num_image_tokens,
    processor_dir,
    save_base,
)
from imax.model.compose import image_inputs, llava_core, vision_features
from imax.model.export import (
    base_path_of,
    export_checkpoint,
    load_adapter_checkpoint,
    merge_and_save,
)
from imax.model.lora import TrainableSetError, apply_lora, check_trainable, trainable_parameter_names
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
from imax.schema.config.model import LoraSettings, ModelConfig, TextSettings, VisionSettings

load_model = load_base
"""Alias named in docs/architecture.md's package map."""

__all__ = [
    "BASE_SPECIALS",
    "BOS",
    "CLS_TOKENS",
    "EOS",
    "IMAGE_TOKEN",
    "INST_CLOSE",
    "INST_OPEN",
    "PAD",
    "TINY_CHAT_TEMPLATE",
    "UNK",
    "LoraSettings",
    "ModelConfig",
    "TextSettings",
    "TrainableSetError",
    "VisionSettings",
    "apply_lora",
    "base_path_of",
    "build_model",
    "check_processor",
    "check_tokenizer",
    "check_trainable",
    "export_checkpoint",
    "freeze_unused",
    "image_inputs",
    "image_processor_for",
    "llava_config",
    "llava_core",
    "load_adapter_checkpoint",
    "load_base",
    "load_model",
    "load_processor",
    "make_processor",
    "merge_and_save",
    "model_config_of",
    "num_image_tokens",
    "processor_dir",
    "save_base",
    "special_id",
    "train_tokenizer",
    "trainable_parameter_names",
    "vision_features",
]
