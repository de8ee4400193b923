"""The training loop: sample an objective, build its batch, forward, loss, step; log and checkpoint.

Objective logic lives in `ernie_m.objectives`, the loss in `ernie_m.loss`; this file only runs them.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ernie_m.config import Config
from ernie_m.device import autocast
from ernie_m.errors import ErnieMError
from ernie_m.loss import masked_lm_loss
from ernie_m.model import ErnieM
from ernie_m.objectives import OBJECTIVES
from ernie_m.objectives.batch import Batch, BatchContext
from ernie_m.objectives.layout import SpecialIds
from ernie_m.objectives.registry import Watcher
from ernie_m.train import checkpoint, distributed
from ernie_m.train.report import Reporters
from ernie_m.train.sampler import ExampleSampler

log = logging.getLogger(__name__)


class TrainingDiverged(ErnieMError):
    """A loss, gradient or weight that is not finite: the run stops before the step is applied or saved."""


@dataclass
class Trainer:
    config: Config
    model: torch.nn.Module  # the ErnieM, its DistributedDataParallel wrapper, or the ErnieM sharded by FSDP
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: ExampleSampler
    specials: SpecialIds
    language_ids: dict[str, int]  # the corpus's languages -> their language-embedding rows
    parallel_languages: tuple[str, ...]  # the corpus's languages with parallel data
    dist: distributed.Context
    out_dir: Path
    watchers: list[Watcher] = field(default_factory=list)  # the objectives' figures logged at every log
    # config and fingerprints of corpus and tokenizer, kept in every checkpoint
    inputs: dict = field(default_factory=dict)
    # per objective, fixed example lists of the dev split
    validation: dict[str, list[list]] = field(default_factory=dict)
    reporters: Reporters | None = None  # TensorBoard, Weights & Biases (train.report_to), main rank only
    losses: dict[str, list[torch.Tensor]] = field(default_factory=lambda: defaultdict(list))
    tokens: int = 0
    window_start: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.batch_context = BatchContext(
            self.specials,
            self.config.objectives,
            self.config.data.max_length,
            self.generate,
            self.language_ids,
            self.parallel_languages,
            packing=self.config.data.packing,
        )

    @property
    def ernie_m(self) -> ErnieM:
        return getattr(self.model, "module", self.model)

    def run(self, start: int, stop: int, progress: bool = True) -> None:
        """Optimizer steps start+1 .. stop (1-based, as logged and checkpointed)."""
        # A bar on a terminal; elsewhere (--no-progress, CI, a batch system's log) one plain line per log interval.
        bar = tqdm(
            total=stop,
            initial=start,
            desc="pretrain",
            unit="step",
            disable=not (progress and self.dist.is_main and sys.stderr.isatty()),
        )
        for step in range(start + 1, stop + 1):
            self.train_step(step)
            bar.update(1)
            at_checkpoint = step % self.config.train.checkpoint_every == 0 or step == stop
            if step % self.config.train.log_every == 0 or at_checkpoint:
                record = self.log(step)
                losses = " ".join(
                    f"{k.removeprefix('loss/')}={v:.3f}" for k, v in record.items() if k.startswith("loss/")
                )
                bar.set_postfix_str(losses)
                if bar.disable and self.dist.is_main:
                    log.info(
                        "step %d/%d (%s): %s lr=%.3g tokens/s=%s",
                        step,
                        self.config.total_steps,
                        record["stage"],
                        losses,
                        record["lr"],
                        f"{record['tokens_per_s']:,.0f}",
                    )
            if self.validation and self.eval_every and (step % self.eval_every == 0 or step == self.config.total_steps):
                record = self.validate(step)
                losses = " ".join(f"{k}={v:.3f}" for k, v in record.items() if k.startswith("val/"))
                bar.set_postfix_str(losses)
                if bar.disable and self.dist.is_main:
                    log.info("step %d/%d: dev split %s", step, self.config.total_steps, losses)
            if at_checkpoint:
                self.save(step)
        bar.close()

    @property
    def eval_every(self) -> int:
        every = self.config.train.eval_every
        return self.config.train.checkpoint_every if every is None else every

    def validate(self, step: int) -> dict:
        """Each objective's mean loss on its fixed dev batches (masks drawn the same way each time, no
        dropout, no gradient; randomness of its own, so training continues exactly as without it)."""
        self.model.eval()
        record = {"step": step, "event": "validation"}
        with torch.no_grad():
            for name, batches in sorted(self.validation.items()):
                losses = []
                for index, examples in enumerate(batches):
                    batch = OBJECTIVES[name].build_batch(
                        examples, self.batch_context, np.random.default_rng([self.config.train.seed, index])
                    )
                    with self.mixed_precision():
                        logits = self.model(batch.to(self.dist.device))
                    losses.append(masked_lm_loss(logits, batch).item())
                record[f"val/{name}"] = float(np.mean(losses))
        self.model.train()
        self.write(record)
        return record

    def write(self, record: dict) -> None:
        """A record to log.jsonl and the reporters (main rank)."""
        if self.dist.is_main:
            with open(self.out_dir / "log.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            if self.reporters is not None:
                self.reporters.scalars(record)

    def train_step(self, step: int) -> None:
        """One optimizer step over `grad_accum` micro-batches. All randomness of step n is seeded by
        (seed, n, rank); the objective choice by (seed, n) alone, so that every rank trains the same one."""
        train = self.config.train
        rng = np.random.default_rng([train.seed, step, self.dist.rank])
        shared = np.random.default_rng([train.seed, step])
        torch.manual_seed(int(rng.integers(2**62)))  # dropout
        self.model.train()
        for micro in range(train.grad_accum):
            name = self.pick_objective(step, shared)
            batch = self.build_batch(name, rng)
            last = micro == train.grad_accum - 1
            with nullcontext() if last else distributed.accumulating(self.model, self.dist):
                with self.mixed_precision():
                    logits = self.model(batch)
                loss = masked_lm_loss(logits, batch)
                (loss / train.grad_accum).backward()
            self.losses[name].append(loss.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), train.max_grad_norm)
        if not torch.isfinite(distributed.whole(grad_norm)):  # the same on every rank: gradients are reduced
            raise self.diverged(step, f"gradient norm {distributed.whole(grad_norm).item()}")
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def diverged(self, step: int, what: str) -> TrainingDiverged:
        """The error a non-finite step ends the run with; nothing of the step has been applied or saved."""
        losses = ", ".join(f"{name} {values[-1].item():.4g}" for name, values in sorted(self.losses.items()))
        last = checkpoint.latest(self.out_dir / "checkpoints")
        return TrainingDiverged(
            f"step {step}: training diverged ({what}; last losses: {losses}); the step was not applied and nothing was "
            f"saved from it; the newest checkpoint is {last or 'none'}. Lower train.lr (now {self.config.train.lr:g}) "
            "or lengthen train.warmup_steps, and start a new run"
        )

    def pick_objective(self, step: int, rng: np.random.Generator) -> str:
        mix = {name: w for name, w in self.config.stage_at(step - 1).objectives.items() if w > 0}
        weights = np.asarray(list(mix.values()))
        return list(mix)[rng.choice(len(mix), p=weights / weights.sum())]

    def build_batch(self, name: str, rng: np.random.Generator) -> Batch:
        objective = OBJECTIVES[name]
        examples = self.sampler.draw(objective.data, self.config.train.batch_size, rng)
        batch = objective.build_batch(examples, self.batch_context, rng)
        self.tokens += batch.num_tokens()
        return batch.to(self.dist.device)

    def generate(self, batch: Batch) -> torch.Tensor:
        """A forward of the bare model without dropout or gradient, for objectives that run the model to
        build their batch (BTMLM's step 1)."""
        model = self.ernie_m
        model.eval()
        with torch.no_grad(), self.mixed_precision():
            logits = model(batch.to(self.dist.device))
        model.train()
        return logits

    def mixed_precision(self):
        return autocast(self.dist.device, enabled=self.config.train.bf16)

    def log(self, step: int) -> dict:
        """Append the window's mean loss per objective and throughput to log.jsonl (main rank)."""
        elapsed = time.perf_counter() - self.window_start
        record = {
            "step": step,
            "stage": self.config.stage_at(step - 1).name,
            "lr": self.scheduler.get_last_lr()[0],
            **{f"loss/{name}": torch.stack(values).mean().item() for name, values in sorted(self.losses.items())},
            "tokens_per_s": round(self.tokens * self.dist.world_size / elapsed, 1),
        }
        for watcher in self.watchers:  # every rank: a sharded model's forward needs them all
            record.update(watcher(self.batch_context))
        self.write(record)
        self.losses.clear()
        self.tokens, self.window_start = 0, time.perf_counter()
        return record

    def save(self, step: int) -> None:
        """Checkpoint (sharded: every rank writes; else the main rank), then log its parameter checksums;
        weights that are not finite are never saved."""
        checksums = distributed.parameter_checksums(self.model, self.dist)
        if not all(math.isfinite(value) for value in checksums):
            raise self.diverged(step, f"parameter checksums {checksums}")
        state = {
            "scheduler": self.scheduler.state_dict(),
            "samplers": distributed.gather_objects(self.sampler.state_dict(), self.dist),
            "inputs": self.inputs,
        }
        directory, keep = self.out_dir / "checkpoints", self.config.train.keep_checkpoints
        if self.config.train.parallel == "fsdp":
            barrier = lambda: distributed.barrier(self.dist)  # noqa: E731
            checkpoint.save_sharded(
                directory, step, self.model, self.optimizer, state, keep, self.dist.is_main, barrier
            )
        elif self.dist.is_main:
            checkpoint.save(directory, step, self.ernie_m, {**state, "optimizer": self.optimizer.state_dict()}, keep)
        self.log_checksums(step, "checkpoint", checksums)
        distributed.barrier(self.dist)

    def log_checksums(self, step: int, event: str, checksums: list[float] | None = None) -> None:
        """Log the parameters' checksums (every rank takes part): they prove that the ranks agree at a
        checkpoint, and that a resumed run holds the checkpoint's weights ("resumed" equals its "checkpoint")."""
        checksums = checksums or distributed.parameter_checksums(self.model, self.dist)
        self.write({"step": step, "event": event, "param_checksums": checksums})

    def restore(self, path: Path, accept_changed_corpus: bool = False) -> int:
        """Load a checkpoint into model, optimizer, scheduler and sampler; return its step. A checkpoint
        saved with other inputs (config, tokenizer, corpus) is refused before anything is loaded.

        Each rank takes its own sampler cursors back; with another number of processes than the
        checkpoint's (possible with FSDP's re-sharded checkpoints), every rank takes rank 0's, each
        position as the same fraction of its new share: the data's order then differs from an
        uninterrupted run, weights and optimizer state do not."""
        state = checkpoint.read_state(path, self.dist.device)
        checkpoint.check_inputs(state.get("inputs"), self.inputs, path, accept_changed_corpus)
        if (path / "sharded").is_dir():
            checkpoint.load_sharded(path, self.model, self.optimizer)
        elif distributed.is_sharded(self.model):
            raise ErnieMError(f"{path}: written without FSDP (train.parallel ddp); resume it with train.parallel=ddp")
        else:
            checkpoint.load_weights(path, self.ernie_m, self.dist.device)
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        samplers = state.get("samplers") or [
            state["sampler"]
        ]  # "sampler": rank 0's alone, in checkpoints of earlier versions
        if len(samplers) == self.dist.world_size:
            self.sampler.load_state_dict(samplers[self.dist.rank])
        else:
            self.sampler.load_state_dict(samplers[0], saved_world_size=len(samplers))
        return int(state["step"])
