"""Run logs: one JSON object per line (``log.jsonl``), TensorBoard scalars (``tb/``) and a tqdm bar.

Only the main process logs. The JSONL file is the record the report reads; TensorBoard and the bar are
for people watching a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


class RunLogger:
    """Append metrics to ``log.jsonl`` and TensorBoard; drive an optional progress bar."""

    def __init__(self, out: Path, *, total: int, initial: int, enabled: bool, progress: bool) -> None:
        self.enabled = enabled
        self.path = Path(out) / "log.jsonl"
        self._tb = None
        self._bar = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self._tb = SummaryWriter(log_dir=str(Path(out) / "tb"))
        # A bar only where a person watches: never in tests, CI logs or redirected output.
        if progress and sys.stderr.isatty():
            self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def log(self, record: dict[str, Any]) -> None:
        """Write one record (must hold ``step``); nested dicts become ``a/b`` TensorBoard tags."""
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        step = int(record["step"])
        for key, value in _flatten(record).items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tb.add_scalar(key, value, step)
        if self._bar is not None and "loss" in record:
            self._bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record.get('lr', 0):.2e}")

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def read_log(out: Path) -> list[dict[str, Any]]:
    """All records of ``OUT/log.jsonl``."""
    path = Path(out) / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
