"""Training a genotype's evaluation network from scratch (DARTS/P-DARTS evaluation protocol).

Per epoch: the cosine learning rate, drop path ramped linearly (``p * epoch / epochs``, DARTS
``train.py``), one pass over the augmented training images (random crop, flip, cutout), then the
loss and accuracy on the test split, as DARTS and P-DARTS report them. After the last epoch, a
report (``report.json``): test error, parameters, costs from every provider, and the measured
ONNX Runtime latency of the exported network (``model.onnx``).

Reproducibility: the network is initialised from ``(seed, -1)`` and every epoch seeds torch and
its data generator from ``(seed, epoch)``; a checkpoint holding all state is written atomically
at every epoch end, so ``--resume`` continues an interrupted run bit-identically on the CPU.

Run directory::

    config.json  environment.json  genotype.json  metrics.jsonl  checkpoint.pt  train.log
    report.json  model.onnx  plots/learning_curve.png  plots/cells.png
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rapdarts.data import Batches, DataShape, ImageData, balanced_subset, load_dataset
from rapdarts.errors import RapdartsError
from rapdarts.plugins.provider import CostProvider
from rapdarts.runtime import distributed
from rapdarts.runtime.device import prepare_device
from rapdarts.runtime.environment import describe_environment
from rapdarts.runtime.evaluation import Evaluation, evaluate_classifier
from rapdarts.runtime.progress import progress_bar
from rapdarts.runtime.resumable import ResumableRun, StepCallback
from rapdarts.runtime.schedules import cosine_lr
from rapdarts.runtime.seeding import epoch_seed
from rapdarts.runtime.tracking import tracker_for
from rapdarts.space.genotype import Genotype
from rapdarts.storage.rundir import RunDirectory
from rapdarts.train.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_KIND, build_network, load_state, read_checkpoint
from rapdarts.train.config import TrainConfig
from rapdarts.train.report import build_report
from rapdarts.train.step import TrainingStep

log = logging.getLogger("rapdarts")

@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    report: dict[str, Any]


def drop_path_schedule(final: float, epoch: int, epochs: int) -> float:
    """Drop-path probability of ``epoch`` (0-based): linear from 0 towards ``final`` (DARTS train.py)."""
    return final * epoch / epochs


class Trainer(ResumableRun):
    """Trains one genotype into ``run_dir``; :meth:`run` returns the metrics and the final report.

    Nothing is written before :meth:`run`, so a bad setting or dataset leaves no run directory behind.
    ``providers`` are the costs the final report prices the network with.
    """

    LOG_NAME = "train.log"
    CONFIG = TrainConfig

    def __init__(self, config: TrainConfig, genotype: Genotype, run_dir: RunDirectory,
                 providers: Sequence[CostProvider] = (), genotype_source: str = "", show_progress: bool = True,
                 on_step: StepCallback | None = None):
        self.config = config.validate()
        self.genotype = genotype
        self.genotype_source = genotype_source or "genotype"
        self.run_dir = run_dir
        self.show_progress = show_progress
        self.on_step = on_step
        self.cluster = distributed.current()
        distributed.check_batch(self.config.batch_size)
        if self.config.sync_bn and self.cluster.distributed and not self.config.device.startswith("cuda"):
            raise RapdartsError("--sync-bn needs CUDA devices: torch's SyncBatchNorm does not run on the CPU")
        self.show_progress = show_progress and self.cluster.main
        self.device = prepare_device(distributed.rank_device(config.device), config.amp, config.threads,
                                     config.deterministic)
        if self.config.threads is None:  # record the thread count used: results depend on it
            self.config = dataclasses.replace(self.config, threads=torch.get_num_threads())
        self.providers = list(providers)
        self.tracker = tracker_for(self.config.tensorboard, run_dir.path, self.cluster.main)
        self.train_data, self.test_data = self._load_data()
        self.shape = self.train_data.shape
        self.cutout = config.cutout_pixels(self.shape.image_size)
        self.epoch = 0
        self.metrics: list[dict[str, Any]] = []
        self._build()

    # ----------------------------------------------------------------- set-up
    def _load_data(self) -> tuple[ImageData, ImageData]:
        c = self.config
        train = load_dataset(c.dataset, c.data_dir, train=True, image_size=c.image_size)
        test = load_dataset(c.dataset, c.data_dir, train=False, image_size=c.image_size)
        if c.train_subset:
            train = balanced_subset(train, c.train_subset)
        if c.test_subset:
            test = balanced_subset(test, c.test_subset)
        if test.num_classes != train.num_classes:
            raise RapdartsError(f"the test split of {c.dataset} has {test.num_classes} classes, the training split "
                                f"{train.num_classes}; both need the same class folders")
        return train, test

    def _build(self) -> None:
        c = self.config
        torch.manual_seed(epoch_seed(c.seed, 0, -1))
        model = build_network(self.genotype, c, self.shape).to(self.device)
        if c.sync_bn and self.cluster.distributed:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if c.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.training_step = TrainingStep(model, c.lr, c.momentum, c.weight_decay, c.grad_clip, c.auxiliary_weight,
                                          c.amp)

    def batches(self) -> Batches:
        """The augmented training batches (random crop, flip where the dataset allows, cutout)."""
        return Batches(self.train_data, self.config.batch_size, self.device, cutout_length=self.cutout,
                       channels_last=self.config.channels_last)

    def evaluate(self) -> Evaluation:
        """Loss and accuracy on the test split (in a data-parallel job: each process its slice, with rank 0's
        batch-norm statistics, the sums combined)."""
        if not self.cluster.distributed:
            return evaluate_classifier(self.model, self.test_data, self.config.batch_size, self.device,
                                       self.config.channels_last, self.config.amp)
        distributed.broadcast_buffers(self.model)
        data = self.test_data.subset(torch.arange(len(self.test_data))[self.cluster.shard(len(self.test_data))])
        part = evaluate_classifier(self.model, data, self.config.batch_size, self.device, self.config.channels_last,
                                   self.config.amp) if len(data) else Evaluation(0.0, 0.0, 0)
        loss_sum, correct, images = distributed.sum_values([part.loss * part.images, part.accuracy * part.images,
                                                            part.images])
        return Evaluation(loss_sum / images, correct / images, int(images))

    # ----------------------------------------------------------------- epochs
    def _run_epoch(self, bar: Any) -> dict[str, Any]:
        c = self.config
        started = time.perf_counter()
        seed = epoch_seed(c.seed, 0, self.epoch)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        lr = cosine_lr(c.lr, c.lr_min, self.epoch, c.epochs)
        self.training_step.set_lr(lr)
        self.model.drop_path_prob = drop_path_schedule(c.drop_path_prob, self.epoch, c.epochs)
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        objective_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for step, (x, y) in enumerate(self.batches().iterate(generator)):
            distributed.inject_fault()
            share = 1.0
            if self.cluster.distributed:
                part = self.cluster.shard(len(y))
                x, y, share = x[part], y[part], len(y[part]) / len(y)
            loss, objective, hits = self.training_step.step(x, y, share)
            loss_sum += loss * len(y)
            objective_sum += objective * len(y)
            correct += hits
            seen += len(y)
            bar.update(1)
            distributed.check_synchronised(self.training_step.parameters, "weights")
            if self.on_step is not None:
                self.on_step(0, self.epoch, step)
        train_seconds = time.perf_counter() - started
        test = self.evaluate()
        losses, objectives, hits_sum, seen = distributed.sum_values(
            [loss_sum.item(), objective_sum.item(), float(correct.item()), float(seen)])
        return {"epoch": self.epoch + 1, "lr": lr, "drop_path_prob": self.model.drop_path_prob,
                "train_loss": losses / seen, "train_objective": objectives / seen,
                "train_acc": hits_sum / seen, "test_loss": test.loss, "test_acc": test.accuracy,
                "train_seconds": train_seconds, "seconds": time.perf_counter() - started}

    # ----------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "kind": CHECKPOINT_KIND, "world_size": self.cluster.world_size,
                "config": self.config.to_dict(),
                "genotype": self.genotype.to_dict(), "genotype_source": self.genotype_source,
                "shape": self.shape.to_dict(), "epoch": self.epoch, "model": self.model.state_dict(),
                "optimizer": self.training_step.optimizer.state_dict(), "metrics": self.metrics}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state` (same genotype and data shape)."""
        where = self.run_dir.file(RunDirectory.CHECKPOINT)
        distributed.check_world_size(state.get("world_size", 1), f"training {self.run_dir.path}")
        if DataShape.from_dict(state["shape"]) != self.shape:
            raise RapdartsError(f"checkpoint {where} was written for {DataShape.from_dict(state['shape']).describe()}, "
                                f"but the dataset now gives {self.shape.describe()}")
        load_state(self.model, state["model"], where)
        self.training_step.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.metrics = list(state["metrics"])

    def _write_history(self) -> None:
        self.run_dir.write_jsonl("metrics.jsonl", self.metrics)

    # ----------------------------------------------------------------- main loop
    def _run(self) -> TrainResult:
        c = self.config
        if self.cluster.main:
            self.run_dir.write_json("config.json", c.to_dict())
            self.run_dir.write_json("genotype.json", self.genotype.to_dict())
            self.run_dir.write_json("environment.json", {
                **describe_environment(self.device), "seed": c.seed, "genotype_source": self.genotype_source,
                "dataset": {"name": self.train_data.name, **self.shape.to_dict(),
                            "train_images": len(self.train_data), "test_images": len(self.test_data)},
                "cutout_pixels": self.cutout, "distributed": self.cluster.describe(c.batch_size),
            })
        steps_per_epoch = len(self.batches())
        with progress_bar(c.epochs * steps_per_epoch, "train", self.show_progress,
                          initial=self.epoch * steps_per_epoch) as bar:
            while self.epoch < c.epochs:
                row = self._run_epoch(bar)
                self.metrics.append(row)
                self.epoch += 1
                self.tracker.row({key: value for key, value in row.items() if key != "epoch"}, self.epoch, "train/")
                self._save(self.model)
                bar.set_postfix(epoch=self.epoch, test_acc=f"{row['test_acc']:.3f}")
                log.info("epoch %d/%d  lr %.4g  drop path %.3f  train acc %.3f loss %.3f  test acc %.3f loss %.3f  "
                         "(%.1fs)", self.epoch, c.epochs, row["lr"], row["drop_path_prob"], row["train_acc"],
                         row["train_loss"], row["test_acc"], row["test_loss"], row["seconds"])
        if not self.cluster.main:
            return TrainResult(self.run_dir.path, self.metrics, {})
        report = self._report()
        return TrainResult(self.run_dir.path, self.metrics, report)

    def _report(self) -> dict[str, Any]:
        from rapdarts.space.drawing import plot_cells
        from rapdarts.train.plots import plot_learning_curve

        last = self.metrics[-1]
        test = Evaluation(last["test_loss"], last["test_acc"], len(self.test_data))
        report = build_report(self.model, self.genotype, self.genotype_source, self.config, self.shape,
                              self.train_data.name, test, self.epoch, self.providers,
                              str(self.run_dir.file("model.onnx")))
        report["train_seconds"] = sum(row["train_seconds"] for row in self.metrics)
        self.run_dir.write_json("report.json", report)
        plot_learning_curve(self.metrics, self.run_dir.file("plots") / "learning_curve.png", self.genotype_source)
        plot_cells(self.genotype, self.run_dir.file("plots") / "cells.png", self.genotype_source)
        log.info("finished: test error %.2f%%, %s parameters; report %s", 100 * test.error,
                 f"{report['parameters']['without_auxiliary']:,}", self.run_dir.file("report.json"))
        return report

    # ----------------------------------------------------------------- resuming (see ResumableRun.resumed)
    @classmethod
    def _read_checkpoint(cls, directory: RunDirectory) -> dict[str, Any]:
        return read_checkpoint(directory.path)

    @classmethod
    def _can_start_over(cls, directory: RunDirectory) -> bool:
        return directory.file("config.json").exists() and directory.file("genotype.json").exists() \
            and not directory.file("report.json").exists()

    @classmethod
    def _rebuilt(cls, config: TrainConfig, directory: RunDirectory, state: dict[str, Any] | None,
                 made: Sequence[CostProvider], show_progress: bool, on_step: StepCallback | None) -> Trainer:
        if state is not None:
            genotype = Genotype.from_dict(state["genotype"], f"checkpoint genotype in {directory.path}")
            source = state.get("genotype_source", "")
        else:
            genotype = Genotype.from_dict(directory.read_json("genotype.json"), str(directory.file("genotype.json")))
            source = (directory.read_json("environment.json").get("genotype_source", "")
                      if directory.file("environment.json").exists() else "")
        return cls(config, genotype, directory, made, source, show_progress, on_step)

    def _resume_note(self) -> str:
        if self.epoch >= self.config.epochs:
            return f"{self.run_dir.path} is finished; rewriting its report"
        return f"resuming {self.run_dir.path} after epoch {self.epoch}/{self.config.epochs}"
