"""Finding source files: by official file name anywhere under a root, or from a ``sources.yaml`` mapping.

One ``os.walk`` of the root; each file's ``/``-separated path relative to the root is matched against
every adapter's patterns (anchored at a path-component boundary and at the end). Study image folders
(``sNNNNNNNN/`` holding the JPGs) and hidden folders are not descended into: they hold no source file,
and skipping them keeps the walk to the report tree at MIMIC scale.

``sources.yaml`` maps a source name to a path or a list of paths (relative to the data root, or
absolute); a folder is searched with that source's patterns. Sources named there skip discovery.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from imax.schema.config.base import ConfigError
from imax.sources.context import Adapter

_STUDY_DIR = re.compile(r"^s\d{8}$")
_PATIENT_DIR = re.compile(r"(?:^|/)files/p\d{2}/p\d{8}/$")
"""A MIMIC patient folder holds only study image folders and the study reports: its files are matched
without descending into the study folders (the bulk of a MIMIC tree)."""


def _ext(name: str) -> str:
    """Extension used to pre-select patterns (``.gz`` ignored): ``.csv``, ``.json``, ``.txt``, ..."""
    base = name[:-3] if name.endswith(".gz") else name
    return os.path.splitext(base)[1].lower()


def _compiled(adapters: Mapping[str, Adapter]) -> dict[str, re.Pattern[str]]:
    """One alternation regex per file extension (a .txt report only meets the report pattern)."""
    by_ext: dict[str, list[str]] = {}
    for name, ad in adapters.items():
        for i, pat in enumerate(ad.patterns):
            exts = re.findall(r"\\\.(csv|json|txt)", pat)
            for e in (f".{exts[-1]}",) if exts else (".csv", ".json", ".txt"):
                by_ext.setdefault(e, []).append(f"(?P<{name}__{i}>{pat})")
    return {e: re.compile(r"(?:^|/)(?:" + "|".join(alts) + r")$") for e, alts in by_ext.items()}


def expand_glob(glob: str) -> list[str]:
    """An :attr:`Adapter.globs` entry as plain shell globs: ``{a,b}`` and ``[.gz]`` expanded."""
    m = re.search(r"\{([^{}]*)\}", glob)
    if m is not None:
        head, tail = glob[: m.start()], glob[m.end() :]
        return [g for alt in m.group(1).split(",") for g in expand_glob(head + alt + tail)]
    if "[.gz]" in glob:
        plain = glob.replace("[.gz]", "")
        return [plain, plain + ".gz"]
    return [glob]


def near_names(adapters: Mapping[str, Adapter]) -> re.Pattern[str] | None:
    """One regex of the official *file names* (last glob component) per adapter, named ``<adapter>``.

    A file whose name matches but whose path misses the adapter's patterns (VQA's ``train.json`` outside
    a ``*mimic-cxr-vqa*`` folder) is a near miss: not read, but named when the source is not found.
    """
    alts = []
    for name, ad in adapters.items():
        last = {g.rsplit("/", 1)[-1] for glob in ad.globs for g in expand_glob(glob)}
        names = sorted(fnmatch.translate(n) for n in last)
        if names:
            alts.append(f"(?P<{name}>" + "|".join(f"(?:{n})" for n in names) + ")")
    return re.compile("|".join(alts)) if alts else None


def _adapters(adapters: Mapping[str, Adapter] | None) -> Mapping[str, Adapter]:
    if adapters is None:
        from imax.sources import SOURCES

        return SOURCES
    return adapters


def discover(
    root: Path,
    adapters: Mapping[str, Adapter] | None = None,
    *,
    base: Path | None = None,
    near: dict[str, list[Path]] | None = None,
) -> dict[str, list[Path]]:
    """Every source file under ``root`` by official name: ``{source: sorted paths}`` (found sources only).

    ``base`` (default ``root``) is what paths are made relative to before matching, so that a folder
    named in sources.yaml (e.g. ``cxr-lt-2023``) still matches patterns that include it. ``near``, when
    given, receives the near misses per source (see :func:`near_names`; report study files excluded).
    """
    ads = _adapters(adapters)
    rxs = _compiled(ads)
    near_rx = near_names(ads) if near is not None else None
    found: dict[str, list[str]] = {}
    root = Path(root)
    base = Path(base) if base is not None else root
    start = os.path.relpath(root, base).replace(os.sep, "/")
    stack = [(str(root), "" if start == "." else start + "/")]
    # Hand-rolled scandir walk: at MIMIC scale the tree holds ~65K patient folders; os.walk's per-entry
    # overhead (and stat-ing 227K study folders) would dominate discovery.
    while stack:
        path, prefix = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        if _PATIENT_DIR.search(prefix):
            rx = rxs.get(".txt")
            if rx is not None:
                for e in entries:
                    if e.name.endswith(".txt") and (m := rx.search(prefix + e.name)) and m.lastgroup:
                        found.setdefault(m.lastgroup.rsplit("__", 1)[0], []).append(e.path)
            continue
        for e in entries:
            name = e.name
            if name[0] == ".":
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                continue
            if is_dir:
                if not _STUDY_DIR.match(name):
                    stack.append((e.path, prefix + name + "/"))
                continue
            rx = rxs.get(_ext(name))
            m = rx.search(prefix + name) if rx is not None else None
            if m is None or m.lastgroup is None:
                n = near_rx.fullmatch(name) if near_rx is not None else None
                if n is not None and n.lastgroup and near is not None:
                    near.setdefault(n.lastgroup, []).append(Path(e.path))
                continue
            found.setdefault(m.lastgroup.rsplit("__", 1)[0], []).append(e.path)
    # Sort as strings (Path comparison is ~10x slower at 227K report files).
    return {k: [Path(p) for p in sorted(v)] for k, v in found.items()}


def load_paths(
    path: Path,
    root: Path,
    adapters: Mapping[str, Adapter] | None = None,
    *,
    unresolved: dict[str, list[str]] | None = None,
) -> dict[str, list[Path]]:
    """Read a ``sources.yaml`` mapping into ``{source: paths}`` (folders expanded with the patterns).

    Unknown source names are a ConfigError; paths that do not exist are dropped (the source is then
    reported missing when nothing remains) and, when ``unresolved`` is given, recorded there as written.
    """
    ads = _adapters(adapters)
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read sources mapping: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping source name -> path(s)")
    out: dict[str, list[Path]] = {}
    for name, value in data.items():
        if name not in ads:
            raise ConfigError(f"{path}: unknown source {name!r} (known: {sorted(ads)})")
        values = value if isinstance(value, list) else [value]
        paths: list[Path] = []
        for v in values:
            p = Path(str(v))
            p = p if p.is_absolute() else root / p
            if p.is_dir():
                paths.extend(discover(p, {name: ads[name]}, base=p.parent).get(name, []))
            elif p.is_file():
                paths.append(p)
            elif unresolved is not None:
                unresolved.setdefault(name, []).append(str(v))
        out[name] = sorted(paths)
    return out
