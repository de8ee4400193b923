"""Checkpoints that resume a run exactly, and that a crash can never leave half-written.

    OUT/checkpoints/step-000100/
        model.safetensors   the weights (safetensors: no code runs when loading)       } one process, DDP
        sharded/            weights and optimizer state, torch.distributed.checkpoint  } FSDP: each rank writes
                            its shards; loading re-shards them for any number of processes
        trainer.pt          optimizer (unsharded runs), scheduler, every rank's sampler cursors, step
                            (tensors and plain values only)

Each is written under a temporary name and renamed when complete. Randomness needs no state:
every draw of step n comes from generators seeded with (seed, step, rank).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import safetensors.torch
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from ernie_m.files import replace_directory

PREFIX = "step-"


def save(directory: Path, step: int, model: torch.nn.Module, trainer_state: dict, keep: int) -> Path:
    """Write checkpoint `step` under `directory` atomically; keep only the newest `keep`."""
    final = directory / f"{PREFIX}{step:06d}"
    partial = directory / f".{final.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    safetensors.torch.save_model(model, str(partial / "model.safetensors"))
    _publish(partial, final, {**trainer_state, "step": step}, keep)
    return final


def save_sharded(directory: Path, step: int, model: torch.nn.Module, optimizer, trainer_state: dict, keep: int, is_main: bool, barrier) -> Path:
    """Every rank writes its shards of weights and optimizer state; the main rank the rest, then renames."""
    final = directory / f"{PREFIX}{step:06d}"
    partial = directory / f".{final.name}.partial"
    if is_main:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    barrier()
    dcp.save(_sharded_state(model, optimizer), checkpoint_id=partial / "sharded")
    barrier()
    if is_main:
        _publish(partial, final, {**trainer_state, "step": step}, keep)
    barrier()
    return final


def _publish(partial: Path, final: Path, trainer_state: dict, keep: int) -> None:
    """trainer.pt last (a checkpoint without it is incomplete), the rename, then the oldest beyond `keep` go."""
    torch.save(trainer_state, partial / "trainer.pt")
    replace_directory(partial, final)
    for old in complete_checkpoints(final.parent)[:-keep]:
        shutil.rmtree(old)


def load_sharded(path: Path, model: torch.nn.Module, optimizer, device: torch.device) -> dict:
    """Weights and optimizer state re-sharded for this run's processes; return the trainer state."""
    state = _sharded_state(model, optimizer)
    dcp.load(state, checkpoint_id=path / "sharded")
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optimizer"])
    return torch.load(path / "trainer.pt", map_location=device, weights_only=True)


def _sharded_state(model: torch.nn.Module, optimizer) -> dict:
    # Keyed by parameter names, not positions: the same checkpoint loads into any sharding.
    return {"model": get_model_state_dict(model), "optimizer": get_optimizer_state_dict(model, optimizer)}


def complete_checkpoints(directory: Path) -> list[Path]:
    """Finished checkpoints, oldest first (partial ones start with a dot and are ignored)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(PREFIX) and (p / "trainer.pt").is_file())


def latest(directory: Path) -> Path | None:
    found = complete_checkpoints(directory)
    return found[-1] if found else None


def load(path: Path, model: torch.nn.Module, device: torch.device) -> dict:
    """Load weights into `model`; return the trainer state (step, optimizer, scheduler, sampler)."""
    safetensors.torch.load_model(model, str(path / "model.safetensors"), device=str(device))
    return torch.load(path / "trainer.pt", map_location=device, weights_only=True)
