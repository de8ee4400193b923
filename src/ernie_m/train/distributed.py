"""One process or many under torchrun: process-group set-up, devices, the two ways of spreading
the model (DDP replicas, FSDP2 shards), and a sync check.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them this is a single process.
gloo on CPU, nccl on GPU (one GPU per process).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

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


def wrap(model: torch.nn.Module, ctx: Context, parallel: str) -> torch.nn.Module:
    """DDP replicas, or FSDP2 (`fully_shard` on each encoder layer, then on the whole model) for `parallel` "fsdp"."""
    if not ctx.distributed:
        return model
    if parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.mlm.roberta.encoder.layer:
            fully_shard(layer)
        return fully_shard(model)
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def is_sharded(model: torch.nn.Module) -> bool:
    return any(isinstance(p, DTensor) for p in model.parameters())


@contextmanager
def accumulating(model: torch.nn.Module, ctx: Context):
    """Gradients of this micro-batch are kept for the next, not yet averaged across processes."""
    if not ctx.distributed:
        yield
    elif is_sharded(model):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        with model.no_sync():
            yield


def whole(tensor: torch.Tensor) -> torch.Tensor:
    """A value that FSDP's clipping returns as a DTensor, made a plain tensor (every rank takes part)."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def parameter_checksums(model: torch.nn.Module, ctx: Context) -> list[float]:
    """Every rank's sum of all parameters (one float each): equal when the replicas are in sync. Sharded
    (FSDP), the ranks' shards add up to one sum: the same number a replica of the model would give."""
    local = [p.to_local() if isinstance(p, DTensor) else p for p in model.parameters()]
    total = torch.stack([p.detach().double().sum() for p in local]).sum().reshape(1)
    if not ctx.distributed:
        return [total.item()]
    if is_sharded(model):
        dist.all_reduce(total)
        return [total.item()]
    gathered = [torch.zeros_like(total) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, total)
    return [t.item() for t in gathered]


def whole_weights(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """A sharded ErnieM's masked-LM weights gathered whole on the main rank (every rank must call
    this; the others get an empty dict); None for a model whose parameters are whole already."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    whole = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {name.removeprefix("mlm."): tensor for name, tensor in whole.items()}


def gather_objects(value, ctx: Context) -> list:
    """`value` of every rank, in rank order."""
    if not ctx.distributed:
        return [value]
    gathered = [None] * ctx.world_size
    dist.all_gather_object(gathered, value)
    return gathered
