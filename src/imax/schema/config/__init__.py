"""Typed configs. Each subsystem owns one module here (``phantom``, ``build``, ``model``, ``train``,
``evaluate``, ``fisher``, ``pseudo``, ``experiment``); :mod:`.base` turns any of them into YAML and CLI."""

from imax.schema.config.base import (
    ConfigError,
    add_arguments,
    config_hash,
    field_docs,
    from_args,
    from_dict,
    load_yaml,
    save_yaml,
    to_dict,
)

__all__ = [
    "ConfigError",
    "add_arguments",
    "config_hash",
    "field_docs",
    "from_args",
    "from_dict",
    "load_yaml",
    "save_yaml",
    "to_dict",
]
