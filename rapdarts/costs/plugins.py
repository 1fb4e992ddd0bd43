"""Discovering cost providers: one pluggy manager over the ``rapdarts`` entry-point group.

Entry points are loaded one at a time so that a plugin that fails to import, raises, or returns
garbage is reported by name (with its package) while every other plugin keeps working; pluggy's
own ``load_setuptools_entrypoints`` stops at the first failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata

import pluggy

from .. import hookspecs
from ..errors import RapdartsError
from .provider import CostProvider

log = logging.getLogger("rapdarts")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not contribute providers, and why."""

    plugin: str
    package: str
    error: str

    def message(self) -> str:
        return f"plugin {self.plugin!r} from package {self.package!r} is broken: {self.error}"


@dataclass
class Providers:
    """The discovered providers by name, and the plugins that failed."""

    by_name: dict[str, CostProvider] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def get(self, name: str) -> CostProvider:
        """The provider ``name``, or a one-line error listing the known ones (and broken plugins)."""
        if name in self.by_name:
            return self.by_name[name]
        known = ", ".join(sorted(self.by_name)) or "none"
        broken = "".join(f"; {failure.message()}" for failure in self.failures)
        raise RapdartsError(f"unknown cost {name!r}; available costs: {known} (see 'rapdarts costs'){broken}")

    def select(self, names: Iterable[str]) -> list[CostProvider]:
        return [self.get(name) for name in names]


def _entry_points() -> list[tuple[metadata.EntryPoint, str]]:
    """``(entry point, "package version")`` of the group, once each even if a path appears twice."""
    found, seen = [], set()
    for dist in metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group != hookspecs.ENTRY_POINT_GROUP:
                continue
            package = f"{dist.metadata['Name']} {dist.version}"
            if (package, entry_point.name) in seen:
                continue
            seen.add((package, entry_point.name))
            found.append((entry_point, package))
    return found


def get_plugin_manager(block: Iterable[str] = (), plugins: Iterable[object] = (),
                       entry_points: bool = True) -> tuple[pluggy.PluginManager, list[PluginFailure], dict[str, str]]:
    """A manager with every entry-point plugin (except ``block``ed names) and ``plugins`` registered.

    Returns the manager, the plugins that failed to load, and the package of each plugin name.
    ``plugins`` are registered in-process (notebooks, tests) under their ``__name__`` or class name.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in block:
        manager.set_blocked(name)
    failures: list[PluginFailure] = []
    packages: dict[str, str] = {}
    if entry_points:
        for entry_point, package in _entry_points():
            if manager.is_blocked(entry_point.name):
                continue
            if manager.has_plugin(entry_point.name):
                failures.append(PluginFailure(entry_point.name, package, "another package registers the same plugin "
                                              f"name {entry_point.name!r} (from {packages[entry_point.name]})"))
                continue
            try:
                plugin = entry_point.load()
                manager.register(plugin, name=entry_point.name)
            except Exception as error:  # noqa: BLE001 - any failure of third-party code is reported, not fatal
                failures.append(PluginFailure(entry_point.name, package, f"{type(error).__name__}: {error}"))
                continue
            packages[entry_point.name] = package
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if manager.is_blocked(name):
            continue
        manager.register(plugin, name=name)
        packages[name] = "in-process"
    return manager, failures, packages


def discover_providers(block: Iterable[str] = (), plugins: Iterable[object] = (),
                       options: Mapping[str, str] | None = None, entry_points: bool = True) -> Providers:
    """Every cost provider of every (unblocked) plugin; broken plugins are recorded, not raised.

    Two providers with the same name are an error naming both origins, since a cost name must
    mean one thing.
    """
    manager, failures, packages = get_plugin_manager(block, plugins, entry_points)
    result = Providers(failures=list(failures))
    for implementation in manager.hook.rapdarts_cost_providers.get_hookimpls():
        name = implementation.plugin_name
        package = packages.get(name, "unknown")
        try:
            contributed = list(implementation.function(**_accepted(implementation, options or {})))
            for provider in contributed:
                if not isinstance(provider, CostProvider) or not callable(provider.cost) or not provider.name:
                    raise TypeError(f"returned {type(provider).__name__}, not a CostProvider with a name and a "
                                    "callable cost")
        except Exception as error:  # noqa: BLE001 - third-party code
            result.failures.append(PluginFailure(name, package, f"{type(error).__name__}: {error}"))
            continue
        for provider in contributed:
            provider = replace(provider, package=package, plugin=name)
            if provider.name in result.by_name:
                other = result.by_name[provider.name]
                raise RapdartsError(
                    f"two plugins provide the cost {provider.name!r}: {other.origin} and {provider.origin}; "
                    f"uninstall one or block it with --block-plugin {provider.plugin}"
                )
            result.by_name[provider.name] = provider
    for failure in result.failures:
        log.debug(failure.message())
    return result


def _accepted(implementation: pluggy.HookImpl, options: Mapping[str, str]) -> dict[str, object]:
    """Keyword arguments the implementation declares (pluggy lets it take a subset)."""
    return {"options": dict(options)} if "options" in implementation.argnames else {}
