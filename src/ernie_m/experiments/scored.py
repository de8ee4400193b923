"""One pre-training run scored on held-out alignment: the unit that the demo and the ablation repeat.

    DIR/run.yaml, log.jsonl, checkpoints/, model/   the pre-training run (ernie_m.train.run)
    DIR/result.json                                 written last: held-out retrieval scores and training figures

Called again with the same settings, it returns DIR/result.json, or continues the run from its last
checkpoint; with other settings it starts DIR over. result.json appears only once the run is
finished and scored, so an interrupted run is never reported as if it were finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
from pathlib import Path

import yaml

from ernie_m.card import RUN_SUMMARY, write_results
from ernie_m.config import Config
from ernie_m.data.build import open_corpus
from ernie_m.data.tokenizer import load_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.tasks import EvalSettings, run_task
from ernie_m.files import write_atomically
from ernie_m.model import save_pretrained
from ernie_m.train.run import RunSettings, final_losses, initial_model, pretrain

log = logging.getLogger(__name__)


def train_and_score(config: Config, corpus: Path, tokenizer: Path, out_dir: Path, progress: bool = True) -> dict:
    """Pre-train on the built `corpus` with `tokenizer`, then score retrieval on its held-out test pairs.

    Returns the `heldout` task result (ernie_m.evaluate.tasks) with a "training" summary added."""
    settings = RunSettings(config, Path(corpus).resolve(), None, Path(tokenizer).resolve())
    resume, result = _earlier(settings, Path(out_dir))
    if result is not None:
        return result
    model_dir = pretrain(None if resume else settings, out_dir, resume=resume, progress=progress)
    return _scored(settings, model_dir, training_summary(Path(out_dir) / "log.jsonl"), progress)


def score_untrained(config: Config, corpus: Path, tokenizer: Path, out_dir: Path, progress: bool = True) -> dict:
    """The same score for the model as `train_and_score` initialises it (same seed), before its first
    step: the floor that pre-training has to beat."""
    settings = RunSettings(config, Path(corpus).resolve(), None, Path(tokenizer).resolve())
    _, result = _earlier(settings, Path(out_dir))
    if result is not None:
        return result
    loaded = load_tokenizer(tokenizer)
    save_pretrained(initial_model(config, len(loaded), open_corpus(corpus).languages()), loaded, Path(out_dir) / "model")
    settings.save(Path(out_dir) / "run.yaml")
    return _scored(settings, Path(out_dir) / "model", {"steps": 0, "final_loss": {}, "tokens_per_s": None}, progress)


def training_summary(log_file: Path) -> dict:
    """Steps, each objective's final loss (`final_losses`), and the median tokens/s over the log's intervals."""
    lines = [json.loads(line) for line in Path(log_file).read_text(encoding="utf-8").splitlines()]
    logged = [line for line in lines if "tokens_per_s" in line]
    return {
        "steps": logged[-1]["step"] if logged else 0,
        "final_loss": final_losses(Path(log_file)),
        "tokens_per_s": statistics.median(line["tokens_per_s"] for line in logged) if logged else None,
    }


def _earlier(settings: RunSettings, out_dir: Path) -> tuple[bool, dict | None]:
    """(whether OUT holds a run with these settings, its result if it was finished and scored);
    a run with other settings is removed."""
    same = _saved_settings(out_dir / "run.yaml") == settings
    if same and (out_dir / "result.json").is_file():
        log.info("%s: finished and scored before; reusing its result", out_dir)
        return True, json.loads((out_dir / "result.json").read_text(encoding="utf-8"))
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


def _scored(settings: RunSettings, model_dir: Path, training: dict, progress: bool) -> dict:
    """Score `model_dir` on the corpus's held-out pairs and write the result beside it."""
    result = run_task(EvalSettings(task="heldout", model_dir=model_dir, data_dir=settings.corpus, progress=progress))
    result["training"] = training
    if (model_dir / RUN_SUMMARY).is_file():  # a trained model's card gets its score (the untrained one has no card)
        write_results(model_dir, [result])
    write_atomically(model_dir.parent / "result.json", lambda p: p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8"))
    return result
