"""int8 models with ONNX Runtime's own quantization tooling: static, QDQ, calibrated on real inputs.

``quantize_static`` inserts QuantizeLinear/DequantizeLinear pairs around every quantizable op, with
scales and zero points calibrated (min-max) on the inputs given, weights per output channel; ONNX
Runtime's graph optimiser then fuses the pairs into int8 kernels (QLinearConv and friends) when a
session is made, which is what a deployed int8 model runs. Unsigned activations and signed weights
(U8S8): ONNX Runtime's x86 CPU int8 kernels take their fast path with them, where signed
activations can be slower than fp32 (``benchmarks/RESULTS.md`` has what this project measured).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from rapdarts.data import ImageData, evaluation_batches
from rapdarts.errors import RapdartsError

CALIBRATION_BATCHES = 8
"""Calibration inputs used per model at most (min-max calibration needs few)."""


class _Inputs:
    """ONNX Runtime's ``CalibrationDataReader``: one input batch per call, then ``None``."""

    def __init__(self, name: str, batches: Sequence[np.ndarray]):
        self._batches = iter({name: np.ascontiguousarray(batch, dtype=np.float32)} for batch in batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # pragma: no cover - the calibrator may ask; one pass is all it needs here
        pass


def quantize_int8(model: bytes | str | Path, calibration: Sequence[np.ndarray], what: str = "model") -> bytes:
    """The int8 (QDQ) version of an ONNX model, calibrated on ``calibration`` (input batches of its input shape)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise RapdartsError(f"int8 quantization of {what} needs calibration inputs")
    with tempfile.TemporaryDirectory(prefix="rapdarts-int8-") as work:
        source = Path(work) / "fp32.onnx"
        source.write_bytes(model if isinstance(model, bytes) else Path(model).read_bytes())
        prepared = Path(work) / "prepared.onnx"
        try:  # shape inference and constant folding, as the tooling recommends before quantizing
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - a model the pre-processing cannot handle is quantized as it is
            prepared = source
        name = onnx.load(str(prepared)).graph.input[0].name
        out = Path(work) / "int8.onnx"
        try:
            with _quiet_tooling():
                quantize_static(str(prepared), str(out), _Inputs(name, list(calibration)[:CALIBRATION_BATCHES]),
                                quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        except Exception as error:  # noqa: BLE001 - the tooling raises many types
            raise RapdartsError(f"int8 quantization of {what} failed: {type(error).__name__}: "
                                f"{str(error).splitlines()[0] if str(error) else ''}") from None
        return out.read_bytes()


@contextmanager
def _quiet_tooling() -> Iterator[None]:
    """The quantization tooling logs per-tensor notes (a BN weight it leaves per-tensor, initialisers it drops) at
    warning level, through Python's root logger and ONNX Runtime's own; neither is news to a user."""
    import onnxruntime

    logging.disable(logging.WARNING)
    onnxruntime.set_default_logger_severity(3)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        onnxruntime.set_default_logger_severity(2)


def onnx_accuracy(model: bytes | str | Path, data: ImageData, batch: int) -> float:
    """Top-1 accuracy of an ONNX classifier on ``data`` (normalised as in training), run by ONNX Runtime on the
    CPU in batches of its static batch size (a last, partial batch is padded and its padding ignored)."""
    from rapdarts.ondevice.timing import TimingSettings, make_session

    session = make_session(model if isinstance(model, bytes) else Path(model), TimingSettings())
    name = session.get_inputs()[0].name
    correct = 0
    for x, y in evaluation_batches(data, batch, torch.device("cpu")).iterate():
        inputs = x.contiguous().numpy()
        if len(inputs) < batch:
            inputs = np.concatenate([inputs, np.zeros((batch - len(inputs), *inputs.shape[1:]), inputs.dtype)])
        logits = session.run(None, {name: inputs})[0][:len(y)]
        correct += int((logits.argmax(1) == y.numpy()).sum())
    return correct / len(data)


def calibration_batches(data: ImageData, batch: int, count: int = 32) -> list[np.ndarray]:
    """``count`` images of ``data`` spread over the set, normalised as in training, in batches of ``batch``."""
    step = max(1, len(data) // count)
    picked = data.subset(torch.arange(0, len(data), step)[:count])
    images = torch.cat([x for x, _ in evaluation_batches(picked, count, torch.device("cpu")).iterate()])
    usable = len(images) - len(images) % batch or len(images)
    return [images[i:i + batch].contiguous().numpy() for i in range(0, usable, batch)][:CALIBRATION_BATCHES]
