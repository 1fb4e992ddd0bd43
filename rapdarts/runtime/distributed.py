"""Data parallelism under ``torchrun``: one process per device, gradients all-reduced, rank 0 writes.

``torchrun --nproc-per-node N -m rapdarts search ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in the environment; :func:`cluster`
reads them and joins the process group (NCCL on CUDA, gloo on the CPU). Without them, or with a
world of one, nothing is initialised and every helper here is the identity, so a run under
``torchrun --nproc-per-node 1`` is exactly the plain single-process run.

Every rank iterates the same global batches (same seed, same augmentation draws) and computes its
contiguous slice of each; gradients are summed across ranks with each rank's share weighted by
its slice of the batch, and every rank applies the same update to the same parameters: weights,
alphas and optimizer states stay identical without ever being broadcast. What this update equals:
the mean of the ranks' gradients, each computed with batch-norm statistics of its own slice, as
``DistributedDataParallel`` without ``SyncBatchNorm`` computes it. It is the full-batch update
(up to float summation order) for a network without batch norm; with batch norm, each slice is
normalised by its own mean and variance, so the update is close to, not equal to, the update of
one process on the whole batch (the search network's batch norms are non-affine, and P-DARTS
searches with each GPU normalising its own batch). Synchronising them in the search would need
SyncBatchNorm, which runs on CUDA only. Batch-norm running statistics, which each rank
accumulates from its own slice, are broadcast from rank 0 before anything reads them (evaluation,
checkpoints), as ``DistributedDataParallel`` does.

No ``DistributedDataParallel`` wrapper: a search step hides one parameter group from autograd
(``requires_grad_(False)``) and recomputes mixed ops in backward, which DDP's per-parameter hooks
do not allow; one flattened all-reduce per step does the same work.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from rapdarts.errors import RapdartsError
from rapdarts.runtime.lifetime import exit_with_parent

CHECK_ENV = "RAPDARTS_CHECK_SYNC"
"""Set to 1 to assert after every step that all ranks hold identical parameters (debug mode; one small
all-gather of a checksum per step)."""
FAULT_ENV = "RAPDARTS_FAULT_RANK"
"""Set to a rank number to make that rank raise at its first step: how the tests check that a failing
rank ends the whole job with a clear error instead of a hang."""


@dataclass(frozen=True)
class Cluster:
    """Where this process sits in a data-parallel job (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def main(self) -> bool:
        """Rank 0: the only rank that writes files, logs and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, size: int) -> slice:
        """This rank's contiguous slice of a batch of ``size`` (sizes differ by at most one)."""
        base, extra = divmod(size, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def describe(self, global_batch: int) -> dict[str, object]:
        """What a run directory records about how the result was made."""
        return {"world_size": self.world_size, "backend": self.backend or "none", "global_batch": global_batch,
                "per_rank_batch": [len(range(*Cluster(r, self.world_size).shard(global_batch).indices(global_batch)))
                                   for r in range(self.world_size)]}


SINGLE = Cluster()
_current = SINGLE
_tied_to_launcher = False


def cluster(device: str = "auto") -> Cluster:
    """The job this process belongs to, joined on first call (``torchrun`` sets the environment).

    ``device`` picks the backend: NCCL for CUDA, gloo otherwise. On CUDA each rank takes the GPU
    ``LOCAL_RANK``.
    """
    global _current, _tied_to_launcher
    if _current.distributed or "WORLD_SIZE" not in os.environ:
        return _current
    if not _tied_to_launcher:  # torchrun gives each rank its own session: a kill -9 of it would leave ranks running
        exit_with_parent()
        _tied_to_launcher = True
    world_size = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0))
    if world_size <= 1:
        return _current
    import torch.distributed as dist

    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
        atexit.register(_leave_job)
    _current = Cluster(rank, world_size, local_rank, backend)
    if rank != 0:  # other ranks are silent: rank 0 logs, draws progress and writes for the job
        logging.getLogger("rapdarts").setLevel(logging.ERROR)
    return _current


def _leave_job() -> None:
    """Tear the process group down before the interpreter does: a gloo group left to the interpreter's exit can
    destroy its worker threads while they are still joinable, and the rank then dies with SIGABRT ("terminate
    called without an active exception") after its work is done, failing the whole torchrun job."""
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - at exit, a group the other ranks already left must not mask the result
            pass


def current() -> Cluster:
    """The job joined by :func:`cluster` (a single process if none was)."""
    return _current


def rank_device(device: str) -> str:
    """``cuda`` becomes this rank's GPU (``cuda:LOCAL_RANK``) in a multi-GPU job; other devices are unchanged."""
    if _current.distributed and device in ("cuda", "auto") and torch.cuda.is_available():
        return f"cuda:{_current.local_rank}"
    return device


def broadcast_object(value: object) -> object:
    """Rank 0's ``value`` on every rank (a run directory's name, say)."""
    if not _current.distributed:
        return value
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    """Wait for every rank (rank 0 fills caches first, the others then read them)."""
    if _current.distributed:
        import torch.distributed as dist

        dist.barrier()


def sum_gradients(parameters: Sequence[nn.Parameter], share: float) -> None:
    """Replace each gradient by the sum over ranks of ``share * gradient`` (one flattened all-reduce).

    ``share`` is this rank's slice of the global batch over the global batch, so a mean loss over
    the slice becomes the mean over the global batch. A parameter without a gradient counts as zero.
    """
    if not _current.distributed:
        return
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads]) * share
    dist.all_reduce(flat)
    offset = 0
    for parameter, grad in zip(parameters, grads):
        count = grad.numel()
        parameter.grad = flat[offset:offset + count].view_as(grad).clone()
        offset += count


def sum_values(values: Sequence[float]) -> list[float]:
    """Each value summed over ranks (evaluation loss sums, correct counts, image counts)."""
    if not _current.distributed:
        return list(values)
    import torch.distributed as dist

    tensor = torch.tensor(list(values), dtype=torch.float64)
    if _current.backend == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank, so evaluation and checkpoints agree."""
    if not _current.distributed:
        return
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def check_synchronised(tensors: Iterable[torch.Tensor], what: str) -> None:
    """With :data:`CHECK_ENV` set: a one-line error unless every rank holds bit-identical ``tensors``."""
    if not _current.distributed or os.environ.get(CHECK_ENV) != "1":
        return
    import torch.distributed as dist

    digest = hashlib.sha1()
    for tensor in tensors:
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    digests: list[str | None] = [None] * _current.world_size
    dist.all_gather_object(digests, digest.hexdigest())
    if len(set(digests)) != 1:
        raise RapdartsError(f"ranks hold different {what}: the data-parallel step lost synchronisation "
                            f"(digests {', '.join(d[:8] for d in digests if d)})")


def inject_fault() -> None:
    """With :data:`FAULT_ENV` naming this rank: raise, as a rank that fails would."""
    if _current.distributed and os.environ.get(FAULT_ENV) == str(_current.rank):
        raise RapdartsError(f"injected fault on rank {_current.rank} ({FAULT_ENV})")


def check_world_size(saved: int | None, where: str) -> None:
    """Resuming under another world size would change every batch shard: refused, naming both sizes."""
    if saved is not None and saved != _current.world_size:
        raise RapdartsError(f"{where} was made with {saved} process(es) and is resumed with {_current.world_size}; "
                            f"resume it with the same number (torchrun --nproc-per-node {saved})")


def check_batch(batch_size: int, what: str = "batch_size") -> None:
    """Every rank needs at least two images of each batch (batch norm)."""
    if batch_size < 2 * _current.world_size:
        raise RapdartsError(f"{what} {batch_size} is the global batch, split across {_current.world_size} "
                            f"processes: it must be at least {2 * _current.world_size}")
