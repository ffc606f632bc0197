"""Fail when a ``test_*.py`` under tests/ is not collected by pytest.

pytest silently skips folders it takes for output (``norecursedirs``: build, dist, venv, dot-folders)
and stops on duplicate basenames; both once hid a whole test folder from CI. This compares the files
pytest collected (every marker included) with the test files on disk.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True)
    collected = {line.split("::", 1)[0] for line in out.stdout.splitlines() if "::" in line}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")}
    missing = sorted(on_disk - collected)
    if out.returncode != 0 or missing:
        print(out.stdout[-3000:], out.stderr[-3000:], sep="\n")
        print(f"check_collected: {len(missing)} test file(s) on disk that pytest did not collect:")
        for path in missing:
            print(f"  {path}")
        return 1
    print(f"check_collected: all {len(on_disk)} test files under tests/ collected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
