"""Data parallelism over ``torch.distributed`` for the search and for training.

``torchrun --nproc_per_node=N $(which hwnas) search ...`` starts N processes (ranks) with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous in their environment;
:func:`join_world` reads them and opens the process group (gloo on CPU, NCCL on GPUs).

Every rank draws the same global batch (same seed, same sampler) and works on its own
contiguous slice of it; BatchNorm normalises by the global batch's statistics
(:func:`global_batchnorm`); the gradients are summed over the ranks, each weighted by its
slice's size, so a step sees the gradient of the whole global batch. hwnas averages the gradients itself,
one all-reduce of the flattened gradients per step, which is what ``DistributedDataParallel``
does, because the architecture step's gradients flow through frozen weights and a second-order
finite difference that DDP's hooks do not see. Weights therefore stay identical on every rank,
and a run follows one process's run on the same global batch up to floating-point rounding
(sums run in another order).

Without torchrun (or with ``WORLD_SIZE=1``) :func:`join_world` returns :data:`ALONE`, whose
every method is a no-op.
"""

from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, List, Sequence, Tuple

import torch
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a data-parallel run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run folder and reports."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def describe(self) -> dict:
        """What ``config.json`` records."""
        return {"world_size": self.size, "backend": self.backend or None}

    # -- data --------------------------------------------------------------------------------
    def check_batch(self, batch_size: int) -> None:
        """The batch size is the global batch, split over the ranks: each needs two samples for BatchNorm."""
        if self.parallel and batch_size < 2 * self.size:
            raise ValueError(f"--batch-size {batch_size} is the global batch, split over {self.size} processes; "
                             f"give at least {2 * self.size} (2 per process)")

    def shard(self, *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """This rank's contiguous slice of each tensor of a global batch."""
        if not self.parallel:
            return tensors
        return tuple(torch.tensor_split(t, self.size)[self.rank] for t in tensors)

    # -- collectives -------------------------------------------------------------------------
    def average_gradients(self, params: Iterable[nn.Parameter], local: int, total: int) -> None:
        """Gradients of the global batch's mean loss from each rank's mean over ``local`` of
        ``total`` samples: one all-reduce of the flattened gradients, weighted by slice size."""
        if not self.parallel:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]) * (local / total)
        torch.distributed.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def sum(self, values: Sequence[float]) -> List[float]:
        """Each value summed over the ranks (float64)."""
        if not self.parallel:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=self._collective_device())
        torch.distributed.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (e.g. a stop request that reached one rank)."""
        return bool(self.sum([float(flag)])[0])

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (a picklable object, e.g. a checkpoint)."""
        if not self.parallel:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0, device=self._collective_device())
        return box[0]

    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers (e.g. BatchNorm's running statistics) on every rank."""
        if not self.parallel:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                torch.distributed.broadcast(t.data, src=0)

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")


ALONE = World()


class _SummedOverRanks(torch.autograd.Function):
    """A tensor summed over the ranks; its gradient, too, is the sum of every rank's gradient
    (each rank's loss depends on every rank's part)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch, over CPU ranks.

    PyTorch's ``SyncBatchNorm`` runs on GPUs only; this one sums each rank's per-channel sums
    and sums of squares with an all-reduce that autograd differentiates through, so forward and
    backward equal one process's BatchNorm on the whole batch (up to float rounding; exactly so
    when the ranks' slices are equal, as in the search, whose batches are all full). Evaluation
    uses the running statistics, as BatchNorm does.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected a batch of at least 2 dimensions, got {x.dim()}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not torch.distributed.is_initialized():
            return super().forward(x)
        channels, dims = x.shape[1], [0, *range(2, x.dim())]
        local = torch.cat([x.sum(dims), (x * x).sum(dims), x.new_tensor([x.numel() / channels])])
        total = _SummedOverRanks.apply(local)
        count = total[-1]
        mean = total[:channels] / count
        var = (total[channels:2 * channels] / count - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * count / (count - 1).clamp_min(1), m)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def global_batchnorm(module: nn.Module, world: World) -> nn.Module:
    """``module`` with every BatchNorm normalising by the global batch's statistics: PyTorch's
    ``SyncBatchNorm`` under NCCL, :class:`GlobalBatchNorm` on CPU ranks; unchanged alone."""
    if not world.parallel:
        return module
    if world.backend == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            synced = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                     child.track_running_stats)
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced.to(next(child.buffers(), torch.empty(0)).device))
        else:
            global_batchnorm(child, world)
    return module


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join_world(torch_device: str = "cpu", timeout_s: float = 1800.0) -> World:
    """This process's :class:`World`: the process group opened from torchrun's environment
    (gloo for a CPU ``torch_device``, NCCL for CUDA), or :data:`ALONE`."""
    if not launched_by_torchrun():
        return ALONE
    cuda = torch_device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError(f"--torch-device {torch_device} under torchrun, but this machine has no CUDA device")
    backend = "nccl" if cuda else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return World(rank=torch.distributed.get_rank(), size=torch.distributed.get_world_size(), local_rank=local_rank,
                 local_size=int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))),
                 backend=backend)


def rank_device(torch_device: str, world: World) -> str:
    """The device this rank computes on: under NCCL each rank takes the GPU of its local rank."""
    if world.backend == "nccl" and torch_device in ("cuda", "cuda:0"):
        return f"cuda:{world.local_rank}"
    return torch_device


def leave_world(world: World) -> None:
    if world.parallel and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@contextmanager
def data_parallel(torch_device: str = "cpu") -> Iterator[World]:
    """:func:`join_world` for the length of a block, the process group closed after it."""
    world = join_world(torch_device)
    try:
        yield world
        if world.parallel:  # every rank done before the group closes: gloo aborts a rank whose peer
            torch.distributed.barrier()  # tears the connections down while it is still leaving
    finally:
        leave_world(world)
