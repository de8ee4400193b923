"""`ernie-m ablation`: the paper's ablation at small scale. As the paper's arms continue from XLM-R,
every arm here continues from a base model trained with MMLM alone (once per seed), with the same
steps, data, schedule and seed; scored on the corpus's held-out pairs and, given their folders, on
XNLI's translated sentences and Tatoeba.

    CACHE/base-<key>/      the base of each seed (ernie_m.experiments.inputs), shared with the demo
    OUT/untrained/seed-<n>/  the random initialisation of the base, scored: the second reference row
    OUT/<arm>/seed-<n>/    one arm's run (ernie_m.experiments.scored): resumable, reused when finished
    OUT/ablation.md        per measure, each arm's mean over seeds (and range) for the two language groups,
                           the token-overlap floor below
    OUT/ablation.png       the same as bars with the seeds' range
    OUT/ablation.json      every run's scores

Each arm keeps the config's stage lengths (and so its learning-rate schedule) and changes only the
objectives. BTMLM comes in the second stage, after the model has learnt to translate in the first.
With `init_from` (a model directory: XLM-R on the user's disk) that model is every seed's base.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ernie_m.config import Config
from ernie_m.errors import ErnieMError
from ernie_m.experiments import report
from ernie_m.experiments.inputs import Inputs, base_config, base_model
from ernie_m.experiments.scored import (
    HELDOUT,
    Scoring,
    choose_conll_lr,
    finetuning,
    score_model,
    score_untrained,
    train_and_score,
)
from ernie_m.files import write_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    """One arm: its label in the report and the objectives of the first and second stage (sampling ratios)."""

    label: str
    first: dict[str, float]
    second: dict[str, float]


_ALIGN = {"mmlm": 1.0, "tlm": 1.0, "camlm": 1.0}
ARMS = {  # keyed by the name `--arms` takes and the run directory
    "mmlm": Arm("MMLM", {"mmlm": 1.0}, {"mmlm": 1.0}),
    "mmlm-tlm": Arm("MMLM+TLM", {"mmlm": 1.0, "tlm": 1.0}, {"mmlm": 1.0, "tlm": 1.0}),
    "mmlm-camlm": Arm("MMLM+CAMLM", {"mmlm": 1.0, "camlm": 1.0}, {"mmlm": 1.0, "camlm": 1.0}),
    "mmlm-camlm-btmlm": Arm(
        "MMLM+CAMLM, then +BTMLM", {"mmlm": 1.0, "camlm": 1.0}, {"mmlm": 1.0, "camlm": 1.0, "btmlm": 1.0}
    ),
    "full": Arm("full: MMLM+TLM+CAMLM, then +BTMLM", _ALIGN, {**_ALIGN, "btmlm": 1.0}),
}
# The paper's claims, as (arm, the arm it is compared with): CAMLM against continued MMLM and TLM;
# BTMLM against the same recipe without it (its claim is about the monolingual-only languages).
COMPARISONS = (("mmlm-camlm", "mmlm"), ("full", "mmlm"), ("mmlm-camlm", "mmlm-tlm"), ("mmlm-camlm-btmlm", "mmlm-camlm"))
REPORT_FILES = ("ablation.md", "ablation.png", "ablation.json")


def arm_config(config: Config, arm: str, seed: int) -> Config:
    """`config` with the arm's objectives in its two stages and the given seed."""
    if len(config.stages) != 2:
        raise ErnieMError(
            f"ablation: the config needs two stages (align, then back-translate), it has {len(config.stages)}"
        )
    objectives = (ARMS[arm].first, ARMS[arm].second)
    stages = tuple(
        dataclasses.replace(stage, objectives=dict(chosen))
        for stage, chosen in zip(config.stages, objectives, strict=True)
    )
    return dataclasses.replace(_seeded(config, seed), stages=stages)


def _seeded(config: Config, seed: int) -> Config:
    return dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))


def run_ablation(
    inputs: Inputs,
    out_dir: Path,
    arms: tuple[str, ...],
    seeds: tuple[int, ...],
    base_steps: int,
    scoring: Scoring = Scoring(),
    init_from: Path | None = None,
    progress: bool = True,
) -> Path:
    """Train and score the base and every arm with every seed (finished runs are reused); write the
    report, return OUT/ablation.md."""
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not arms:
        raise ErnieMError(f"ablation: unknown or no arms ({', '.join(unknown)}); known: {', '.join(ARMS)}")
    if not seeds:
        raise ErnieMError("ablation: no seeds given (--seeds 0,1,2)")
    out_dir = Path(out_dir)
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    corpus, tokenizer = inputs.prepare()
    configs = {seed: base_config(inputs.config, seed, base_steps) for seed in seeds}
    # Every seed's base, trained (or found in the cache) first: CoNLL's learning rate is chosen with the first.
    bases = {
        seed: Path(init_from)
        if init_from
        else base_model(configs[seed], corpus, tokenizer, inputs.cache_dir, Scoring(), progress)[0]
        for seed in seeds
    }
    scoring, conll_dev = choose_conll_lr(scoring, bases[seeds[0]], out_dir / "conll-lr.json", progress)
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        if init_from is None:  # the references: the random initialisation, then the base trained from it
            results.setdefault(report.UNTRAINED, []).append(
                score_untrained(
                    configs[seed], corpus, tokenizer, out_dir / "untrained" / f"seed-{seed}", scoring, progress
                )
            )
            scores = base_model(configs[seed], corpus, tokenizer, inputs.cache_dir, scoring, progress)[1]
        else:
            scores = score_model(init_from, corpus, out_dir / "base", scoring, progress)
        results.setdefault(report.GIVEN if init_from else report.BASE, []).append(scores)
    for index, (arm, seed) in enumerate((arm, seed) for arm in arms for seed in seeds):
        log.info("ablation: run %d of %d: %s, seed %d", index + 1, len(arms) * len(seeds), ARMS[arm].label, seed)
        run_dir = out_dir / arm / f"seed-{seed}"
        results.setdefault(ARMS[arm].label, []).append(
            train_and_score(
                arm_config(inputs.config, arm, seed), corpus, None, run_dir, scoring, progress, init_from=bases[seed]
            )
        )
    report.ablation_chart(results, out_dir / "ablation.png")
    write_atomically(
        out_dir / "ablation.json", lambda p: p.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    )
    text = _report(inputs.config, seeds, base_steps, init_from, results, scoring, conll_dev)
    write_atomically(out_dir / "ablation.md", lambda p: p.write_text(text, encoding="utf-8"))
    return out_dir / "ablation.md"


def _report(
    config: Config,
    seeds: tuple[int, ...],
    base_steps: int,
    init_from: Path | None,
    results: dict[str, list[dict]],
    scoring: Scoring,
    conll_dev: dict[str, float],
) -> str:
    model, first = config.model, next(iter(results.values()))[0]
    groups = report.languages_by_group(first[HELDOUT])
    start = (
        f"continues from {init_from}"
        if init_from
        else f"{model.num_hidden_layers} layers, hidden size {model.hidden_size}; continues from the base of its seed "
        f"({base_steps:,} MMLM steps from a random initialisation)"
    )
    lines = [
        "# ERNIE-M ablation",
        "",
        f"Every arm {start}, then trains {config.total_steps:,} steps of {config.train.batch_size} sequences "
        f"(stages of {' + '.join(f'{s.steps:,}' for s in config.stages)} steps, learning rate {config.train.lr:g}), "
        "seeds "
        f"{', '.join(map(str, seeds))}; same corpus and tokenizer. Pairs with English for "
        f"{', '.join(groups['parallel'])}; "
        f"monolingual text only for {', '.join(groups['monolingual-only']) or 'none'}.",
    ]
    compared = [
        (ARMS[a].label, ARMS[b].label) for a, b in COMPARISONS if ARMS[a].label in results and ARMS[b].label in results
    ]
    for measure in report.measures([run for runs in results.values() for run in runs]):
        lines += ["", f"## {report.MEASURE_TITLES[measure]}", "", report.MEASURE_NOTES[measure], ""]
        if measure not in report.RETRIEVAL:
            lines += [report.downstream_table(results, measure), "", finetuning(scoring, conll_dev)]
            continue
        lines.append(report.ablation_table(results, measure))
        if compared:
            lines += [
                "",
                "The paper's comparisons: difference in points, mean over seeds, with the 95% interval of a paired "
                "bootstrap over sentence pairs (a pair's two directions resampled together):",
                "",
                report.comparison_table(results, measure, compared),
            ]
    generator = report.generator_table(results)
    if generator:
        lines += ["", "## BTMLM's generator", "", report.GENERATOR_NOTE, "", generator]
    return "\n".join([*lines, "", "![ablation](ablation.png)"]) + "\n"
