"""One pre-training run scored on alignment: the unit that the demo and the ablation repeat.

    DIR/run.yaml, log.jsonl, checkpoints/, model/   the pre-training run (ernie_m.train.run)
    DIR/result.json                                 written last: one result per measure (`Scoring`),
                                                    the training figures, and what was measured

Called again with the same settings, it returns DIR/result.json, or continues the run from its last
checkpoint; with other settings it starts DIR over; with other measures it scores the finished model
again without training it again. result.json appears only once the run is finished and scored, so an
interrupted run is never reported as if it were finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from ernie_m.card import RUN_SUMMARY, write_results
from ernie_m.config import Config
from ernie_m.data.build import open_corpus, read_manifest
from ernie_m.data.tokenizer import load_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.tasks import LANGUAGES, EvalSettings, run_task
from ernie_m.files import write_atomically
from ernie_m.model import save_pretrained
from ernie_m.train.run import RunSettings, final_losses, initial_model, pretrain

log = logging.getLogger(__name__)
HELDOUT = "heldout"
NOT_TRAINED = {"steps": 0, "final_loss": {}, "tokens_per_s": None}


@dataclass(frozen=True)
class Scoring:
    """What every run is scored on: the corpus's held-out pairs always; the real sentences of XNLI
    (retrieval on its translated `xnli_split` sentences) and of Tatoeba when their folders are given.

    Each measure's result (ernie_m.evaluate.tasks) lists the corpus's monolingual-only languages
    under "mono_only", so that its table can group the languages as the held-out one does."""

    xnli: Path | None = None
    xnli_split: str = "dev"
    tatoeba: Path | None = None
    tatoeba_languages: tuple[str, ...] = ()

    def measures(self, model_dir: Path, corpus: Path, progress: bool) -> dict[str, EvalSettings]:
        """The evaluation of `model_dir` for each measure, keyed by task name."""
        measures = {HELDOUT: EvalSettings(task=HELDOUT, model_dir=model_dir, data_dir=corpus, progress=progress)}
        if self.xnli is not None:
            trained = corpus_languages(corpus)
            languages = tuple(lang for lang in LANGUAGES["xnli-retrieval"] if lang in trained)
            measures["xnli-retrieval"] = EvalSettings(task="xnli-retrieval", model_dir=model_dir, data_dir=self.xnli,
                                                      languages=languages, test_split=self.xnli_split, progress=progress)
        if self.tatoeba is not None:
            measures["tatoeba"] = EvalSettings(task="tatoeba", model_dir=model_dir, data_dir=self.tatoeba,
                                               languages=self.tatoeba_languages, progress=progress)
        return measures

    def key(self) -> dict:
        """What the measures depend on, as stored in result.json (paths resolved)."""
        return {"xnli": _resolved(self.xnli), "xnli_split": self.xnli_split, "tatoeba": _resolved(self.tatoeba),
                "tatoeba_languages": list(self.tatoeba_languages)}


def corpus_languages(corpus: Path) -> list[str]:
    """The languages of a built corpus other than English: those with pairs and the monolingual-only ones."""
    return [lang for lang in read_manifest(corpus)["languages"] if lang != "en"]


def train_and_score(config: Config, corpus: Path, tokenizer: Path | None, out_dir: Path, scoring: Scoring = Scoring(),
                    progress: bool = True, init_from: Path | None = None) -> dict:
    """Pre-train on the built `corpus` (from scratch with `tokenizer`, or continuing the model `init_from`
    with its own tokenizer), then score it: {measure: task result, "training": summary, "scoring": ...}."""
    settings = RunSettings(config, Path(corpus).resolve(), init_from and Path(init_from).resolve(),
                           None if init_from else Path(tokenizer).resolve())
    resume, result = _earlier(settings, Path(out_dir), scoring)
    if result is not None:
        return result
    model_dir = Path(out_dir) / "model"
    if not (resume and (model_dir / "config.json").is_file()):  # a finished model only needs scoring again
        model_dir = pretrain(None if resume else settings, out_dir, resume=resume, progress=progress)
    return _scored(settings.corpus, model_dir, training_summary(Path(out_dir) / "log.jsonl"), scoring, progress, Path(out_dir))


def score_untrained(config: Config, corpus: Path, tokenizer: Path, out_dir: Path, scoring: Scoring = Scoring(),
                    progress: bool = True) -> dict:
    """The same scores for the model as `train_and_score` initialises it from scratch (same seed),
    before its first step: the random initialisation, a floor for pre-training."""
    settings = RunSettings(config, Path(corpus).resolve(), None, Path(tokenizer).resolve())
    resume, result = _earlier(settings, Path(out_dir), scoring)
    if result is not None:
        return result
    if not resume:
        loaded = load_tokenizer(tokenizer)
        save_pretrained(initial_model(config, len(loaded), open_corpus(corpus).languages()), loaded, Path(out_dir) / "model")
        settings.save(Path(out_dir) / "run.yaml")
    return _scored(settings.corpus, Path(out_dir) / "model", NOT_TRAINED, scoring, progress, Path(out_dir))


def score_model(model_dir: Path, corpus: Path, out_dir: Path, scoring: Scoring = Scoring(), progress: bool = True) -> dict:
    """The same scores for a model trained elsewhere (XLM-R given as --init-from), kept in
    OUT/result.json and reused while the model's path and the measures stay the same."""
    model_dir, result_file = Path(model_dir).resolve(), Path(out_dir) / "result.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text(encoding="utf-8"))
        if result.get("scoring") == scoring.key() and result.get("model") == str(model_dir):
            log.info("%s: scored before; reusing its result", model_dir)
            return result
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return _scored(Path(corpus).resolve(), model_dir, NOT_TRAINED, scoring, progress, Path(out_dir))


def training_summary(log_file: Path) -> dict:
    """Steps, each objective's final loss (`final_losses`), and the median tokens/s over the log's intervals."""
    lines = [json.loads(line) for line in Path(log_file).read_text(encoding="utf-8").splitlines()]
    logged = [line for line in lines if "tokens_per_s" in line]
    return {
        "steps": logged[-1]["step"] if logged else 0,
        "final_loss": final_losses(Path(log_file)),
        "tokens_per_s": statistics.median(line["tokens_per_s"] for line in logged) if logged else None,
    }


def _earlier(settings: RunSettings, out_dir: Path, scoring: Scoring) -> tuple[bool, dict | None]:
    """(whether OUT holds a run with these settings, its result if it was finished and scored on
    these measures); a run with other settings is removed."""
    same = _saved_settings(out_dir / "run.yaml") == settings
    if same and (out_dir / "result.json").is_file():
        result = json.loads((out_dir / "result.json").read_text(encoding="utf-8"))
        if result.get("scoring") == scoring.key():
            log.info("%s: finished and scored before; reusing its result", out_dir)
            return True, result
        log.info("%s: finished before; scoring it on the measures asked now", out_dir)
    if not same and out_dir.exists():
        log.info("%s: holds a run with other settings; starting it over", out_dir)
        shutil.rmtree(out_dir)
    return same, None


def _saved_settings(path: Path) -> RunSettings | None:
    """The settings of an earlier run; None when there is none or its file cannot be read (cut short,
    or written by a version with other config keys)."""
    try:
        return RunSettings.load(path)
    except (OSError, ErnieMError, yaml.YAMLError, KeyError, TypeError):
        return None


def _scored(corpus: Path, model_dir: Path, training: dict, scoring: Scoring, progress: bool, out_dir: Path) -> dict:
    """Score `model_dir` on every measure and write OUT/result.json."""
    mono_only = read_manifest(corpus)["options"]["mono_only"]
    result = {"model": str(Path(model_dir).resolve())}
    for name, evaluation in scoring.measures(model_dir, corpus, progress).items():
        measured = run_task(evaluation)
        measured["mono_only"] = [lang for lang in mono_only if f"{lang}->en" in measured["scores"]]
        result[name] = measured
    if training["steps"] and (model_dir / RUN_SUMMARY).is_file():  # a model trained here: its card gets its scores
        write_results(model_dir, [measured for measured in result.values() if isinstance(measured, dict)])
    result.update(training=training, scoring=scoring.key())
    write_atomically(out_dir / "result.json", lambda p: p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8"))
    return result


def _resolved(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())
