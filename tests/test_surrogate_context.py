"""Ops inside a network from ops alone: chains timed with the surrogate sample, the ratio model, network prices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.latency.surrogate import LatencySurrogate
from rapdarts.latency.surrogate_context import (
    CHAIN_EVERY,
    CHAIN_LENGTH,
    RATIO_RANGE,
    chainable,
    chosen_for_chain,
    export_chain,
    measured_ratio,
)
from rapdarts.latency.surrogate_cost import surrogate_provider
from rapdarts.latency.surrogate_design import Design, DesignRanges
from rapdarts.latency.surrogate_features import FeatureMaker
from rapdarts.latency.surrogate_networks import calibration_plan, fit_context_weight, shape_label
from rapdarts.latency.surrogate_sample import export_op, profile_sample
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import TimingSettings
from rapdarts.space.genotype import Genotype, preset
from rapdarts.space.ops import is_zero

SMALL = DesignRanges((8, 48), (4, 16), (1, 4), 2 ** 15)
FAST = TimingSettings(warmup=1, repeats=4, sessions=2, block=2, extra_sessions=0)
OVERHEAD_MS = 0.003
BOUNDARY_MS = 2e-6
"""What a model pays per input element at its boundaries (the graph input and output), once per model."""
NODE_MS = 1e-6
"""What every node of a model costs per input element."""


def nodes(model) -> int:
    proto = onnx.load(str(model)) if isinstance(model, (str, Path)) else onnx.load_model_from_string(model)
    return sum(node.op_type != "Identity" for node in proto.graph.node)  # the exporter's aliases of shared weights


class BoundaryDevice:
    """A runner by a known law: overhead, a boundary cost once per model, and a cost per node, all per element.

    An op of ``m`` nodes alone is priced ``(BOUNDARY + m NODE) size``; in a chain each further copy adds
    ``m NODE size``: its in-chain ratio is ``m NODE / (BOUNDARY + m NODE)``, the same at every shape.
    """

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def runner(self, model, inputs, settings):
        self.now += 0.2
        return [OVERHEAD_MS + inputs.size * (BOUNDARY_MS + nodes(model) * NODE_MS)] * settings.repeats


def expected_ratio(spec: OpSpec) -> float:
    m = nodes(export_op(spec))
    return m * NODE_MS / (BOUNDARY_MS + m * NODE_MS)


def test_chainable_configurations_and_the_stable_choice():
    assert chainable(OpSpec("sep_conv_3x3", 16, 16, 1, 8, 8)) and chainable(OpSpec("relu_conv_bn", 16, 16, 1, 8, 8))
    assert not chainable(OpSpec("sep_conv_3x3", 16, 16, 2, 8, 8))  # the shape changes
    assert not chainable(OpSpec("relu_conv_bn", 16, 32, 1, 8, 8)) and not chainable(OpSpec("stem", 3, 48, 1, 8, 8))
    specs = [spec for spec in Design(seed=3, ranges=SMALL).take(400) if chainable(spec)]
    chosen = [spec for spec in specs if chosen_for_chain(spec)]
    assert abs(len(chosen) / len(specs) - 1 / CHAIN_EVERY) < 0.08
    assert chosen == [spec for spec in specs if chosen_for_chain(spec)]  # by the key's digest: the same every time


def test_a_chain_is_the_op_repeated():
    spec = OpSpec("dil_conv_3x3", 8, 8, 1, 6, 6)
    assert nodes(export_chain(spec, 3)) == 3 * nodes(export_op(spec))


def test_the_measured_ratio_of_an_entry():
    entry = {"latency_ms": 1.0, "chain_length": 3, "chain_ms": 2.2}
    assert measured_ratio(entry, 0.2) == pytest.approx((2.2 - 1.0) / 2 / 0.8)
    assert measured_ratio({"latency_ms": 1.0}, 0.2) is None
    assert measured_ratio({**entry, "chain_ms": 0.9}, 0.2) == RATIO_RANGE[0]  # a noisy pair is clipped
    assert measured_ratio({**entry, "latency_ms": 0.1}, 0.2) is None  # nothing left after the overhead


@pytest.fixture(scope="module")
def boundary_surrogate(tmp_path_factory):
    out = tmp_path_factory.mktemp("context") / "sample.json"
    device = BoundaryDevice()
    profile_sample(out, FAST, minutes=0.5, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                   clock=device.clock)
    return LatencySurrogate.fit(LatencyTable.load(out), kind="powerlaw")


def test_the_profile_times_chains_and_the_surrogate_recovers_the_ratio_law(boundary_surrogate):
    surrogate = boundary_surrogate
    table = LatencyTable.load(surrogate.sources[0])
    chained = [entry for entry in table.entries.values() if entry.get("chain_ms") is not None]
    assert chained and all(entry["chain_length"] == CHAIN_LENGTH for entry in chained)
    assert all(chosen_for_chain(OpSpec(**entry["spec"])) == ("chain_ms" in entry) for entry in table.entries.values())
    for entry in chained:  # the law: a chain of K costs the boundary once and K ops (the overhead model: 1 element)
        ratio = measured_ratio(entry, table.header["overhead_ms"])
        assert ratio == pytest.approx(expected_ratio(OpSpec(**entry["spec"])), rel=3e-3)
    ops = sorted({entry["spec"]["op"] for entry in chained})
    fresh = [spec for spec in Design(seed=9, ranges=SMALL).take(300) if spec.op in ops]
    predicted = surrogate.context.predict(FeatureMaker().rows(fresh), [spec.op for spec in fresh])
    assert np.allclose(predicted, [expected_ratio(spec) for spec in fresh], rtol=0.02)  # unseen shapes, stride 2 too
    assert surrogate.context_weight == 0.0  # no whole networks were timed: no evidence that a network saves it
    assert np.all(surrogate.context_ratios(fresh) == 1.0)
    surrogate.context_fit["weight"] = 0.5  # a network that saves half the boundary cost
    assert np.allclose(surrogate.context_ratios(fresh), [1 - 0.5 * (1 - expected_ratio(s)) for s in fresh], rtol=0.02)
    stem = OpSpec("stem", 3, 12, 1, 8, 8)
    assert surrogate.context_ratios([stem])[0] == 1.0  # at the graph input: no neighbour before it
    surrogate.context_fit["weight"] = 0.0


def test_a_network_is_priced_with_its_ops_in_context_and_a_search_adds_the_same(boundary_surrogate, tmp_path):
    surrogate = boundary_surrogate
    surrogate.context_fit["weight"] = 1.0
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 12, 5, batch=2)
    genotype = preset("PDARTS")
    alone = surrogate.predict_network(genotype, target, context=False)
    inside = surrogate.predict_network(genotype, target)
    specs = [spec for spec in target.genotype_specs(genotype) if not is_zero(spec.op)]
    overhead = surrogate.header["overhead_ms"]
    by_hand = sum(surrogate.in_context(spec, float(t), float(r)) - overhead * (spec.op != "stem")
                  for spec, t, r in zip(specs, surrogate.predict_specs(specs), surrogate.context_ratios(specs)))
    assert inside == pytest.approx(by_hand, rel=1e-6, abs=1e-9) and inside < alone
    path = surrogate.save(tmp_path / "model.json")
    loaded = LatencySurrogate.load(path)  # the chains travel in the file and are refitted on load
    assert loaded.context_fit == surrogate.context_fit
    assert loaded.predict_network(genotype, target) == pytest.approx(inside, rel=1e-9)
    provider = surrogate_provider("surrogate", {"surrogate.model": str(path)})
    assert sum(provider.cost(spec) for spec in specs) == pytest.approx(inside, rel=1e-9)
    surrogate.context_fit["weight"] = 0.0


def _networks_saving(surrogate, share_of):
    """Calibration networks measured as ``alone - share (alone - chains)``, ``share_of(record)`` per network."""
    surrogate.context_fit["weight"] = 1.0
    records = []
    for record in calibration_plan(varied=4, seed=0, shape=DataShape(10, 1, (8, 8))):
        genotype, target = Genotype.from_dict(record["genotype"], "test"), TargetNetwork.from_dict(record["target"])
        alone = surrogate.predict_network(genotype, target, calibrated=False, context=False)
        chained = surrogate.predict_network(genotype, target, calibrated=False)
        measured = alone - share_of(record) * (alone - chained)
        records.append({**record, "blocks_ms": [[measured]], "latency_ms": measured})
    return records


@pytest.mark.parametrize("saved, held_out_saved, kept", [(0.4, 0.4, True), (0.4, 0.0, False), (1.7, 1.7, True)])
def test_the_share_of_the_boundary_a_network_saves_is_fitted_on_whole_networks(boundary_surrogate, saved,
                                                                               held_out_saved, kept):
    """Networks measured as ``alone - w (alone - chains)``: the fit recovers ``w`` (within [0, 1]) and keeps it only
    when the held-out networks agree."""
    surrogate = boundary_surrogate
    records = _networks_saving(surrogate, lambda record: held_out_saved if record["role"] == "held_out" else saved)
    check = fit_context_weight(surrogate, records)
    assert check["fitted_weight"] == pytest.approx(saved, rel=1e-6)
    assert set(check["weights_by_shape"]) == {"C16-b1", "C36-b1", "C16-b4", "C36-b4"}
    assert check["weight"] == surrogate.context_weight == pytest.approx(min(saved, 1.0) if kept else 0.0)
    assert (check["held_out_error_blended"] < check["held_out_error_alone"]) == kept
    surrogate.context_fit["weight"] = 0.0


def test_the_weight_is_the_saving_every_calibration_shape_shows(boundary_surrogate):
    """C=16 networks save all of the boundary, C=36 ones 30% (as measured on two samples, 2026-12-04): a pooled or
    median weight would price C=36 with the C=16 saving; the smallest is kept, and every shape left out of the fit
    is priced exactly by the others' smallest."""
    surrogate = boundary_surrogate
    records = _networks_saving(surrogate, lambda record: 1.0 if record["target"]["init_channels"] == 16 else 0.3)
    check = fit_context_weight(surrogate, records)
    assert check["weights_by_shape"]["C16-b1"] == pytest.approx(1.0, rel=1e-6)
    assert check["fitted_weight"] == check["weight"] == surrogate.context_weight == pytest.approx(0.3, rel=1e-6)
    by_shape = check["shape_left_out"]["by_shape"]
    assert by_shape["C36-b1"]["weight"] == pytest.approx(0.3, rel=1e-6)
    assert by_shape["C36-b1"]["error_blended"] == pytest.approx(0.0, abs=1e-9)
    assert all(shape["error_blended"] <= shape["error_alone"] for shape in by_shape.values())
    surrogate.context_fit["weight"] = 0.0


def test_a_saving_that_does_not_carry_to_a_shape_left_out_is_not_kept(boundary_surrogate):
    """One shape saves 5% of the boundary, three save 60%, every held-out network 5%: the smallest (0.05) prices the
    held-out networks better than the ops alone, but the shape that saves 5% priced with the others' 60% is worse
    than its ops alone: their saving does not carry, and the ops are priced alone."""
    surrogate = boundary_surrogate
    records = _networks_saving(surrogate, lambda record: 0.05 if record["role"] == "held_out"
                               or shape_label(record["target"]) == "C16-b1" else 0.6)
    check = fit_context_weight(surrogate, records)
    assert check["fitted_weight"] == pytest.approx(0.05, rel=1e-6)
    assert check["held_out_error_blended"] < check["held_out_error_alone"]
    left_out = check["shape_left_out"]["by_shape"]["C16-b1"]
    assert left_out["weight"] == pytest.approx(0.6, rel=1e-6) and left_out["error_blended"] > left_out["error_alone"]
    assert check["weight"] == surrogate.context_weight == 0.0
    surrogate.context_fit["weight"] = 0.0


def test_a_sample_without_chains_prices_ops_at_their_time_alone(boundary_surrogate):
    surrogate = LatencySurrogate(**{**boundary_surrogate.__dict__, "context_fit": None, "models": {}, "context": None})
    surrogate._train()
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 12, 5)
    genotype = preset("PDARTS")
    assert surrogate.context is None
    assert surrogate.predict_network(genotype, target) == surrogate.predict_network(genotype, target, context=False)


def test_a_model_file_whose_chains_name_missing_samples_is_a_one_line_error(boundary_surrogate, tmp_path):
    import json

    from rapdarts.errors import RapdartsError

    path = boundary_surrogate.save(tmp_path / "model.json")
    data = json.loads(path.read_text())
    data["context"] = {"index": [len(data["keys"]) + 5], "ratio": [0.5], "weight": 1.0}
    path.write_text(json.dumps(data))
    with pytest.raises(RapdartsError, match=r"model.json is corrupt .*fit it again"):
        LatencySurrogate.load(path)
