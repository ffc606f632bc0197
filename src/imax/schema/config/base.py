"""Typed config plumbing: dataclass ⇄ dict ⇄ YAML ⇄ argparse, with one source of truth per default.

Every config in imax is a ``@dataclass`` whose fields carry a type annotation, a default and an
*attribute docstring* (a string literal on the line after the field). That docstring is the field's
documentation everywhere: it becomes the ``--help`` text of the generated CLI option. YAML only
serialises these dataclasses; nothing else holds a default.

Nested dataclass fields become dotted options (``--train.lr 1e-4``) and dotted YAML keys.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value that does not fit its declared type (names the key and the value)."""


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass: ``{field_name: doc}`` (inherited ones included)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            src = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(src).body[0]
        assert isinstance(body, ast.ClassDef)
        stmts = body.body
        for a, b in itertools.pairwise(stmts):
            if (
                isinstance(a, ast.AnnAssign)
                and isinstance(a.target, ast.Name)
                and isinstance(b, ast.Expr)
                and isinstance(b.value, ast.Constant)
                and isinstance(b.value.value, str)
            ):
                docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
        if len(args) < len(get_args(tp)):  # e.g. int | Literal["auto"] | None
            return typing.Union[tuple(args)], True  # noqa: UP007 - built from a runtime tuple
    return tp, False


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Convert a YAML/CLI value to ``tp``; raise ConfigError naming ``key`` on mismatch."""
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"config key '{key}': null is not allowed (expected {tp})")
    if optional and isinstance(value, str) and value.lower() in ("none", "null"):
        return None
    origin = get_origin(tp)
    try:
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
            return from_dict(tp, value, prefix=f"{key}.")  # type: ignore[arg-type]
        if origin in (typing.Union, types.UnionType):  # the first member that accepts the value
            for member in get_args(tp):
                try:
                    return _coerce(member, value, key)
                except ConfigError:
                    continue
            kinds = [repr(c) for a in get_args(tp) for c in (get_args(a) if get_origin(a) is Literal else (a.__name__,))]
            raise ConfigError(f"config key '{key}': cannot read {value!r} as any of {', '.join(kinds)} (or none)")
        if origin is Literal:
            choices = get_args(tp)
            if value not in choices:
                raise ConfigError(f"config key '{key}': {value!r} is not one of {list(choices)}")
            return value
        if origin in (tuple, list):
            args = get_args(tp)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            inner = args[0] if args else str
            items = [_coerce(inner, v, f"{key}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
        if origin is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
            kt, vt = get_args(tp) or (str, Any)
            return {_coerce(kt, k, key): (v if vt is Any else _coerce(vt, v, f"{key}.{k}")) for k, v in value.items()}
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
        if tp is Path:
            return Path(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
            return float(value)
        if tp is str:
            return str(value)
        if tp is Any:
            return value
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"config key '{key}': cannot read {value!r} as {tp}: {exc}") from None
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build ``cls`` from a (possibly partial, possibly dotted-key) mapping; unknown keys are errors."""
    nested: dict[str, Any] = {}
    for k, v in data.items():
        head, _, rest = k.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            if isinstance(nested.get(head), dict) and isinstance(v, dict):
                nested[head].update(v)
            else:
                nested[head] = v
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(nested) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + u for u in unknown]} for {cls.__name__}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in nested:
            value = nested[f.name]
            tp = hints[f.name]
            if dataclasses.is_dataclass(_strip_optional(tp)[0]) and isinstance(value, dict):
                base = to_dict(getattr(cls(), f.name)) if _has_defaults(cls) else {}
                base = _merge(base or {}, value)
                value = base
            kwargs[f.name] = _coerce(tp, value, prefix + f.name)
    return cls(**kwargs)


def _has_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)
    )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def to_dict(cfg: Any) -> Any:
    """Plain-data view (dicts, lists, str for paths) of a config, for YAML/JSON."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def save_yaml(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (field docs are the schema; values only here)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read a YAML file written by :func:`save_yaml` (or by hand) into ``cls``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_hash(cfg: Any) -> str:
    """Stable short hash of a config's values (used to cache artifacts built from it)."""
    import hashlib
    import json

    blob = json.dumps(to_dict(cfg), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ---- argparse generation ---------------------------------------------------------------------------
_MISSING = object()


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "", positional: tuple[str, ...] = ()) -> None:
    """Add one option per (nested) field of ``cls``; help text = the field's attribute docstring.

    Options default to a sentinel so that only values the user typed override the YAML/defaults.
    Names listed in ``positional`` become positional arguments instead of ``--options`` (optional ones
    when the field's type is ``X | None``).
    """
    docs = field_docs(cls)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp, optional = _strip_optional(hints[f.name])
        dest = prefix + f.name
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        )
        if dataclasses.is_dataclass(tp):
            add_arguments(parser, tp, prefix=dest + ".")  # type: ignore[arg-type]
            continue
        help_text = docs.get(f.name, "")
        shown = to_dict(default)
        help_text = f"{help_text} (default: {shown})" if help_text else f"(default: {shown})"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help strings
        if get_origin(tp) is Literal:
            help_text += f" choices: {', '.join(map(str, get_args(tp)))}"
        if dest in positional:
            # An Optional positional (e.g. ask's TEXT) may be left out; the others are required.
            extra: dict[str, Any] = {"nargs": "?", "default": _MISSING} if optional else {}
            parser.add_argument(dest, metavar=f.name.upper(), help=help_text, **extra)
            continue
        flag = "--" + dest.replace("_", "-")
        if tp is bool:
            parser.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=_MISSING, help=help_text
            )
        else:
            parser.add_argument(flag, dest=dest, default=_MISSING, metavar=f.name.upper(), help=help_text)


def from_args(cls: type[T], ns: argparse.Namespace, base: dict[str, Any] | None = None) -> T:
    """Build ``cls`` from parsed options layered over ``base`` (e.g. a YAML file) and defaults."""
    data: dict[str, Any] = dict(base or {})
    for key, value in vars(ns).items():
        if value is _MISSING or key.startswith("_"):
            continue
        data[key] = value
    return from_dict(cls, data)
