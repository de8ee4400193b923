"""`ernie-m demo` (`make demo`): the whole method on the embedded default, offline, on a CPU, with
the paper's protocol: a base model first (MMLM only, as XLM-R is for the paper), then the recipe.

    system catalogs -> corpus with held-out pairs and monolingual-only languages -> tokenizer
    -> base: MMLM on every language's text (cached, shared with the ablation)
    -> the recipe from the base (the config's stages: MMLM+TLM+CAMLM, then BTMLM added)
    -> retrieval on held-out pairs (and XNLI's or Tatoeba's sentences, when given) -> OUT/report.md with plots

The corpus, the tokenizer and the base are cached (ernie_m.experiments.inputs); the run continues
from its last checkpoint after an interruption (ernie_m.experiments.scored). The report is removed
when a demo starts and written when it ends, so it always describes a finished model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ernie_m.experiments import report
from ernie_m.experiments.inputs import Inputs, base_config, base_model
from ernie_m.experiments.scored import Scoring, choose_conll_lr, finetuning, score_untrained, train_and_score
from ernie_m.files import write_atomically
from ernie_m.train.run import LOSSES_OVER

log = logging.getLogger(__name__)

REPORT_FILES = ("report.md", "losses.png", "alignment.png", "generator.png")
TRAINED = "the demo's model (base + recipe)"


def run_demo(
    inputs: Inputs, out_dir: Path, base_steps: int, scoring: Scoring = Scoring(), progress: bool = True
) -> Path:
    """Train the base, then the demo model from it; score both and the random initialisation; write
    OUT/report.md (and its plots) and return its path."""
    out_dir = Path(out_dir)
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    corpus, tokenizer = inputs.prepare()
    base = base_config(inputs.config, inputs.config.train.seed, base_steps)
    base_dir, _ = base_model(base, corpus, tokenizer, inputs.cache_dir, Scoring(), progress)
    scoring, conll_dev = choose_conll_lr(scoring, base_dir, out_dir / "conll-lr.json", progress)
    runs = {report.UNTRAINED: score_untrained(base, corpus, tokenizer, out_dir / "untrained", scoring, progress)}
    runs[report.BASE] = base_model(base, corpus, tokenizer, inputs.cache_dir, scoring, progress)[1]
    runs[TRAINED] = train_and_score(
        inputs.config, corpus, None, out_dir / "pretrain", scoring, progress, init_from=base_dir
    )
    report.loss_chart(out_dir / "pretrain" / "log.jsonl", out_dir / "losses.png")
    if runs[TRAINED]["training"].get("generator"):
        report.generator_chart(out_dir / "pretrain" / "log.jsonl", out_dir / "generator.png")
    report.alignment_chart(runs[TRAINED]["heldout"], out_dir / "alignment.png", runs[report.BASE]["heldout"])
    text = _report(inputs, corpus, base_steps, runs, finetuning(scoring, conll_dev))
    write_atomically(out_dir / "report.md", lambda p: p.write_text(text, encoding="utf-8"))
    return out_dir / "report.md"


def _report(inputs: Inputs, corpus: Path, base_steps: int, runs: dict[str, dict], conll_note: str) -> str:
    config, result = inputs.config, runs[TRAINED]
    training, model = result["training"], config.model
    groups = report.languages_by_group(result["heldout"])
    losses = ", ".join(f"{name} {value:.2f}" for name, value in training["final_loss"].items())
    sections = [
        "# ERNIE-M demo",
        f"- model: {model.num_hidden_layers} layers, hidden size {model.hidden_size}, "
        f"{config.tokenizer.vocab_size:,}-piece vocabulary, {config.data.max_length} tokens a sequence",
        f"- base: {base_steps:,} MMLM steps from a random initialisation, on every language's text",
        f"- recipe, from the base: {training['steps']:,} steps of {config.train.batch_size} sequences, stages "
        + " then ".join(f"{s.name} ({'+'.join(s.objectives)}, {s.steps:,} steps)" for s in config.stages),
        f"- speed: {training['tokens_per_s']:,.0f} tokens/s (median over the log)",
        f"- final losses (mean of the last {LOSSES_OVER} logged): {losses}",
        f"- corpus: `{corpus}`; pairs with English for {', '.join(groups['parallel'])}; "
        f"monolingual text only for {', '.join(groups['monolingual-only']) or 'none'}",
    ]
    for measure in report.measures(list(runs.values())):
        if measure not in report.RETRIEVAL:
            table = report.downstream_table({label: [run] for label, run in runs.items()}, measure)
            sections += [
                "",
                f"## {report.MEASURE_TITLES[measure]}",
                "",
                report.MEASURE_NOTES[measure],
                "",
                table,
                "",
                conll_note,
            ]
            continue
        sections += [
            "",
            f"## {report.MEASURE_TITLES[measure]}",
            "",
            report.MEASURE_NOTES[measure],
            "",
            report.ablation_table({label: [run] for label, run in runs.items()}, measure),
            "",
            'Per language ("before": the base, where the recipe started):',
            "",
            report.alignment_table(result[measure], runs[report.BASE][measure]),
        ]
    sections += [
        "",
        "![alignment per language on the held-out pairs](alignment.png)",
        "",
        "## Loss per objective",
        "",
        "![loss per objective](losses.png)",
    ]
    if result["training"].get("generator"):
        sections += [
            "",
            "## BTMLM's generator",
            "",
            report.GENERATOR_NOTE,
            "",
            report.generator_table({TRAINED: [result]}),
            "",
            "![the generator over the steps](generator.png)",
        ]
    return "\n".join(sections) + "\n"
