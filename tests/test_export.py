"""Exporting evaluation networks to ONNX and evaluating trained checkpoints, with their error cases."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from rapdarts.cli import main
from rapdarts.data import DataShape
from rapdarts.deploy.export import export_checked
from rapdarts.deploy.onnx_export import TimingSettings, make_session, run_session
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import preset
from rapdarts.space.network import EvalNetwork
from rapdarts.train.checkpoint import load_state, load_trained


def _error_of(args, capsys) -> tuple[int, str]:
    status = main(args)
    return status, capsys.readouterr().err.strip()


def test_export_of_a_trained_run_reproduces_its_logits(tiny_training, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    assert main(["export", str(tiny_training), "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "trained weights from" in out and "max abs diff" in out
    graph = onnx.load(str(path)).graph
    names = [node.name for node in graph.node] + [init.name for init in graph.initializer]
    assert not [name for name in names if "auxiliary" in name]
    network = load_trained(tiny_training).network()
    assert network.auxiliary_head is None
    x = torch.randn(1, 1, 8, 8)
    onnx_logits = run_session(make_session(path, TimingSettings()), x.numpy())
    assert onnx_logits.shape == (1, 10)
    assert np.abs(onnx_logits - network(x)[0].detach().numpy()).max() < 1e-4


def test_export_of_a_genotype_is_an_untrained_network_of_the_requested_shape(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    assert main(["export", "DARTS_V2", "--onnx", str(path), "--init-channels", "4", "--cells", "5", "--classes", "7",
                 "--in-channels", "1", "--image-size", "16", "--batch", "2"]) == 0
    assert "UNTRAINED" in capsys.readouterr().out
    out = run_session(make_session(path, TimingSettings()), np.zeros((2, 1, 16, 16), np.float32))
    assert out.shape == (2, 7)


def test_export_of_a_search_run_takes_the_dataset_shape_from_the_run(tiny_search, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    # --channels and --layers: the former names of --init-channels and --cells still work
    assert main(["export", str(tiny_search.run_dir), "--onnx", str(path), "--channels", "4", "--layers", "5"]) == 0
    inputs = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in inputs] == [1, 1, 8, 8]  # digits: 1 channel, 8x8


def test_export_check_catches_a_mismatch():
    class Drifting(EvalNetwork):
        """Differs between the traced export and later torch calls."""

        def forward(self, x):
            logits, aux = super().forward(x)
            self.calls = getattr(self, "calls", 0) + 1
            return logits + (0.5 if self.calls > 1 else 0.0), aux

    model = Drifting(preset("PDARTS"), init_channels=4, cells=5, auxiliary=False, in_channels=1, image_size=(8, 8))
    with pytest.raises(RapdartsError, match="differs from torch by 0.5"):
        export_checked(model, DataShape(10, 1, (8, 8)))


def test_evaluate_reproduces_the_final_test_accuracy(tiny_training, capsys):
    assert main(["evaluate", str(tiny_training), "--json", "--batch-size", "32", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    report = json.loads((tiny_training / "report.json").read_text())
    assert result["images"] == 360 and result["epoch"] == 3
    assert result["accuracy"] == pytest.approx(report["test"]["accuracy"])
    assert result["loss"] == pytest.approx(report["test"]["loss"], rel=1e-4)


def test_weights_of_another_width_are_a_one_line_error(tiny_training):
    wider = EvalNetwork(preset("PDARTS"), init_channels=6, cells=5, in_channels=1, image_size=(8, 8))
    with pytest.raises(RapdartsError, match="do not fit the network") as error:
        load_state(wider, load_trained(tiny_training).state, "x.pt")
    assert len(str(error.value).splitlines()) == 1


def _image_folder(root, classes: int):
    for split in ("train", "test"):
        for label in range(classes):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(2):
                Image.new("L", (8, 8), color=40 * index + label).save(folder / f"{index}.png")
    return root


def test_checkpoint_mismatches_are_one_line_errors(tiny_training, tiny_search, tmp_path, capsys):
    checkpoint = str(tiny_training / "checkpoint.pt")
    cases = [
        (["export", "DARTS_V2", "--onnx", str(tmp_path / "a.onnx"), "--checkpoint", checkpoint],
         "was trained for another genotype than DARTS_V2 (its normal cell edge 0 is skip_connect<-0"),
        (["evaluate", str(tiny_search.run_dir), "--checkpoint", checkpoint],
         f"was trained for another genotype than the genotype of {tiny_search.run_dir}"),
        (["export", str(tiny_training), "--onnx", str(tmp_path / "b.onnx"), "--classes", "100"],
         "was trained for 10 classes, not the 100 of --classes 100"),
        (["evaluate", str(tiny_training), "--dataset", "imagefolder", "--data-dir",
          str(_image_folder(tmp_path / "f", 3)), "--image-size", "8"],
         "was trained for 10 classes, not the 3 of dataset imagefolder"),
        (["evaluate", str(tiny_search.run_dir)], "is a search checkpoint, not a trained network"),
        (["evaluate", str(tmp_path)], f"{tmp_path} has no checkpoint.pt"),
        (["export", str(tiny_training), "--onnx", str(tmp_path / "c.onnx"), "--channels", "8"],
         "drop --init-channels/--cells"),
    ]
    for args, message in cases:
        status, err = _error_of(args, capsys)
        assert status == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    assert not list(tmp_path.glob("*.onnx"))
