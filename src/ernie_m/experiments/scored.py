"""One pre-training run scored on alignment: the unit that the demo and the ablation repeat.

    DIR/run.yaml, log.jsonl, checkpoints/, model/   the pre-training run (ernie_m.train.run)
    DIR/result.json                                 written last: one result per measure (`Scoring`),
                                                    what each was measured with, the training figures

Called again with the same settings, it returns DIR/result.json, or continues the run from its last
checkpoint; with other settings it starts DIR over; a measure not scored before (or with other
options) is scored on the finished model, the others are kept. result.json appears only once the run
is finished and scored, so an interrupted run is never reported as if it were finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from ernie_m.card import RUN_SUMMARY
from ernie_m.config import Config
from ernie_m.data.build import open_corpus, read_manifest
from ernie_m.data.tokenizer import load_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.finetune import FinetuneConfig
from ernie_m.evaluate.report import write_results
from ernie_m.evaluate.tasks import EvalSettings, run_task
from ernie_m.files import write_atomically
from ernie_m.model import save_pretrained
from ernie_m.train.run import RunSettings, final_losses, initial_model, pretrain

log = logging.getLogger(__name__)
HELDOUT = "heldout"
CONLL_LANGUAGES = ("en", "de", "es", "nl")  # fine-tuned on English, scored zero-shot on the others
CONLL_LEARNING_RATES = (3e-5, 1e-4, 3e-4, 1e-3)  # tried on English dev; small models need the larger ones
NOT_TRAINED = {"steps": 0, "final_loss": {}, "tokens_per_s": None}


@dataclass(frozen=True)
class Scoring:
    """What every run is scored on: the corpus's held-out pairs always; the real sentences of XNLI
    (retrieval on its translated `xnli_split` sentences) and of Tatoeba, and CoNLL NER transfer
    (fine-tuned on English, entity F1 on de, es, nl), when their folders are given.

    Each measure's result (ernie_m.evaluate.tasks) lists the corpus's monolingual-only languages
    under "mono_only", so that its table can group the languages as the held-out one does."""

    xnli: Path | None = None
    xnli_languages: tuple[str, ...] = ()
    xnli_split: str = "dev"
    tatoeba: Path | None = None
    tatoeba_languages: tuple[str, ...] = ()
    conll: Path | None = None
    # No layer decay and a learning rate chosen on English dev (`choose_conll_lr`): the paper's 2e-5
    # with decay 0.8 leaves a small model predicting "O" only.
    conll_finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(lr=1e-3, layer_decay=1.0))
    conll_train_examples: int | None = 5000  # a seeded sample of English training sentences, for time

    def measures(self, model_dir: Path, corpus: Path, progress: bool) -> dict[str, EvalSettings]:
        """The evaluation of `model_dir` for each measure, keyed by task name."""
        measures = {HELDOUT: EvalSettings(task=HELDOUT, model_dir=model_dir, data_dir=corpus, progress=progress)}
        if self.xnli is not None:
            measures["xnli-retrieval"] = EvalSettings(
                task="xnli-retrieval",
                model_dir=model_dir,
                data_dir=self.xnli,
                languages=self.xnli_languages,
                test_split=self.xnli_split,
                progress=progress,
            )
        if self.tatoeba is not None:
            measures["tatoeba"] = EvalSettings(
                task="tatoeba",
                model_dir=model_dir,
                data_dir=self.tatoeba,
                languages=self.tatoeba_languages,
                progress=progress,
            )
        if self.conll is not None:
            measures["conll"] = self.conll_settings(model_dir, CONLL_LANGUAGES, progress)
        return measures

    def conll_settings(self, model_dir: Path, languages: tuple[str, ...], progress: bool) -> EvalSettings:
        return EvalSettings(
            task="conll",
            model_dir=model_dir,
            data_dir=self.conll,
            languages=languages,
            finetune=self.conll_finetune,
            max_train_examples=self.conll_train_examples,
            progress=progress,
        )

    def keys(self) -> dict[str, dict]:
        """What each measure's result depends on besides the model (paths resolved), as stored in result.json."""
        keys = {HELDOUT: {}}
        if self.xnli is not None:
            keys["xnli-retrieval"] = {
                "data": _resolved(self.xnli),
                "languages": list(self.xnli_languages),
                "split": self.xnli_split,
            }
        if self.tatoeba is not None:
            keys["tatoeba"] = {"data": _resolved(self.tatoeba), "languages": list(self.tatoeba_languages)}
        if self.conll is not None:
            keys["conll"] = {
                "data": _resolved(self.conll),
                "finetune": asdict(self.conll_finetune),
                "train_examples": self.conll_train_examples,
            }
        return keys


def choose_conll_lr(
    scoring: Scoring, model_dir: Path, out_file: Path, progress: bool = True
) -> tuple[Scoring, dict[str, float]]:
    """`scoring` with the CoNLL fine-tuning learning rate that gives `model_dir` the best English dev
    F1 among CONLL_LEARNING_RATES, and each rate's best dev F1. Kept in `out_file` (reused for the
    same model and settings); a scoring without CoNLL is returned as it is."""
    if scoring.conll is None:
        return scoring, {}
    key = {"model": _resolved(model_dir), "conll": scoring.keys()["conll"], "rates": list(CONLL_LEARNING_RATES)}
    saved = json.loads(out_file.read_text(encoding="utf-8")) if out_file.is_file() else {}
    if saved.get("key") != key:
        dev = {}
        for lr in CONLL_LEARNING_RATES:
            log.info("conll: fine-tuning %s with learning rate %g to choose it on English dev", model_dir, lr)
            trial = replace(scoring, conll_finetune=replace(scoring.conll_finetune, lr=lr))
            dev[f"{lr:g}"] = max(run_task(trial.conll_settings(model_dir, ("en",), progress))["dev_scores"])
        saved = {"key": key, "dev_f1": dev}
        out_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out_file, lambda p: p.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8"))
    # a tie (all collapsed: 0.0) goes to the larger rate
    best = max(saved["dev_f1"], key=lambda lr: (saved["dev_f1"][lr], float(lr)))
    return replace(scoring, conll_finetune=replace(scoring.conll_finetune, lr=float(best))), saved["dev_f1"]


def finetuning(scoring: Scoring, dev_f1: dict[str, float]) -> str:
    """How CoNLL was fine-tuned, and the English dev F1 of each learning rate tried (`choose_conll_lr`)."""
    tried = ", ".join(f"{lr}: {f1:.1f}" for lr, f1 in dev_f1.items())
    ft = scoring.conll_finetune
    text = (
        f"Fine-tuned {ft.epochs} epochs on {scoring.conll_train_examples or 'all'} English training sentences, batch "
        f"{ft.batch_size}, "
        f"learning rate {ft.lr:g} without layer decay, chosen on English dev with the starting model of the arms (dev "
        f"F1 by rate: {tried})."
    )
    if dev_f1 and max(dev_f1.values()) == 0:
        text += " Every rate collapsed on English dev (F1 0.0): the CoNLL scores below say nothing about the models."
    return text


def corpus_identity(corpus: Path) -> str:
    """What caches and results name a corpus by. A catalog corpus of the cache goes by its name
    (`corpus-<key>`: the key already hashes what it is made from); any other by its name and a hash
    of its manifest, so that another corpus of the same name, or one rebuilt in place from other
    sources, gets its own tokenizer, base and results."""
    name = Path(corpus).name
    if re.fullmatch(r"corpus-[0-9a-f]{12}", name):
        return name
    return f"{name}-{hashlib.blake2b((Path(corpus) / 'manifest.json').read_bytes(), digest_size=6).hexdigest()}"


def train_and_score(
    config: Config,
    corpus: Path,
    tokenizer: Path | None,
    out_dir: Path,
    scoring: Scoring = Scoring(),
    progress: bool = True,
    init_from: Path | None = None,
) -> dict:
    """Pre-train on the built `corpus` (from scratch with `tokenizer`, or continuing the model `init_from`
    with its own tokenizer), then score it: {measure: task result, "training": summary, "measured_with": ...}."""
    settings = RunSettings(
        config,
        Path(corpus).resolve(),
        init_from and Path(init_from).resolve(),
        None if init_from else Path(tokenizer).resolve(),
    )
    out_dir = Path(out_dir)
    resume, earlier = _earlier(settings, out_dir, corpus)
    model_dir = out_dir / "model"
    if earlier is None:
        model_dir = pretrain(None if resume else settings, out_dir, resume=resume, progress=progress)
    training = earlier["training"] if earlier else training_summary(out_dir / "log.jsonl")
    return _scored(settings.corpus, model_dir, training, scoring, progress, out_dir, earlier)


def score_untrained(
    config: Config, corpus: Path, tokenizer: Path, out_dir: Path, scoring: Scoring = Scoring(), progress: bool = True
) -> dict:
    """The same scores for the model as `train_and_score` initialises it from scratch (same seed),
    before its first step: the random initialisation, a floor for pre-training."""
    settings = RunSettings(config, Path(corpus).resolve(), None, Path(tokenizer).resolve())
    out_dir = Path(out_dir)
    _, earlier = _earlier(settings, out_dir, corpus)
    if earlier is None:
        shutil.rmtree(out_dir, ignore_errors=True)  # a model saved without its result: save it again
        loaded = load_tokenizer(tokenizer)
        save_pretrained(initial_model(config, len(loaded), open_corpus(corpus).languages()), loaded, out_dir / "model")
        settings.save(out_dir / "run.yaml")
    return _scored(settings.corpus, out_dir / "model", NOT_TRAINED, scoring, progress, out_dir, earlier)


def score_model(
    model_dir: Path, corpus: Path, out_dir: Path, scoring: Scoring = Scoring(), progress: bool = True
) -> dict:
    """The same scores for a model trained elsewhere (XLM-R given as --init-from), kept in
    OUT/result.json and reused while the model's path stays the same."""
    model_dir, result_file = Path(model_dir).resolve(), Path(out_dir) / "result.json"
    earlier = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    if earlier is not None and (
        earlier.get("model") != str(model_dir) or earlier.get("corpus") != corpus_identity(corpus)
    ):
        earlier = None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return _scored(Path(corpus).resolve(), model_dir, NOT_TRAINED, scoring, progress, Path(out_dir), earlier)


def training_summary(log_file: Path) -> dict:
    """Steps, each objective's final loss (`final_losses`), the median tokens/s over the log's intervals,
    and the last logged figures of BTMLM's generator (ernie_m.objectives.btmlm.generator_stats), if watched."""
    lines = [json.loads(line) for line in Path(log_file).read_text(encoding="utf-8").splitlines()]
    logged = [line for line in lines if "tokens_per_s" in line]
    return {
        "steps": logged[-1]["step"] if logged else 0,
        "final_loss": final_losses(Path(log_file)),
        "tokens_per_s": statistics.median(line["tokens_per_s"] for line in logged) if logged else None,
        "generator": {key: value for key, value in logged[-1].items() if key.startswith("bt/")} if logged else {},
    }


def _earlier(settings: RunSettings, out_dir: Path, corpus: Path) -> tuple[bool, dict | None]:
    """(whether OUT holds a run with these settings on this corpus, its result if it was finished
    and scored); a run with other settings, or on a corpus rebuilt in place, is removed."""
    same = _saved_settings(out_dir / "run.yaml") == settings
    if same and (out_dir / "result.json").is_file():
        result = json.loads((out_dir / "result.json").read_text(encoding="utf-8"))
        same = "corpus" not in result or result["corpus"] == corpus_identity(corpus)  # older results name no corpus
        if same:
            return True, result
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


def _scored(
    corpus: Path, model_dir: Path, training: dict, scoring: Scoring, progress: bool, out_dir: Path, earlier: dict | None
) -> dict:
    """`model_dir` scored on every measure of `scoring`, reusing the results in `earlier` that were
    measured the same way; OUT/result.json written when anything was scored. Measures of `earlier`
    not asked for now are kept (the demo and the ablation share the base, each with its measures)."""
    earlier = earlier or {}
    keys, measured_with = scoring.keys(), earlier.get("measured_with", {})
    kept = {name: earlier[name] for name in measured_with if name not in keys and name in earlier}
    result = {
        "model": str(Path(model_dir).resolve()),
        "corpus": corpus_identity(corpus),
        "training": training,
        "measured_with": {**{name: measured_with[name] for name in kept}, **keys},
        **kept,
    }
    wanted = scoring.measures(model_dir, corpus, progress)
    missing = [name for name in wanted if measured_with.get(name) != keys[name] or name not in earlier]
    if not missing:
        log.info("%s: finished and scored before; reusing its result", out_dir)
    elif earlier:
        log.info("%s: finished before; scoring it on the measures asked now (%s)", out_dir, ", ".join(missing))
    mono_only = read_manifest(corpus)["options"]["mono_only"]
    for name, evaluation in wanted.items():
        if name not in missing:
            result[name] = earlier[name]
            continue
        measured = run_task(evaluation)
        measured["mono_only"] = [
            lang for lang in mono_only if f"{lang}->en" in measured["scores"] or lang in measured["scores"]
        ]
        result[name] = measured
    if missing:
        # a model trained here: its card gets its scores
        if training["steps"] and (Path(model_dir) / RUN_SUMMARY).is_file():
            # the card says what each measure is
            write_results(model_dir, [result[name] for name in wanted], allow_partial=True)
        write_atomically(
            out_dir / "result.json", lambda p: p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        )
    return result


def _resolved(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())
