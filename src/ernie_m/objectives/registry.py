"""The objectives by name: what config validation, the trainer, the run and the model card read.

An objective is one module that builds its batches, described by one `Objective` and put in
OBJECTIVES with `register` (the package registers its four; a fifth can come from any file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ernie_m.config import Config
from ernie_m.data.corpus import Languages, TextCorpus
from ernie_m.errors import ErnieMError
from ernie_m.objectives.batch import Batch, BatchContext

DATA_KINDS = {"mono": "monolingual sentences", "pairs": "parallel pairs"}

# Called at every log of a training run with its batch context: figures to log (name -> value).
Watcher = Callable[[BatchContext], dict[str, float]]


@dataclass(frozen=True)
class Objective:
    """`build_batch(examples, ctx, rng)` turns `data`'s examples into a Batch: "mono" examples are
    (token ids, language id), "pairs" examples (ids a, language a, ids b, language b).

    Optional hooks: `check(config, corpus)` refuses, with an ErnieMError, a corpus the objective
    cannot train on beyond lacking its kind of data; `watch(config, held_out, tokenizer, language_ids)`
    returns a Watcher of the run (or None), given the corpus's dev split (None without one)."""

    name: str  # as the config's stages write it
    title: str  # as reports and model cards print it
    data: str  # "mono" or "pairs"
    build_batch: Callable[[list, BatchContext, np.random.Generator], Batch]
    check: Callable[[Config, Languages], None] | None = None
    watch: Callable[[Config, TextCorpus | None, object, dict[str, int]], Watcher | None] | None = None


OBJECTIVES: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    """Put `objective` in OBJECTIVES under its name (replacing one of that name); return it."""
    if objective.data not in DATA_KINDS:
        raise ValueError(f"objective {objective.name!r}: data must be one of {', '.join(DATA_KINDS)}")
    OBJECTIVES[objective.name] = objective
    return objective


def title(name: str) -> str:
    """The objective's printed name (a name no longer registered as it is)."""
    return OBJECTIVES[name].title if name in OBJECTIVES else name


def in_order(names) -> list[str]:
    """Objective names in registry order; names no longer registered last, sorted."""
    names = set(names)
    return [name for name in OBJECTIVES if name in names] + sorted(names - set(OBJECTIVES))


def used(config: Config) -> list[Objective]:
    """The objectives the schedule trains (weight > 0 in some stage), in registry order."""
    names = {name for stage in config.stages for name, weight in stage.objectives.items() if weight > 0}
    return [objective for name, objective in OBJECTIVES.items() if name in names]


def check_names(config: Config) -> None:
    """Refuse a schedule that names an objective nobody registered."""
    for stage in config.stages:
        unknown = sorted(set(stage.objectives) - set(OBJECTIVES))
        if unknown:
            raise ErnieMError(
                f"config: stage {stage.name!r}: unknown objective(s) {unknown}; known: {tuple(OBJECTIVES)}"
            )


def check_schedule(config: Config, corpus: TextCorpus) -> None:
    """Refuse a schedule the corpus cannot feed, before anything is written."""
    check_names(config)
    has = {
        "mono": bool(corpus.mono) or (config.data.mono_from_parallel and bool(corpus.pairs)),
        "pairs": bool(corpus.pairs),
    }
    for objective in used(config):
        if not has[objective.data]:
            raise ErnieMError(
                f"config: the schedule uses {objective.name}, but the corpus has no {DATA_KINDS[objective.data]}"
            )
        if objective.check is not None:
            objective.check(config, corpus)


def watchers(config: Config, held: TextCorpus | None, tokenizer, language_ids: dict[str, int]) -> list[Watcher]:
    """The watchers of the schedule's objectives, given the corpus's dev split (None without one)."""
    found = (o.watch(config, held, tokenizer, language_ids) for o in used(config) if o.watch is not None)
    return [watcher for watcher in found if watcher is not None]
