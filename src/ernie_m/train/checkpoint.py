"""Checkpoints that resume a run exactly, and that a crash can never leave half-written.

    OUT/checkpoints/step-000100/
        model.safetensors   the weights (safetensors: no code runs when loading)
        trainer.pt          optimizer, scheduler, sampler cursors, step (tensors and plain values only)

Each is written under a temporary name and renamed when complete. Randomness needs no state:
every draw of step n comes from generators seeded with (seed, step, rank).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import safetensors.torch
import torch

from ernie_m.files import replace_directory

PREFIX = "step-"


def save(directory: Path, step: int, model: torch.nn.Module, trainer_state: dict, keep: int) -> Path:
    """Write checkpoint `step` under `directory` atomically; keep only the newest `keep`."""
    final = directory / f"{PREFIX}{step:06d}"
    partial = directory / f".{final.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    safetensors.torch.save_model(model, str(partial / "model.safetensors"))
    torch.save({**trainer_state, "step": step}, partial / "trainer.pt")
    replace_directory(partial, final)
    for old in complete_checkpoints(directory)[:-keep]:
        shutil.rmtree(old)
    return final


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
