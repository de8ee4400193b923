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
from dataclasses import dataclass
from pathlib import Path

from ernie_m.config import Config
from ernie_m.data.build import BuildOptions
from ernie_m.data.catalogs import DEFAULT_LOCALE_DIR
from ernie_m.errors import ErnieMError
from ernie_m.evaluate import readers
from ernie_m.evaluate.report import language_table
from ernie_m.evaluate.tasks import EvalSettings, run_task
from ernie_m.experiments import report
from ernie_m.experiments.inputs import catalog_corpus, corpus_tokenizer
from ernie_m.experiments.scored import score_untrained, train_and_score
from ernie_m.files import write_atomically

log = logging.getLogger(__name__)

# Withheld from training as pairs; their own side stays as monolingual text. Each has thousands of
# catalog pairs, so 1,000 held-out pairs can score it: Latin (it), Cyrillic (uk) and Hangul (ko) script.
MONO_ONLY = ("it", "uk", "ko")
MIN_TRAIN_SENTENCES = 2000
REPORT_FILES = ("report.md", "losses.png", "alignment.png")


@dataclass(frozen=True)
class Inputs:
    """What the demo and the ablation train on: pairs for config.data.languages, monolingual text for `mono_only`."""

    config: Config
    mono_only: tuple[str, ...] = MONO_ONLY
    cache_dir: Path = Path("runs/cache")
    locale_dir: Path = DEFAULT_LOCALE_DIR

    def prepare(self) -> tuple[Path, Path]:
        """The cached corpus and tokenizer (built on first use)."""
        overlap = sorted(set(self.mono_only) & set(self.config.data.languages))
        if overlap:
            raise ErnieMError(f"--mono-only {', '.join(overlap)}: also in data.languages (the languages trained with pairs)")
        options = BuildOptions(
            catalog_languages=tuple(self.config.data.languages) + tuple(self.mono_only),
            locale_dir=self.locale_dir, mono_only=tuple(self.mono_only), seed=self.config.train.seed,
        )
        corpus = catalog_corpus(options, self.cache_dir, MIN_TRAIN_SENTENCES)
        return corpus, corpus_tokenizer(corpus, self.config.tokenizer, self.config.train.seed, self.cache_dir)


def run_demo(inputs: Inputs, out_dir: Path, tatoeba_dir: Path | None = None, progress: bool = True) -> Path:
    """Train and score the demo model; write OUT/report.md (and its plots) and return its path."""
    out_dir = Path(out_dir)
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    corpus, tokenizer = inputs.prepare()
    before = score_untrained(inputs.config, corpus, tokenizer, out_dir / "untrained", progress)
    result = train_and_score(inputs.config, corpus, tokenizer, out_dir / "pretrain", progress)
    tatoeba = _tatoeba(result, out_dir / "pretrain" / "model", tatoeba_dir, progress) if tatoeba_dir else None
    report.loss_chart(out_dir / "pretrain" / "log.jsonl", out_dir / "losses.png")
    report.alignment_chart(result, out_dir / "alignment.png")
    text = _report(inputs, corpus, result, before, tatoeba)
    write_atomically(out_dir / "report.md", lambda p: p.write_text(text, encoding="utf-8"))
    return out_dir / "report.md"


def _tatoeba(result: dict, model_dir: Path, data_dir: Path, progress: bool) -> dict:
    """Tatoeba retrieval for the demo's languages that have files in `data_dir`."""
    wanted = [lang for group in report.languages_by_group(result).values() for lang in group if lang in readers.TATOEBA_ISO3]
    present = [lang for lang in wanted if _has_tatoeba(data_dir, lang)]
    if not present:
        raise ErnieMError(f"{data_dir}: no Tatoeba files for the demo's languages (e.g. tatoeba.{readers.TATOEBA_ISO3[wanted[0]]}-eng.{readers.TATOEBA_ISO3[wanted[0]]})")
    return run_task(EvalSettings(task="tatoeba", model_dir=model_dir, data_dir=data_dir, languages=tuple(present), progress=progress))


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
        f"- final losses: {losses}",
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
