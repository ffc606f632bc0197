"""The ``imax`` command line. Each command is a module under :mod:`imax.cli` exposing

* ``Config``: the typed dataclass its options are generated from (help = field docstrings),
* ``HELP``: one line shown in ``imax --help``,
* ``POSITIONAL``: (optional) field names taken as positional arguments,
* ``run(cfg) -> int``: does the work by calling library functions; returns the exit status.

Commands only wire library code together; they hold no logic and no defaults of their own.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from imax.schema.config import ConfigError, add_arguments, from_args, to_dict
from imax.schema.config.base import load_yaml
from imax.schema.errors import ImaxError

DESCRIPTION = """\
imax builds image-centric multi-task instruction data (IMAX) and its decentralized counterpart (DMAX)
from chest X-ray sources, fine-tunes LLaVA-format models on them, and measures what the organisation
buys. The study runs on an embedded synthetic chest X-ray phantom by default; point --sources and
--base at your own data and LLaVA-format checkpoints. A typical session:

  imax phantom --out sources/            # or use your MIMIC-CXR-derived sources
  imax build --sources sources/ --out data/ --mode both
  imax pretrain --preset quick           # the tiny base; or --base a LLaVA checkpoint of your own
  imax train --data data/imax --base BASE --out run/
  imax evaluate --model run/checkpoints/final --data data/imax --out eval/
  imax experiment --preset quick --out runs/quick   # the whole study with its report
  imax ask --model run/ --image xray.png --task rec "heart"   # or predict on a folder, or demo

Every command has --help, --config FILE.yaml and --print-config."""

# Literal registry: command name -> module. Modules are imported only when their command runs, so
# `imax --help` stays fast and a broken optional dependency cannot break unrelated commands.
COMMANDS: dict[str, str] = {
    "phantom": "imax.cli.phantom",
    "build": "imax.cli.build",
    "check-leakage": "imax.cli.check_leakage",
    "pretrain": "imax.cli.pretrain",
    "train": "imax.cli.train",
    "export": "imax.cli.export",
    "evaluate": "imax.cli.evaluate",
    "fisher": "imax.cli.fisher",
    "pseudo": "imax.cli.pseudo",
    "experiment": "imax.cli.experiment",
    "browse": "imax.cli.browse",
    "ask": "imax.cli.ask",
    "predict": "imax.cli.predict",
    "demo": "imax.cli.demo",
}


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (a library's multi-line message joined with " | ")."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, ImaxError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or text}"
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imax")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _load(name: str):
    return importlib.import_module(COMMANDS[name])


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imax", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"imax {_version()}")
    sub = parser.add_subparsers(dest="_command", metavar="COMMAND")
    for name in COMMANDS:
        if command is not None and name != command:
            sub.add_parser(name, help="")
            continue
        mod = _load(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("--config", dest="_config", metavar="YAML", help="read options from a YAML file first")
        p.add_argument("--print-config", dest="_print_config", action="store_true",
                       help="print the resolved config as YAML and exit")
        add_arguments(p, mod.Config, positional=tuple(getattr(mod, "POSITIONAL", ())))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        print(f"imax: unknown command {command!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    parser = build_parser(command)
    ns = parser.parse_args(argv)
    if ns._command is None:
        parser.print_help()
        return 0
    mod = _load(ns._command)
    try:
        base = {}
        if ns._config:
            base = to_dict(load_yaml(mod.Config, ns._config))
        cfg = from_args(mod.Config, ns, base=base)
        if ns._print_config:
            import yaml

            print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
            return 0
        return int(mod.run(cfg) or 0)
    except (ConfigError, ImaxError, OSError) as exc:
        # User errors: a config value, an input imax checked (ImaxError names the file and what is wrong),
        # or the OS refusing a path the user gave (missing, not a directory, no permission, disk full).
        # One line on stderr, exit 2; anything else is a bug and keeps its traceback.
        print(f"imax {ns._command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
