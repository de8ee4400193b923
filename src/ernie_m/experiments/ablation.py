"""`ernie-m ablation`: the paper's arms trained with the same data, tokenizer, steps and seeds,
scored on held-out alignment and reported side by side.

    OUT/<arm>/seed-<n>/    one run (ernie_m.experiments.scored): resumable, reused when finished
    OUT/ablation.md        table: each arm's mean over seeds (and range) for the two language groups
    OUT/ablation.png       the same as bars with the seeds' range
    OUT/ablation.json      every run's scores

Each arm keeps the config's stage lengths (and so its learning-rate schedule) and changes only the
objectives. BTMLM comes in the second stage, after the model has learnt to translate in the first.
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
from ernie_m.experiments.inputs import Inputs
from ernie_m.experiments.scored import score_untrained, train_and_score
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
    "mmlm-camlm-btmlm": Arm("MMLM+CAMLM, then +BTMLM", {"mmlm": 1.0, "camlm": 1.0}, {"mmlm": 1.0, "camlm": 1.0, "btmlm": 1.0}),
    "full": Arm("full: MMLM+TLM+CAMLM, then +BTMLM", _ALIGN, {**_ALIGN, "btmlm": 1.0}),
}
UNTRAINED = "no pre-training (the initialisation)"
REPORT_FILES = ("ablation.md", "ablation.png", "ablation.json")


def arm_config(config: Config, arm: str, seed: int) -> Config:
    """`config` with the arm's objectives in its two stages and the given seed."""
    if len(config.stages) != 2:
        raise ErnieMError(f"ablation: the config needs two stages (align, then back-translate), it has {len(config.stages)}")
    objectives = (ARMS[arm].first, ARMS[arm].second)
    stages = tuple(dataclasses.replace(stage, objectives=dict(chosen)) for stage, chosen in zip(config.stages, objectives))
    return dataclasses.replace(_seeded(config, seed), stages=stages)


def _seeded(config: Config, seed: int) -> Config:
    return dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))


def run_ablation(inputs: Inputs, out_dir: Path, arms: tuple[str, ...], seeds: tuple[int, ...], progress: bool = True) -> Path:
    """Train and score every arm with every seed (finished runs are reused); write the report, return OUT/ablation.md."""
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not arms:
        raise ErnieMError(f"ablation: unknown or no arms ({', '.join(unknown)}); known: {', '.join(ARMS)}")
    if not seeds:
        raise ErnieMError("ablation: no seeds given (--seeds 0,1)")
    out_dir = Path(out_dir)
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    corpus, tokenizer = inputs.prepare()
    # The reference row: each seed's model as initialised, before any step of any arm.
    results = {UNTRAINED: [score_untrained(_seeded(inputs.config, seed), corpus, tokenizer, out_dir / "untrained" / f"seed-{seed}", progress) for seed in seeds]}
    for index, (arm, seed) in enumerate((arm, seed) for arm in arms for seed in seeds):
        log.info("ablation: run %d of %d: %s, seed %d", index + 1, len(arms) * len(seeds), ARMS[arm].label, seed)
        run_dir = out_dir / arm / f"seed-{seed}"
        results.setdefault(ARMS[arm].label, []).append(train_and_score(arm_config(inputs.config, arm, seed), corpus, tokenizer, run_dir, progress))
    report.ablation_chart(results, out_dir / "ablation.png")
    write_atomically(out_dir / "ablation.json", lambda p: p.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8"))
    text = _report(inputs.config, seeds, results)
    write_atomically(out_dir / "ablation.md", lambda p: p.write_text(text, encoding="utf-8"))
    return out_dir / "ablation.md"


def _report(config: Config, seeds: tuple[int, ...], results: dict[str, list[dict]]) -> str:
    model, first = config.model, next(iter(results.values()))[0]
    groups = report.languages_by_group(first)
    return "\n".join([
        "# ERNIE-M ablation",
        "",
        f"Every arm: {model.num_hidden_layers} layers, hidden size {model.hidden_size}, {config.total_steps:,} steps of "
        f"{config.train.batch_size} sequences (stages of {' + '.join(f'{s.steps:,}' for s in config.stages)} steps), seeds "
        f"{', '.join(map(str, seeds))}; same corpus and tokenizer. Pairs with English for {', '.join(groups['parallel'])}; "
        f"monolingual text only for {', '.join(groups['monolingual-only']) or 'none'}.",
        "",
        "Retrieval accuracy (%) on held-out pairs, mean of X->en and en->X over each group's languages: "
        "mean over seeds (lowest-highest).",
        "",
        report.ablation_table(results),
        "",
        "![ablation](ablation.png)",
    ]) + "\n"
