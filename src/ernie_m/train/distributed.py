"""One process or many under torchrun: process-group set-up, devices, and a sync check.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them this is a single process.
gloo on CPU, nccl on GPU (one GPU per process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ernie_m.errors import ErnieMError


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Context:
    """Join the torchrun process group when there is one; pick the device."""
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ErnieMError("train.device is cuda but no CUDA device is visible")
    if use_cuda and local_rank >= torch.cuda.device_count():
        raise ErnieMError(
            f"process {local_rank} of this node has no GPU of its own ({torch.cuda.device_count()} visible): "
            "start at most one process per GPU (torchrun --nproc_per_node), or set train.device=cpu"
        )
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world_size, torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"))


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def parameter_checksums(model: torch.nn.Module, ctx: Context) -> list[float]:
    """Every rank's sum of all parameters (one float each): equal when the replicas are in sync."""
    total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    if not ctx.distributed:
        return [total.item()]
    gathered = [torch.zeros_like(total) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, total)
    return [t.item() for t in gathered]
