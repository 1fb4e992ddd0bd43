"""What int8 costs in accuracy and buys in latency: a network trained on the CIFAR-10 subset, fp32 against int8.

Trains PDARTS at CPU size (C=16, 8 cells by default) on the CIFAR-10 subset (ImageFolder, 10,000
training / 2,000 test images) through ``rapdarts.train``, exports it (verified against torch),
quantizes it exactly as ``rapdarts export --int8`` does (ONNX Runtime's static QDQ quantization,
calibrated on training images), then reports both models' test top-1 as ONNX Runtime computes it
and both latencies with the project's stopwatch (interleaved rounds, the latency statistic), in
the same run on this machine.

    python benchmarks/int8_accuracy.py                    # about 15 min on 2 cores
    python benchmarks/int8_accuracy.py --epochs 1 --train-subset 2000 --no-write     # smoke
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--run-dir", help="keep the training run here")
    parser.add_argument("--no-write", action="store_true")
    from common import CIFAR_SUBSET, check_image_folder, machine, report

    parser.add_argument("--data-dir", default=str(CIFAR_SUBSET))
    args = parser.parse_args()
    check_image_folder(args.data_dir)

    import torch

    from rapdarts.api import train
    from rapdarts.data import load_dataset
    from rapdarts.deploy.export import export_checked, random_inputs
    from rapdarts.deploy.quantize import calibration_batches, onnx_accuracy, quantize_int8
    from rapdarts.ondevice import TimingSettings, time_models
    from rapdarts.space.genotype import preset
    from rapdarts.train.checkpoint import load_trained
    from rapdarts.train.config import train_profile_config

    config = train_profile_config("cpu").updated({
        "dataset": "imagefolder", "data_dir": args.data_dir, "image_size": 32, "init_channels": args.channels,
        "cells": args.cells, "epochs": args.epochs, "train_subset": args.train_subset, "device": "cpu",
        "threads": args.threads, "report_costs": ("params",), "onnx_latency": False}, "benchmark")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = train(config, preset("PDARTS"), run_dir=args.run_dir or Path(scratch) / "run",
                       genotype_source="PDARTS", show_progress=False)
        weights = load_trained(result.run_dir)
    training_seconds = time.perf_counter() - started
    shape = weights.shape
    fp32 = export_checked(weights.network(), shape).onnx
    train_data = load_dataset("imagefolder", args.data_dir, train=True, image_size=32)
    test_data = load_dataset("imagefolder", args.data_dir, train=False, image_size=32)
    int8 = quantize_int8(fp32, calibration_batches(train_data, 1), what="the trained network")
    accuracy = {"fp32": onnx_accuracy(fp32, test_data, 1), "int8": onnx_accuracy(int8, test_data, 1)}
    inputs = random_inputs(shape, 1).numpy()
    timings = time_models([("fp32", fp32, inputs), ("int8", int8, inputs)], TimingSettings(sessions=12))
    latency = {name: timing.latency_ms for name, timing in timings.items()}
    out = {"benchmark": "int8_accuracy", "machine": machine(torch.device("cpu")), "config": config.to_dict(),
           "params": result.report["parameters"]["without_auxiliary"], "training_seconds": training_seconds,
           "torch_test_accuracy": result.report["test"]["accuracy"], "onnx_test_accuracy": accuracy,
           "latency_ms": latency, "test_images": len(test_data), "model_bytes": {"fp32": len(fp32), "int8": len(int8)}}
    summary = (f"PDARTS C={args.channels}, {args.cells} cells, {args.epochs} epochs on the CIFAR-10 subset: test top-1 "
               f"fp32 {100 * accuracy['fp32']:.2f}%, int8 {100 * accuracy['int8']:.2f}% "
               f"({100 * (accuracy['int8'] - accuracy['fp32']):+.2f} points, {len(test_data):,} images, ONNX Runtime); "
               f"latency fp32 {latency['fp32']:.3f} ms, int8 {latency['int8']:.3f} ms "
               f"({latency['int8'] / latency['fp32']:.2f}x, 1 thread, batch 1, same run); training "
               f"{training_seconds / 60:.1f} min")
    report("int8_accuracy", out, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
