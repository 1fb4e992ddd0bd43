"""The README's commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("rapdarts search")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in ci


def test_the_readme_python_examples_import_what_exists():
    """Every name a README example imports exists (the examples themselves run searches: minutes)."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.+?)\n```", readme, re.DOTALL)
    imports = [line for block in blocks for line in block.splitlines() if line.startswith(("from ", "import "))]
    assert len(imports) >= 5
    for line in imports:
        exec(line, {})  # noqa: S102 - the README's own import lines
