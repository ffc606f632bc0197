"""README's two set-up commands are the contract with users; CI must run the second verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("```bash") < 40, "the set-up commands must open the README"
    cmds = setup_commands()
    assert len(cmds) == 2
    assert "imax experiment" in cmds[0] and "pytest" in cmds[1]
    assert "torch" not in " ".join(cmds), "torch is pinned in pyproject.toml, not on the command line"


def test_ci_runs_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme_test = setup_commands()[1]
    # CI may add -q to pip for quieter logs, nothing else.
    assert readme_test in ci


def test_torch_is_pinned():
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()
