"""Checkpoints that resume a run exactly, and that a crash can never leave half-written.

    OUT/checkpoints/step-000100/
        config.json         the model's Hugging Face config (`ernie-m export --checkpoint` rebuilds it from this)
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

from ernie_m.errors import ErnieMError
from ernie_m.files import replace_directory, staged_directory, write_atomically

PREFIX = "step-"


def save(directory: Path, step: int, model: torch.nn.Module, trainer_state: dict, keep: int) -> Path:
    """Write checkpoint `step` under `directory` atomically; keep only the newest `keep`."""
    final = directory / f"{PREFIX}{step:06d}"
    with staged_directory(final) as staging:
        # what `ernie-m export --checkpoint` rebuilds the model from
        model.mlm.config.to_json_file(staging / "config.json")
        safetensors.torch.save_model(model, str(staging / "model.safetensors"))
        # last: a checkpoint without it is incomplete
        torch.save({**trainer_state, "step": step}, staging / "trainer.pt")
    _prune(directory, keep)
    return final


def save_sharded(
    directory: Path,
    step: int,
    model: torch.nn.Module,
    optimizer,
    trainer_state: dict,
    keep: int,
    is_main: bool,
    barrier,
) -> Path:
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
        write_atomically(partial / "trainer.pt", lambda path: torch.save({**trainer_state, "step": step}, path))
        replace_directory(partial, final)
        _prune(directory, keep)
    barrier()
    return final


def _prune(directory: Path, keep: int) -> None:
    """The oldest complete checkpoints beyond the newest `keep` go."""
    for old in complete_checkpoints(directory)[:-keep]:
        shutil.rmtree(old)


def load_sharded(path: Path, model: torch.nn.Module, optimizer) -> None:
    """Weights and optimizer state re-sharded for this run's processes."""
    state = _sharded_state(model, optimizer)
    dcp.load(state, checkpoint_id=path / "sharded")
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optimizer"])


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


def read_state(path: Path, device: torch.device) -> dict:
    """The trainer state: step, scheduler, sampler cursors, the run's inputs, the optimizer (unsharded runs)."""
    return torch.load(path / "trainer.pt", map_location=device, weights_only=True)


def load_weights(path: Path, model: torch.nn.Module, device: torch.device) -> None:
    safetensors.torch.load_model(model, str(path / "model.safetensors"), device=str(device))


def check_inputs(saved: dict | None, current: dict, path: Path, accept_changed_corpus: bool) -> None:
    """Refuse to resume checkpoint `path` with inputs other than those it was trained on, naming what
    changed: config values, the tokenizer, or (unless accepted) the corpus. `saved` is None in
    checkpoints of earlier versions, which kept no inputs."""
    if saved is None:
        return
    changed = [f"{key}: {old!r} -> {new!r}" for key, old, new in _differences(saved["config"], current["config"], "")]
    if changed:
        raise ErnieMError(
            f"{path}: the run's config (OUT/run.yaml) changed since this checkpoint ({'; '.join(changed)}); "
            "put the values back, or start a new run"
        )
    if saved["tokenizer"] != current["tokenizer"]:
        raise ErnieMError(
            f"{path}: the run's tokenizer changed since this checkpoint; a model cannot continue with "
            "other token ids: put the tokenizer back, or start a new run"
        )
    if saved["corpus"] != current["corpus"] and not accept_changed_corpus:
        raise ErnieMError(
            f"{path}: the corpus changed since this checkpoint; resume with the corpus the run started "
            "with, or pass --accept-changed-corpus to continue on this one"
        )


def _differences(old, new, where: str):
    """(dotted key, old value, new value) for every leaf of the saved config `old` that differs in `new`
    (keys that `old` lacks are settings added by a later version: they were at their defaults)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old, key=str):
            yield from _differences(old[key], new.get(key), f"{where}.{key}" if where else str(key))
    elif old != new:
        yield where, old, new
