"""The shape of the package: the layer contract holds, and every plugin hook is documented and tested."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from rapdarts.cli import options, target_options
from rapdarts.cli.commands import cli
from rapdarts.plugins import extensions, hookspecs

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


def _test_functions() -> set[str]:
    names = set()
    for path in (REPO / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_has_a_test_of_its_own(name):
    """As datasette requires: a ``test_hook_<name>`` per hook (a mention somewhere is not a test)."""
    assert f"test_hook_{name}" in _test_functions(), f"no test named test_hook_{name}"


def _commands(group: click.Group, prefix: str = "rapdarts") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


@pytest.mark.parametrize("path", [path for path, _ in _commands(cli)])
def test_every_command_is_documented_in_the_readme(path):
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"`{re.escape(path)}\b|^{re.escape(path)}\b", readme, re.MULTILINE) or \
        re.search(rf"\n{re.escape(path)}\b", readme), f"README.md never shows {path!r}"


def _group_options() -> dict[str, list[str]]:
    """The options of every shared option group (the decorators commands are built from)."""
    groups = {"settings_options": options.settings_options(("auto",), "", ""),
              "plugin_options": options.plugin_options(), "run_directory_options": options.run_directory_options(""),
              "backend_options": options.backend_options(),
              "target_options": target_options.target_options, "timing_options": target_options.timing_options}
    found = {}
    for name, decorator in groups.items():
        command = click.command()(decorator(lambda **kwargs: None))
        found[name] = [opt for param in command.params for opt in param.opts if opt.startswith("--")]
    return found


@pytest.mark.parametrize("group, option", [(g, o) for g, opts in _group_options().items() for o in opts])
def test_every_option_of_the_shared_option_groups_is_documented(group, option):
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"{re.escape(option)}\b", readme), f"README.md never mentions {option} (from {group})"


def test_every_method_of_the_extension_protocol_is_documented():
    methods = [name for name, _ in inspect.getmembers(extensions.SearchExtension, inspect.isfunction)
               if not name.startswith("_")]
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Search extensions", 1)[1].split("\n## ", 1)[0]
    assert methods and all(f"`{method}(" in section for method in methods), methods
