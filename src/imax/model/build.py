"""Names of the model's composition, processor, on-disk checks and save/load, importable from one place
(``imax.model.build`` predates the split by job). The code lives in:

* :mod:`imax.model.llava`: compose the LLaVA model from its config, read a loaded model's settings back;
* :mod:`imax.model.processor`: make, save-side build, load and check the processor;
* :mod:`imax.model.files`: locate and check a model directory without loading a weight;
* :mod:`imax.model.load`: save a base, load a tokenizer, a base or its meta-device skeleton.
"""

from __future__ import annotations

from imax.model.files import (
    DTYPES,
    HUB_FILES,
    HUB_ID,
    check_model_dir,
    check_safetensors,
    check_weight_files,
    checkpoint_dtype,
    describe_directory,
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
from imax.model.processor import (
    PROCESSOR_FILES,
    check_processor,
    image_processor_for,
    load_processor,
    make_processor,
    processor_dir,
)

__all__ = [
    "CLS_TOKENS",
    "DTYPES",
    "HUB_FILES",
    "HUB_ID",
    "PROCESSOR_FILES",
    "build_model",
    "check_model_dir",
    "check_processor",
    "check_safetensors",
    "check_weight_files",
    "checkpoint_dtype",
    "describe_directory",
    "freeze_unused",
    "image_processor_for",
    "llava_config",
    "load_base",
    "load_processor",
    "load_tokenizer",
    "locate_model",
    "make_processor",
    "meta_model",
    "num_image_tokens",
    "processor_dir",
    "resolve_dtype",
    "save_base",
    "settings_of",
]
