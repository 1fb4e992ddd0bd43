"""ONNX export and ONNX Runtime timing helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rapdarts.deploy.onnx_export import TimingSettings, export_onnx, make_session, run_session, time_model
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import preset
from rapdarts.space.network import EvalNetwork


def test_exported_network_matches_torch(tmp_path):
    net = EvalNetwork(preset("PDARTS"), init_channels=8, cells=5, auxiliary=False).eval()
    x = torch.randn(2, 3, 32, 32)
    data = export_onnx(net, x, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == data
    out = run_session(make_session(data, TimingSettings()), x.numpy())
    assert np.abs(out - net(x)[0].detach().numpy()).max() < 1e-4


def test_timing_reports_the_latency_statistic_and_its_sessions():
    data = export_onnx(torch.nn.Conv2d(4, 4, 3), torch.randn(1, 4, 8, 8))
    # No extra sessions: on a busy machine two real sessions may disagree, and re-timing would add more.
    settings = TimingSettings(warmup=2, repeats=10, block=5, sessions=2, extra_sessions=0)
    timing = time_model(data, np.random.rand(1, 4, 8, 8).astype(np.float32), settings)
    summary = timing.to_dict()
    blocks = [b for session in timing.blocks_ms for b in session]
    # the Harrell-Davis 10th percentile weighs every block, most the fastest: between the fastest and the p90
    assert min(blocks) <= timing.latency_ms <= summary["p90_ms"] and summary["latency_ms"] == timing.latency_ms
    assert len(timing.session_medians_ms) == 2 and [len(blocks) for blocks in timing.blocks_ms] == [2, 2]


def test_unavailable_provider_and_level_are_clear_errors():
    data = export_onnx(torch.nn.ReLU(), torch.randn(1, 1, 2, 2))
    with pytest.raises(RapdartsError, match="execution provider 'NoSuchExecutionProvider' is not available"):
        make_session(data, TimingSettings(provider="NoSuchExecutionProvider"))
    with pytest.raises(RapdartsError, match="optimisation level 'max'"):
        make_session(data, TimingSettings(optimization="max"))


def test_export_failure_names_what_was_exported():
    class Broken(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.eig(x)[0].real

    with pytest.raises(RapdartsError, match="ONNX export of the broken op failed"):
        export_onnx(Broken(), torch.randn(2, 2), what="the broken op")
