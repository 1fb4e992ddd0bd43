"""Discovering cost providers: one pluggy manager over the ``rapdarts`` entry-point group.

Entry points are loaded one at a time so that a plugin that fails to import is reported by name
(with its package) while every other plugin keeps working; pluggy's own
``load_setuptools_entrypoints`` stops at the first failure. Hooks are called through pluggy's hook
relay, one plugin at a time (``subset_hook_caller``), so pluggy passes each implementation only
the arguments it declares and a plugin that raises or returns garbage is reported, not fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata

import pluggy

from rapdarts.errors import RapdartsError
from rapdarts.plugins import hookspecs
from rapdarts.plugins.instances import provider_options, split_instance
from rapdarts.plugins.provider import CostProvider

log = logging.getLogger("rapdarts")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not contribute providers, and why."""

    plugin: str
    package: str
    error: str
    cause: Exception | None = field(default=None, compare=False, repr=False)

    def message(self) -> str:
        return f"plugin {self.plugin!r} from package {self.package!r} is broken: {self.error}"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager of the ``rapdarts`` hooks; it knows each plugin's package and the plugins that failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.load_failures: list[PluginFailure] = []
        self.packages: dict[str, str] = {}
        """``"name version"`` of the distribution that registered each plugin (``in-process`` for objects)."""

    def load_entry_points(self) -> None:
        """Register every unblocked entry-point plugin; record those that fail to import or clash."""
        for entry_point, package in _entry_points():
            if self.is_blocked(entry_point.name):
                continue
            if self.has_plugin(entry_point.name):
                self.load_failures.append(PluginFailure(
                    entry_point.name, package, f"another package registers the same plugin name "
                    f"{entry_point.name!r} (from {self.packages[entry_point.name]})"))
                continue
            try:
                self.register(entry_point.load(), name=entry_point.name)
            except Exception as error:  # noqa: BLE001 - any failure of third-party code is reported, not fatal
                self.load_failures.append(PluginFailure(entry_point.name, package, f"{type(error).__name__}: {error}"))
                continue
            self.packages[entry_point.name] = package

    def register_in_process(self, plugin: object) -> None:
        """Register a plugin object (a notebook's, a test's) under its ``__name__`` or class name."""
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if not self.is_blocked(name):
            self.register(plugin, name=name)
            self.packages[name] = "in-process"

    def call_each(self, hook: str, **kwargs: object) -> Iterable[tuple[str, object, Exception | None]]:
        """Call ``hook`` through pluggy's relay for one implementing plugin at a time.

        Yields ``(plugin name, results, None)`` or ``(plugin name, None, error)``: a plugin that
        raises does not stop the others.
        """
        implementations = getattr(self.hook, hook).get_hookimpls()
        plugins = [implementation.plugin for implementation in implementations]
        for implementation in implementations:
            others = [plugin for plugin in plugins if plugin is not implementation.plugin]
            caller = self.subset_hook_caller(hook, remove_plugins=others)
            try:
                yield implementation.plugin_name, caller(**kwargs), None
            except Exception as error:  # noqa: BLE001 - third-party code
                yield implementation.plugin_name, None, error


@dataclass
class Providers:
    """The discovered providers by name, the plugins that failed, and how to make an instance of a provider.

    ``get("latency@phone")`` makes the instance on first use (see :mod:`rapdarts.plugins.instances`).
    """

    by_name: dict[str, CostProvider] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    make_instance: Callable[[str], CostProvider] | None = None

    def get(self, name: str) -> CostProvider:
        """The provider ``name``, or a one-line error listing the known ones (and broken plugins)."""
        if name in self.by_name:
            return self.by_name[name]
        provider, target = split_instance(name)
        if target and provider in self.by_name and self.make_instance is not None:
            instance = self.make_instance(name)
            base = self.by_name[provider]
            if instance.unit != base.unit:
                raise RapdartsError(f"cost {name!r} is in {instance.unit!r} but {provider!r} is in {base.unit!r}: the "
                                    f"instances of one provider must share a unit; check the options of {name}")
            self.by_name[name] = instance
            return instance
        known = ", ".join(sorted(self.by_name)) or "none"
        broken = "".join(f"; {failure.message()}" for failure in self.failures)
        raise RapdartsError(f"unknown cost {name!r}; available costs: {known} (see 'rapdarts costs'; an instance is "
                            f"NAME@TARGET of one of them){broken}")

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
                       entry_points: bool = True) -> PluginManager:
    """A manager with every entry-point plugin (except ``block``ed names) and ``plugins`` registered.

    ``plugins`` are registered in-process (notebooks, tests) under their ``__name__`` or class name;
    nothing is loaded before this is called.
    """
    manager = PluginManager()
    for name in block:
        manager.set_blocked(name)
    if entry_points:
        manager.load_entry_points()
    for plugin in plugins:
        manager.register_in_process(plugin)
    return manager


def discover_providers(block: Iterable[str] = (), plugins: Iterable[object] = (),
                       options: Mapping[str, str] | None = None, entry_points: bool = True) -> Providers:
    """Every cost provider of every (unblocked) plugin; broken plugins are recorded, not raised.

    Two providers with the same name are an error naming both origins and the plugin to block,
    since a cost name must mean one thing.
    """
    manager = get_plugin_manager(block, plugins, entry_points)
    options = dict(options or {})
    result = Providers(failures=list(manager.load_failures))
    for name, contributed, failure in _contributions(manager, options, ""):
        if failure is not None:
            result.failures.append(failure)
            continue
        for provider in contributed:
            if provider.name in result.by_name:
                raise RapdartsError(_duplicate_message(result.by_name[provider.name], provider))
            result.by_name[provider.name] = _with_options(provider, provider.name, options)
    for failure in result.failures:
        log.debug(failure.message())

    def make_instance(instance: str) -> CostProvider:
        provider, target = split_instance(instance)
        plugin = result.by_name[provider].plugin
        routed = provider_options(options, instance)
        for name, contributed, failure in _contributions(manager, routed, target, only=plugin):
            if failure is not None and failure.cause is not None and isinstance(failure.cause, RapdartsError):
                raise RapdartsError(f"cost {instance!r}: {failure.cause}") from None  # the plugin's own words
            if failure is not None:
                raise RapdartsError(f"cost {instance!r}: {failure.message()}")
            for made in contributed:
                if made.name == provider:
                    return _with_options(replace(made, name=instance), instance, options)
        raise RapdartsError(f"cost {instance!r}: plugin {plugin!r} made no provider {provider!r} for target {target!r}")

    result.make_instance = make_instance
    return result


def _contributions(manager: PluginManager, options: Mapping[str, str], target: str, only: str | None = None
                   ) -> Iterable[tuple[str, list[CostProvider], PluginFailure | None]]:
    """Each plugin's checked providers (or why it failed), the hook called with ``options`` and ``target``."""
    for name, returned, error in manager.call_each("rapdarts_cost_providers", options=dict(options), target=target):
        if only is not None and name != only:
            continue
        package = manager.packages.get(name, "unknown")
        try:
            if error is not None:
                raise error
            contributed = [provider for providers in returned for provider in providers]  # type: ignore[union-attr]
            for provider in contributed:
                if not isinstance(provider, CostProvider) or not callable(provider.cost) or not provider.name:
                    raise TypeError(f"returned {type(provider).__name__}, not a CostProvider with a name and a "
                                    "callable cost")
        except Exception as failure:  # noqa: BLE001 - third-party code
            yield name, [], PluginFailure(name, package, f"{type(failure).__name__}: {failure}", failure)
            continue
        yield name, [replace(provider, package=package, plugin=name) for provider in contributed], None


def _with_options(provider: CostProvider, name: str, options: Mapping[str, str]) -> CostProvider:
    """The provider with the options it was made with recorded (they key its on-disk cache)."""
    return replace(provider, options=tuple(sorted(provider_options(options, name).items())))


def _duplicate_message(first: CostProvider, second: CostProvider) -> str:
    """Two providers of one cost name: advise blocking the one that is not rapdarts' own."""
    other = first if second.package.startswith("rapdarts ") else second
    return (f"two plugins provide the cost {second.name!r}: {first.origin} and {second.origin}; "
            f"uninstall one or block it with --block-plugin {other.plugin}")
