"""Headless Chromium helpers for the page-rendering tests: screenshot a page, dump its DOM after load.

Flags follow the machine notes: as root Chromium needs --no-sandbox; the background-networking flags
stop it from dialling out on a closed network; a fresh --user-data-dir per call keeps runs independent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1",
)


def chromium() -> str | None:
    """Path of a Chromium binary (``IMAX_CHROMIUM`` overrides), or ``None``."""
    override = os.environ.get("IMAX_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for c in CANDIDATES:
        found = shutil.which(c)
        if found:
            return found
    return None


requires_chromium = pytest.mark.skipif(
    chromium() is None, reason="headless Chromium not installed (apt-get install chromium; .ci/run does)"
)


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="imax-chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)


def render(page: Path, png: Path, width: int = 1280, height: int = 1600, budget_ms: int = 3000,
           fragment: str = "") -> str:
    """Load ``page`` (plus ``#fragment``) once: save a ``width`` × ``height`` screenshot of its top as
    ``png`` and return the DOM after load (scripts run), as serialised by ``--dump-dom``."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    proc = _run([f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}", f"--screenshot={png}",
                 "--dump-dom", url])
    assert png.is_file(), f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.strip(), f"chromium dumped no DOM (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout
