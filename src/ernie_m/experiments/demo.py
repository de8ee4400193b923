"""`ernie-m demo` (`make demo`): the whole method on the embedded default, offline, on a CPU.

    system catalogs -> corpus with held-out pairs and monolingual-only languages -> tokenizer
    -> pre-training (the config's stages: MMLM+TLM+CAMLM, then BTMLM added)
    -> retrieval on held-out pairs (and Tatoeba files, when given) -> OUT/report.md with plots

The corpus and the tokenizer are cached (ernie_m.experiments.inputs); the run continues from its
last checkpoint after an interruption (ernie_m.experiments.scored). The report is removed when a
demo starts and written when it ends, so it always describes a finished model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ernie_m.errors import ErnieMError
from ernie_m.evaluate import readers
from ernie_m.evaluate.report import language_table
from ernie_m.evaluate.tasks import EvalSettings, run_task
from ernie_m.experiments import report
from ernie_m.experiments.inputs import Inputs
from ernie_m.experiments.scored import score_untrained, train_and_score
from ernie_m.files import write_atomically
from ernie_m.train.run import LOSSES_OVER

log = logging.getLogger(__name__)

REPORT_FILES = ("report.md", "losses.png", "alignment.png")


def run_demo(inputs: Inputs, out_dir: Path, tatoeba_dir: Path | None = None, progress: bool = True) -> Path:
    """Train and score the demo model; write OUT/report.md (and its plots) and return its path."""
    out_dir = Path(out_dir)
    tatoeba_languages = _tatoeba_languages(inputs, tatoeba_dir) if tatoeba_dir else ()  # a bad folder fails before anything
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    corpus, tokenizer = inputs.prepare()
    before = score_untrained(inputs.config, corpus, tokenizer, out_dir / "untrained", progress)
    result = train_and_score(inputs.config, corpus, tokenizer, out_dir / "pretrain", progress)
    tatoeba = None
    if tatoeba_languages:
        settings = EvalSettings(task="tatoeba", model_dir=out_dir / "pretrain" / "model", data_dir=tatoeba_dir, languages=tatoeba_languages, progress=progress)
        tatoeba = run_task(settings)
    report.loss_chart(out_dir / "pretrain" / "log.jsonl", out_dir / "losses.png")
    report.alignment_chart(result, out_dir / "alignment.png", before)
    text = _report(inputs, corpus, result, before, tatoeba)
    write_atomically(out_dir / "report.md", lambda p: p.write_text(text, encoding="utf-8"))
    return out_dir / "report.md"


def _tatoeba_languages(inputs: Inputs, data_dir: Path) -> tuple[str, ...]:
    """The demo's languages that have Tatoeba files in `data_dir`; an error when none has."""
    languages = [lang for lang in (*inputs.config.data.languages, *inputs.mono_only) if lang in readers.TATOEBA_ISO3]
    present = tuple(lang for lang in languages if _has_tatoeba(data_dir, lang))
    if not present:
        expected = ", ".join(f"tatoeba.{readers.TATOEBA_ISO3[lang]}-eng.{readers.TATOEBA_ISO3[lang]}" for lang in languages)
        raise ErnieMError(f"{data_dir}: no Tatoeba files for the demo's languages (looked for {expected or 'none: no demo language is in Tatoeba'} and their .eng sides)")
    return present


def _has_tatoeba(data_dir: Path, lang: str) -> bool:
    try:
        readers.task_files("tatoeba", data_dir, "test", lang)
    except ErnieMError:
        return False
    return True


def _report(inputs: Inputs, corpus: Path, result: dict, before: dict, tatoeba: dict | None) -> str:
    config, training = inputs.config, result["training"]
    model = config.model
    groups = report.languages_by_group(result)
    losses = ", ".join(f"{name} {value:.2f}" for name, value in training["final_loss"].items())
    sections = [
        "# ERNIE-M demo",
        f"- model: {model.num_hidden_layers} layers, hidden size {model.hidden_size}, "
        f"{config.tokenizer.vocab_size:,}-piece vocabulary, {config.data.max_length} tokens a sequence",
        f"- training: {training['steps']:,} steps of {config.train.batch_size} sequences, stages "
        + " then ".join(f"{s.name} ({'+'.join(s.objectives)}, {s.steps:,} steps)" for s in config.stages),
        f"- speed: {training['tokens_per_s']:,.0f} tokens/s (median over the log)",
        f"- final losses (mean of the last {LOSSES_OVER} logged): {losses}",
        f"- corpus: `{corpus}`; pairs with English for {', '.join(groups['parallel'])}; "
        f"monolingual text only for {', '.join(groups['monolingual-only']) or 'none'}",
        "",
        "## Alignment on held-out pairs",
        "",
        "Sentence retrieval accuracy (%) on each language's held-out test pairs: mean-pooled "
        "middle layer, cosine nearest neighbour among all of them; \"before\": the same model as "
        "initialised, before pre-training (shared numbers, placeholders and names already let it match some).",
        "",
        report.alignment_table(result, before),
        "",
        "![alignment per language](alignment.png)",
        "",
        "## Loss per objective",
        "",
        "![loss per objective](losses.png)",
    ]
    if tatoeba is not None:
        sections += ["", "## Tatoeba", "", language_table(tatoeba)]
    return "\n".join(sections) + "\n"
