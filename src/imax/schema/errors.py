"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""

from __future__ import annotations


class ImaxError(RuntimeError):
    """Base class: a problem the user can fix (bad input, missing path, wrong config)."""


class InputError(ImaxError):
    """Malformed input data. The message names the file, the 1-based line and the field."""

    def __init__(self, file: str, line: int | None, field: str, reason: str) -> None:
        self.file, self.line, self.field, self.reason = str(file), line, field, reason
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: field '{field}': {reason}")


class MissingPathError(ImaxError):
    """A local path the user pointed to (data, checkpoint, tokenizer) does not exist."""
