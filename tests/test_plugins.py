"""Plugin discovery through entry points, in-process registration, blocking and broken plugins."""

from __future__ import annotations

from importlib import metadata

import pytest

from rapdarts.cli import main
from rapdarts.costs import CostProvider
from rapdarts.errors import RapdartsError
from rapdarts.plugins import hookimpl
from rapdarts.plugins.manager import discover_providers


class ExtraCost:
    """An in-process plugin, as a notebook would register it."""

    @hookimpl
    def rapdarts_cost_providers(self, options):
        scale = float(options.get("extra.scale", 1.0))
        return [CostProvider("extra", "units", "C_in times a scale", lambda spec: scale * spec.C_in)]


class Duplicate:
    @hookimpl
    def rapdarts_cost_providers(self):
        return [CostProvider("params", "u", "a second params", lambda spec: 1.0)]


class _NoOptions:
    @hookimpl
    def rapdarts_cost_providers(self):
        return [CostProvider("constant", "u", "one per op", lambda spec: 1.0)]


class Exploding:
    @hookimpl
    def rapdarts_cost_providers(self):
        raise RuntimeError("cannot start")


def test_builtins_are_found_through_entry_points():
    providers = discover_providers()
    assert {"params", "flops"} <= set(providers.by_name)
    params = providers.get("params")
    assert params.package.startswith("rapdarts ") and params.plugin == "params" and params.unit == "parameters"
    assert providers.failures == []


def test_hook_rapdarts_cost_providers():
    """The hook, called through pluggy's relay with the options; an implementation may take a subset of them."""
    providers = discover_providers(plugins=[ExtraCost(), _NoOptions()], options={"extra.scale": "3"})
    from rapdarts.costs import OpSpec
    assert providers.get("extra").cost(OpSpec("add", 5, 5, 1, 1, 1)) == 15.0
    assert providers.get("constant").cost(OpSpec("add", 5, 5, 1, 1, 1)) == 1.0


def test_in_process_plugins_and_options():
    providers = discover_providers(plugins=[ExtraCost()], options={"extra.scale": "2"})
    assert providers.get("extra").package == "in-process"
    from rapdarts.costs import OpSpec
    assert providers.get("extra").cost(OpSpec("add", 5, 5, 1, 1, 1)) == 10.0


def test_blocking_a_plugin_by_name():
    providers = discover_providers(block=["flops"])
    assert "flops" not in providers.by_name and "params" in providers.by_name
    with pytest.raises(RapdartsError, match="unknown cost 'flops'; available costs: ") as error:
        providers.get("flops")
    available = str(error.value).split("available costs: ")[1].split(" (")[0].split(", ")
    assert "params" in available and "flops" not in available


def test_two_plugins_with_the_same_cost_name_is_an_error():
    with pytest.raises(RapdartsError, match="two plugins provide the cost 'params'.*--block-plugin Duplicate"):
        discover_providers(plugins=[Duplicate()])


def test_a_raising_plugin_is_reported_and_the_others_still_work():
    providers = discover_providers(plugins=[Exploding()])
    assert "params" in providers.by_name
    assert any(f.plugin == "Exploding" and "RuntimeError: cannot start" in f.error for f in providers.failures)


class _BrokenEntryPoint:
    name = "broken_costs"
    group = "rapdarts"

    def load(self):
        raise ImportError("No module named 'numpy_fancy'")


class _BrokenDistribution:
    """An installed package whose plugin fails to import, as ``importlib.metadata`` would describe it."""

    metadata = {"Name": "broken-costs"}
    version = "0.3"
    entry_points = [_BrokenEntryPoint()]


@pytest.fixture
def broken_entry_point(monkeypatch):
    """Faked at the boundary pluggy's own tests fake: ``importlib.metadata.distributions``."""
    real = metadata.distributions
    monkeypatch.setattr(metadata, "distributions", lambda: [*real(), _BrokenDistribution()])


def test_a_plugin_that_fails_to_import_does_not_stop_the_listing(broken_entry_point, capsys):
    assert main(["costs"]) == 0
    captured = capsys.readouterr()
    assert "params" in captured.out and "flops" in captured.out
    assert "plugin 'broken_costs' from package 'broken-costs 0.3' is broken: ImportError" in captured.err


def test_asking_for_the_cost_of_a_broken_plugin_names_it(broken_entry_point):
    with pytest.raises(RapdartsError, match="unknown cost 'fancy'.*'broken_costs' from package 'broken-costs 0.3'"):
        discover_providers().get("fancy")


def test_costs_command_lists_unit_and_package(capsys):
    assert main(["costs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    params = next(line for line in lines if line.startswith("params"))
    assert "parameters" in params and f"rapdarts {metadata.version('rapdarts')}" in params


# ------------------------------------------------------------------ the contract of every provider
PROVIDER_NAMES = sorted(discover_providers().by_name)
"""Every provider installed here, built-in or third-party: each new one is tested without anyone remembering to."""


def _contract_specs() -> list:
    from rapdarts.costs import OpSpec
    from rapdarts.space.ops import primitives

    specs = []
    for C, size in ((4, 8), (8, 16)):
        specs += [OpSpec(op, C, C, stride, size, size) for op in primitives() for stride in (1, 2)]
        specs += [OpSpec("stem", 1, 3 * C, 1, size, size), OpSpec("relu_conv_bn", 3 * C, C, 1, size, size),
                  OpSpec("factorized_reduce", 4 * C, C, 2, size, size), OpSpec("add", C, C, 1, size, size),
                  OpSpec("concat", C, 4 * C, 1, size, size), OpSpec("classifier", 4 * C, 10, 1, size, size)]
    return specs


@pytest.fixture(scope="module")
def provider_options(tmp_path_factory) -> dict[str, str]:
    """Options that let every built-in provider answer: a small latency table made here (ops missing from it
    are measured on demand) and a surrogate fitted on it."""
    from rapdarts.costs import TargetNetwork
    from rapdarts.data import DataShape
    from rapdarts.latency.maker import make_table
    from rapdarts.latency.surrogate import LatencySurrogate
    from rapdarts.latency.table import LatencyTable
    from rapdarts.ondevice import TimingSettings

    directory = tmp_path_factory.mktemp("contract")
    table = make_table(TargetNetwork(DataShape(10, 1, (8, 8)), 4, 5), directory / "table.json",
                    TimingSettings(warmup=1, repeats=3, sessions=1), networks=0, progress=False)
    LatencySurrogate.fit(LatencyTable.load(table)).save(directory / "surrogate.json")
    return {"latency.table": str(table), "surrogate.model": str(directory / "surrogate.json")}


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_every_provider_keeps_the_contract(name, provider_options):
    """A unit, a version, and a finite cost >= 0 for every primitive and fixed op at two shapes."""
    import math

    from rapdarts.costs import CostCache

    provider = discover_providers(options=provider_options).get(name)
    assert provider.unit and provider.version and provider.description and provider.package
    cache = CostCache(use_disk=False)
    for spec in _contract_specs():
        value = cache.cost(provider, spec)
        assert math.isfinite(value) and value >= 0, (spec.describe(), value)
