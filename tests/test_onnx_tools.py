"""ONNX export and ONNX Runtime timing helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rapdarts.deploy.onnx_export import TimingSettings, export_onnx, make_session, run_session, time_model
from rapdarts.errors import RapdartsError
from rapdarts.ondevice import timing as timing_module
from rapdarts.ondevice.timing import time_models
from rapdarts.space.genotype import preset
from rapdarts.space.network import EvalNetwork


def test_exported_network_matches_torch(tmp_path):
    net = EvalNetwork(preset("PDARTS"), init_channels=8, cells=5, auxiliary=False).eval()
    x = torch.randn(2, 3, 32, 32)
    data = export_onnx(net, x, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == data
    out = run_session(make_session(data, TimingSettings()), x.numpy())
    assert np.abs(out - net(x)[0].detach().numpy()).max() < 1e-4


def test_timing_reports_median_and_spread():
    data = export_onnx(torch.nn.Conv2d(4, 4, 3), torch.randn(1, 4, 8, 8))
    # No extra sessions: on a busy machine two real sessions may disagree, and re-timing would add more.
    settings = TimingSettings(warmup=2, repeats=5, sessions=2, extra_sessions=0)
    timing = time_model(data, np.random.rand(1, 4, 8, 8).astype(np.float32), settings)
    assert timing.p10_ms <= timing.median_ms <= timing.p90_ms and len(timing.session_medians_ms) == 2


def _scripted_sessions(monkeypatch, medians_by_model):
    """Replace real sessions by scripted ones: each call returns the next median for that model."""
    calls = {name: iter(values) for name, values in medians_by_model.items()}
    monkeypatch.setattr(timing_module, "session_times", lambda model, inputs, settings: [next(calls[model])] * 3)


def test_noisy_model_is_timed_again_and_its_outlier_session_dropped(monkeypatch):
    _scripted_sessions(monkeypatch, {"steady": [1.0, 1.01, 0.99], "jumpy": [1.0, 1.5, 1.02, 0.98, 1.01, 1.0, 0.99]})
    settings = TimingSettings(sessions=3, noise_threshold=0.10, extra_sessions=4)
    inputs = np.zeros(1, dtype=np.float32)
    timings = time_models([("steady", "steady", inputs), ("jumpy", "jumpy", inputs)], settings)
    assert len(timings["steady"].session_medians_ms) == 3
    assert timings["jumpy"].session_medians_ms == [1.0, 1.02, 0.98, 1.01, 1.0, 0.99]  # 7 sessions, 1.5 dropped
    assert timings["jumpy"].median_ms == pytest.approx(1.0) and not timings["jumpy"].noisy


def test_model_that_stays_noisy_is_flagged_with_all_its_sessions(monkeypatch):
    _scripted_sessions(monkeypatch, {"busy": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]})
    timing = time_models([("busy", "busy", np.zeros(1, dtype=np.float32))],
                         TimingSettings(sessions=3, noise_threshold=0.10, extra_sessions=3))["busy"]
    assert timing.noisy and len(timing.session_medians_ms) == 6 and timing.median_ms == 2.0


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
