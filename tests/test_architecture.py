"""The shape of the package: the layer contract holds, and every plugin hook is documented and tested."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rapdarts import extensions, hookspecs

REPO = Path(__file__).resolve().parents[1]


def _hookspecs() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(function) for name, function in vars(hookspecs).items()
            if name.startswith("rapdarts_") and callable(function)}


def test_the_layer_contract_holds():
    """import-linter's contracts in pyproject.toml: layers along the data path, plugins never imported.

    In a process of its own: import-linter reconfigures logging, which would silence rapdarts' logger.
    """
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(REPO / 'pyproject.toml')!r}, no_logo=True, no_cache=True))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_is_documented_under_its_signature(name):
    """As datasette does it: a README heading that is the hook's exact signature."""
    parameters = ", ".join(_hookspecs()[name].parameters)
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"^#+ `{name}\({re.escape(parameters)}\)`$", readme, re.MULTILINE), \
        f"README.md has no heading `{name}({parameters})`"


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_is_exercised_by_a_test(name):
    users = [path.name for path in (REPO / "tests").glob("test_*.py")
             if path.name != Path(__file__).name and name in path.read_text()]
    assert users, f"no test implements or calls {name}"


def test_every_method_of_the_extension_protocol_is_documented():
    methods = [name for name, _ in inspect.getmembers(extensions.SearchExtension, inspect.isfunction)
               if not name.startswith("_")]
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Search extensions", 1)[1].split("\n## ", 1)[0]
    assert methods and all(f"`{method}(" in section for method in methods), methods
