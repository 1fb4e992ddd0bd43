"""The search loop: stages, epochs and the alternating first-order weight/alpha steps.

Per stage (P-DARTS): build a fresh supernet over the surviving candidates, train ``epochs``
epochs (weights only during warm-up; afterwards one alpha step on the alpha half of the data,
then one weight step on the weight half), then prune each edge to the next stage's op count. The
final genotype is derived from the last stage's probabilities.

Reproducibility: every epoch seeds torch and its data generator from ``(seed, stage, epoch)``, and a
checkpoint holding all state is written at every epoch end, so ``--resume`` continues an
interrupted search and produces bit-identically the same result as an uninterrupted run on CPU.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rapdarts.data import Batches, ImageData, balanced_subset, load_dataset, stratified_split
from rapdarts.errors import RapdartsError
from rapdarts.plugins.extensions import SearchExtension
from rapdarts.runtime import distributed
from rapdarts.runtime.device import prepare_device
from rapdarts.runtime.environment import describe_environment
from rapdarts.runtime.evaluation import evaluate_classifier
from rapdarts.runtime.progress import progress_bar
from rapdarts.runtime.resumable import ResumableRun, StepCallback
from rapdarts.runtime.schedules import cosine_lr
from rapdarts.runtime.seeding import epoch_seed
from rapdarts.runtime.tracking import tracker_for
from rapdarts.search.config import SearchConfig
from rapdarts.search.derive import derive_genotype
from rapdarts.search.loss import SearchLoss
from rapdarts.search.optimizers import SearchOptimizers
from rapdarts.search.stages import prune_candidates, skip_dropout_rate
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.layout import Candidates, edge_sources
from rapdarts.space.supernet import SearchNetwork
from rapdarts.storage.rundir import RunDirectory

log = logging.getLogger("rapdarts")
CHECKPOINT_FORMAT = 1


@dataclass
class SearchResult:
    genotype: Genotype
    run_dir: Path
    metrics: list[dict[str, Any]]


class ProgressiveSearch(ResumableRun):
    """One P-DARTS search writing into ``run_dir``; :meth:`~ResumableRun.run` returns the genotype.

    Construction loads the data and lets every extension check itself against it, but writes
    nothing: a bad setting, dataset or budget fails before the run directory exists.
    """

    LOG_NAME = "search.log"
    CONFIG = SearchConfig

    def __init__(self, config: SearchConfig, run_dir: RunDirectory, extensions: Sequence[SearchExtension] = (),
                 show_progress: bool = True, on_step: StepCallback | None = None):
        self.config = config.validate()
        self.run_dir = run_dir
        self.extensions = list(extensions)
        self.show_progress = show_progress
        self.on_step = on_step
        self.cluster = distributed.current()
        distributed.check_batch(self.config.batch_size)
        self.show_progress = show_progress and self.cluster.main
        self.device = prepare_device(distributed.rank_device(config.device), config.amp, config.threads,
                                     config.deterministic)
        if self.config.threads is None:  # record the thread count used: results depend on it
            self.config = dataclasses.replace(self.config, threads=torch.get_num_threads())
        self.tracker = tracker_for(self.config.tensorboard, run_dir.path, self.cluster.main)
        self.train_data, self.arch_data = self._load_data()
        self.stage = 0
        self.epoch = 0
        self.candidates: dict[str, Candidates] = {
            cell: tuple(tuple(config.primitives) for _ in edge_sources()) for cell in CELL_TYPES
        }
        self.metrics: list[dict[str, Any]] = []
        self.alpha_history: list[dict[str, Any]] = []
        self.stage_records: list[dict[str, Any]] = []
        self.model: SearchNetwork | None = None
        # Rank 0 prices the space first (filling cost caches and latency tables); the others then read them.
        if not self.cluster.main:
            distributed.barrier()
        for extension in self.extensions:
            extension.prepare(self.train_data.shape)
        if self.cluster.main:
            distributed.barrier()

    # ----------------------------------------------------------------- set-up
    def _load_data(self) -> tuple[ImageData, ImageData]:
        c = self.config
        data = load_dataset(c.dataset, c.data_dir, train=True, image_size=c.image_size)
        if c.train_subset:
            data = balanced_subset(data, c.train_subset)
        weight_idx, arch_idx = stratified_split(data.labels, c.train_portion, c.seed)
        if len(weight_idx) < 2 or len(arch_idx) < 2:
            raise RapdartsError(f"{len(data)} training images are too few to split for search")
        self.dataset_info = {"name": data.name, "num_classes": data.num_classes, "in_channels": data.in_channels,
                             "image_size": list(data.image_size), "train_images": len(data),
                             "weight_images": len(weight_idx), "arch_images": len(arch_idx)}
        return data.subset(weight_idx), data.subset(arch_idx)

    def _build_stage(self, model_state: dict[str, Any] | None = None) -> None:
        c = self.config
        torch.manual_seed(epoch_seed(c.seed, self.stage, -1))
        model = SearchNetwork(c.init_channels, self.train_data.num_classes, c.cells[self.stage],
                              self.candidates["normal"], self.candidates["reduce"], self.train_data.in_channels,
                              self.train_data.image_size, fast_dilated=c.fast_dilated)
        if c.memory_budget is not None and c.recompute == "auto":
            rank_batch = self.cluster.shard(c.batch_size)
            recomputed = model.plan_recompute(c.memory_budget * 1e9, rank_batch.stop - rank_batch.start)
            log.debug("stage %d: recomputing cells %s to keep mixed-op activations under %g GB", self.stage + 1,
                      [i for i, on in enumerate(recomputed) if on], c.memory_budget)
        else:
            model.set_recompute(self._recompute)
        model = model.to(self.device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)
        if model_state is not None:
            model.load_state_dict(model_state)
        self.model = model
        terms = [term for extension in self.extensions for term in extension.loss_terms(model, self.stage)]
        self.optimizers = SearchOptimizers(model, c, SearchLoss(terms))

    @property
    def _recompute(self) -> bool:
        if self.config.recompute != "auto":
            return self.config.recompute == "on"
        height, width = self.train_data.image_size
        return self.config.batch_size * self.config.init_channels * height * width >= 2**20

    @property
    def _channels_last(self) -> bool:
        return self.config.channels_last

    # ----------------------------------------------------------------- evaluation
    def evaluate(self) -> tuple[float, float]:
        """Loss and accuracy on the alpha half of the data, without augmentation (eval-mode BN).

        In a data-parallel job each process evaluates its slice with rank 0's batch-norm statistics,
        and the sums are combined.
        """
        assert self.model is not None
        if not self.cluster.distributed:
            result = evaluate_classifier(self.model, self.arch_data, self.config.batch_size, self.device,
                                         self._channels_last, self.config.amp)
            return result.loss, result.accuracy
        distributed.broadcast_buffers(self.model)
        part = self.cluster.shard(len(self.arch_data))
        data = self.arch_data.subset(torch.arange(len(self.arch_data))[part])
        result = evaluate_classifier(self.model, data, self.config.batch_size, self.device, self._channels_last,
                                     self.config.amp) if len(data) else None
        n = result.images if result else 0
        loss_sum, correct, total = distributed.sum_values(
            [result.loss * n if result else 0.0, result.accuracy * n if result else 0.0, n])
        return loss_sum / total, correct / total

    # ----------------------------------------------------------------- epochs and stages
    def _run_epoch(self, bar: Any) -> dict[str, Any]:
        c = self.config
        assert self.model is not None
        started = time.perf_counter()
        seed = epoch_seed(c.seed, self.stage, self.epoch)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        lr = cosine_lr(c.lr, c.lr_min, self.epoch, c.epochs)
        self.optimizers.set_lr(lr)
        dropout = skip_dropout_rate(c.skip_dropout[self.stage], self.epoch, c.epochs, c.warmup_epochs, c.dropout_decay)
        self.model.set_skip_dropout(dropout)
        train_arch = self.epoch >= c.warmup_epochs
        self.model.train()
        weight_batches = Batches(self.train_data, c.batch_size, self.device, channels_last=self._channels_last)
        arch_batches = Batches(self.arch_data, c.batch_size, self.device, channels_last=self._channels_last)
        arch_iter = self._cycle(arch_batches, generator) if train_arch else None
        sums: dict[str, torch.Tensor] = {}
        train_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = batches = 0
        for step, (x, y) in enumerate(weight_batches.iterate(generator)):
            distributed.inject_fault()
            if arch_iter is not None:
                xa, ya, share = self._my_slice(*next(arch_iter))
                parts = self.optimizers.alpha_step(xa, ya, share)
                for name, value in parts.items():
                    sums[name] = sums.get(name, 0) + value * share
                # Budgets' dual ascent reads the cost terms of ``parts``: functions of the alphas, which are
                # identical on every process, so every process takes the same multiplier step unaided.
                for extension in self.extensions:
                    extension.after_alpha_step(self.model, parts)
            x, y, share = self._my_slice(x, y)
            loss, hits = self.optimizers.weight_step(x, y, share)
            train_loss += loss * len(y)
            correct += hits
            seen += len(y)
            batches += 1
            bar.update(1)
            distributed.check_synchronised([*self.model.arch_parameters(), *self.model.weight_parameters()],
                                           "alphas and weights")
            if self.on_step is not None:
                self.on_step(self.stage, self.epoch, step)
        valid_loss, valid_acc = self.evaluate()
        genotype = self.current_genotype()
        loss_sum, hits_sum, seen = distributed.sum_values([train_loss.item(), float(correct.item()), float(seen)])
        row: dict[str, Any] = {
            "stage": self.stage + 1, "epoch": self.epoch + 1, "cells": c.cells[self.stage],
            "lr": lr, "skip_dropout": dropout, "arch_trained": train_arch,
            "train_loss": loss_sum / seen, "train_acc": hits_sum / seen,
            "valid_loss": valid_loss, "valid_acc": valid_acc,
        }
        if sums:
            names = list(sums)
            totals = distributed.sum_values([float(sums[name]) for name in names])
            row["arch_objective"] = {name: total / batches for name, total in zip(names, totals)}
        for extension in self.extensions:
            row.update(extension.epoch_metrics(self.model, genotype))
        row["genotype"] = genotype.to_dict()
        row["seconds"] = time.perf_counter() - started
        return row

    def _my_slice(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This process's slice of a global batch and its share of it (the whole batch in a single process)."""
        if not self.cluster.distributed:
            return x, y, 1.0
        part = self.cluster.shard(len(y))
        return x[part], y[part], len(y[part]) / len(y)

    @staticmethod
    def _cycle(batches: Batches, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from batches.iterate(generator)

    def current_genotype(self) -> Genotype:
        assert self.model is not None
        return derive_genotype(self.candidates, self.model.probabilities(),
                               max_skip_connects=self.config.max_skip_connects)

    def _record_epoch(self, row: dict[str, Any]) -> None:
        assert self.model is not None
        self.metrics.append(row)
        self.alpha_history.append({
            "stage": self.stage + 1, "epoch": self.epoch + 1,
            "candidates": {cell: [list(names) for names in self.candidates[cell]] for cell in CELL_TYPES},
            "alphas": {cell: alpha.detach().float().cpu().tolist() for cell, alpha in self.model.alphas().items()},
        })
        self._track(row)
        costs = "".join(f"  {name} expected {value:.4g} / derived {row['genotype_cost'][name]:.4g}"
                        for name, value in row.get("expected_cost", {}).items())
        log.info("stage %d/%d epoch %d/%d  train acc %.3f  valid acc %.3f  loss %.3f  (%.1fs)%s",
                 self.stage + 1, len(self.config.cells), self.epoch + 1, self.config.epochs, row["train_acc"],
                 row["valid_acc"], row["train_loss"], row["seconds"], costs)

    def _track(self, row: dict[str, Any]) -> None:
        """The epoch for TensorBoard, stepped by epochs since the search began: every number of the row (losses,
        accuracies, each expected and derived cost, each budget's lambda and mu) and the alphas as histograms."""
        assert self.model is not None
        step = len(self.metrics)
        self.tracker.row({key: value for key, value in row.items() if key not in ("stage", "epoch")}, step,
                         "search/")
        for cell, alpha in self.model.alphas().items():
            self.tracker.histogram(f"alphas/{cell}", alpha.detach().float().cpu(), step)

    def _finish_stage(self) -> None:
        """Record the stage and prune candidates for the next one."""
        assert self.model is not None
        probs = self.model.probabilities()
        record: dict[str, Any] = {
            "stage": self.stage + 1, "cells": self.config.cells[self.stage],
            "candidates": {cell: [list(n) for n in self.candidates[cell]] for cell in CELL_TYPES},
            "probabilities": {cell: probs[cell].float().cpu().tolist() for cell in CELL_TYPES},
            "genotype": self.current_genotype().to_dict(),
        }
        if self.stage + 1 == len(self.config.cells):
            genotype = self.current_genotype()
            if self.cluster.main:  # a latency budget times networks here: once, not once per process
                for extension in self.extensions:
                    genotype = extension.final_genotype(self.model, self.candidates, genotype)
            record["genotype"] = distributed.broadcast_object(genotype.to_dict())
        if self.stage + 1 < len(self.config.cells):
            keep = self.config.ops_kept[self.stage + 1]
            pruned = {cell: prune_candidates(self.candidates[cell], probs[cell], keep) for cell in CELL_TYPES}
            record["dropped"] = {
                cell: [[name for name in before if name not in after]
                       for before, after in zip(self.candidates[cell], pruned[cell])]
                for cell in CELL_TYPES
            }
            self.candidates = pruned
        self.stage_records.append(record)

    # ----------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        in_stage = self.model is not None and self.epoch < self.config.epochs
        return {
            "format": CHECKPOINT_FORMAT,
            "world_size": self.cluster.world_size,
            "config": self.config.to_dict(),
            "stage": self.stage,
            "epoch": self.epoch,
            "candidates": {cell: [list(n) for n in self.candidates[cell]] for cell in CELL_TYPES},
            "model": self.model.state_dict() if in_stage else None,
            "optimizer": self.optimizers.optimizer.state_dict() if in_stage else None,
            "arch_optimizer": self.optimizers.arch_optimizer.state_dict() if in_stage else None,
            "history": {"metrics": self.metrics, "alphas": self.alpha_history, "stages": self.stage_records},
            "extensions": [extension.state_dict() for extension in self.extensions],
        }

    def _write_history(self) -> None:
        self.run_dir.write_jsonl("metrics.jsonl", self.metrics)
        self.run_dir.write_jsonl("alphas.jsonl", self.alpha_history)
        self.run_dir.write_json("stages.json", self.stage_records)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state`."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise RapdartsError(f"checkpoint in {self.run_dir.path} has format {state.get('format')}, expected "
                                f"{CHECKPOINT_FORMAT}")
        distributed.check_world_size(state.get("world_size", 1), f"search {self.run_dir.path}")
        self.stage, self.epoch = int(state["stage"]), int(state["epoch"])
        self.candidates = {cell: tuple(tuple(n) for n in state["candidates"][cell]) for cell in CELL_TYPES}
        history = state["history"]
        self.metrics, self.alpha_history, self.stage_records = history["metrics"], history["alphas"], history["stages"]
        for extension, saved in zip(self.extensions, state.get("extensions", ())):
            if saved is not None:
                extension.load_state_dict(saved)
        if state["model"] is not None:
            self._build_stage(state["model"])
            self.optimizers.optimizer.load_state_dict(state["optimizer"])
            self.optimizers.arch_optimizer.load_state_dict(state["arch_optimizer"])

    # ----------------------------------------------------------------- main loop
    def _run(self) -> SearchResult:
        c = self.config
        stages = len(c.cells)
        if self.cluster.main:
            self.run_dir.write_json("config.json", c.to_dict())
            self.run_dir.write_json("environment.json", {
                **describe_environment(self.device), "seed": c.seed, "dataset": self.dataset_info,
                "distributed": self.cluster.describe(c.batch_size)})
        steps_per_epoch = len(Batches(self.train_data, c.batch_size, self.device))
        while self.stage < stages:
            if self.model is None:
                self.epoch = 0
                self._build_stage()
                log.info("stage %d/%d: %d cells, %d candidate ops per edge", self.stage + 1, stages,
                         c.cells[self.stage], c.ops_kept[self.stage])
            total = c.epochs * steps_per_epoch
            with progress_bar(total, f"stage {self.stage + 1}/{stages}", self.show_progress,
                              initial=self.epoch * steps_per_epoch) as bar:
                while self.epoch < c.epochs:
                    row = self._run_epoch(bar)
                    self._record_epoch(row)
                    self.epoch += 1
                    bar.set_postfix(epoch=self.epoch, valid_acc=f"{row['valid_acc']:.3f}")
                    if self.epoch == c.epochs:
                        self._finish_stage()
                        self.stage += 1
                        self.model = None
                    self._save(self.model)
        final = self.stage_records[-1]["genotype"]
        genotype = Genotype.from_dict(final, "derived genotype")
        if not self.cluster.main:
            return SearchResult(genotype, self.run_dir.path, self.metrics)
        self.run_dir.write_json("genotype.json", genotype.to_dict())
        self._plot(genotype)
        for extension in self.extensions:
            extension.finish(self.run_dir.path, self.metrics)
        return SearchResult(genotype, self.run_dir.path, self.metrics)

    def _plot(self, genotype: Genotype) -> None:
        from rapdarts.search.plots import write_search_plots

        write_search_plots(self.run_dir.file("plots"), self.metrics, self.alpha_history, self.stage_records, genotype)

    # ----------------------------------------------------------------- resuming (see ResumableRun.resumed)
    @classmethod
    def _read_checkpoint(cls, directory: RunDirectory) -> dict[str, Any]:
        return directory.load_checkpoint()

    @classmethod
    def _can_start_over(cls, directory: RunDirectory) -> bool:
        return directory.file("config.json").exists() and not directory.file("genotype.json").exists()

    @classmethod
    def _rebuilt(cls, config: SearchConfig, directory: RunDirectory, state: dict[str, Any] | None,
                 made: Sequence[SearchExtension], show_progress: bool,
                 on_step: StepCallback | None) -> ProgressiveSearch:
        return cls(config, directory, made, show_progress, on_step)

    def _resume_note(self) -> str:
        stages = len(self.config.cells)
        if self.stage >= stages:
            return f"{self.run_dir.path} is finished; rewriting its outputs"
        return (f"resuming {self.run_dir.path} at stage {self.stage + 1}/{stages}, epoch "
                f"{self.epoch + 1}/{self.config.epochs}")
