"""The evaluation tasks, as the paper and XTREME run them, each a function from settings to scores.

    classification (XNLI, PAWS-X)  fine-tune a sequence-classification head, accuracy per language
    NER (CoNLL)                    fine-tune a token-classification head, entity F1 per language
    MLQA                           fine-tune an extractive-QA head on SQuAD v1.1, F1 and EM per language
    Tatoeba                        no fine-tuning: mean-pooled middle layer, cosine nearest neighbour
    XNLI retrieval                 no fine-tuning: the same on XNLI's sentences, translated row by row
    BUCC                           no fine-tuning: margin-based mining, threshold tuned on dev, F1
    held-out pairs                 no fine-tuning: retrieval on a built corpus's test pairs, per language

Settings: cross-lingual transfer (train on English, select on English dev, test every language)
or translate-train-all (train on every language's training file, select on English dev).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain
from pathlib import Path

import numpy as np

from ernie_m.errors import ErnieMError
from ernie_m.evaluate import readers
from ernie_m.evaluate.finetune import (
    FinetuneConfig,
    finetune,
    pair_features,
    predict_labels,
    predict_tags,
    tagged_features,
)
from ernie_m.evaluate.metrics import (
    accuracy,
    best_threshold,
    bucc_f1,
    entity_f1,
    mine_pairs,
    overlap_similarity,
    retrieval_accuracy,
    retrieval_hits,
    squad_scores,
)
from ernie_m.model import check_model_directory
from ernie_m.provenance import software

log = logging.getLogger(__name__)

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")
SETTINGS = ("transfer", "translate-train-all")
# What a task that does not fine-tune, or pools no layer, would ignore: refused when given.
FINETUNING_OPTIONS = (
    "--setting", "--train-split", "--epochs", "--batch-size", "--lr", "--layer-decay", "--seed", "--max-train-examples",
    "--resume",
)  # fmt: skip
POOLING_OPTIONS = ("--layer",)


@dataclass(frozen=True)
class EvalSettings:
    task: str
    model_dir: Path
    data_dir: Path
    languages: tuple[str, ...] = ()  # empty: every language of the task
    setting: str = "transfer"
    train_split: str = "train"
    dev_split: str = "dev"
    test_split: str = "test"
    max_train_examples: int | None = None
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    progress: bool = True
    layer: int | None = None  # tatoeba, bucc: the hidden layer to pool; None: XTREME's, scaled
    checkpoint: Path | None = None  # where fine-tuning keeps its state after each epoch, to resume

    def finetune_state(self, out_dir: Path) -> Path:
        """Where an interrupted fine-tuning keeps its state in `out_dir`: keyed by everything that
        defines the fine-tuning (paths resolved, progress bars aside), so that --resume never
        continues another run and always finds its own."""
        defining = replace(
            self,
            model_dir=Path(self.model_dir).resolve(),
            data_dir=Path(self.data_dir).resolve(),
            progress=True,
            checkpoint=None,
        )
        key = hashlib.blake2b(repr(defining).encode(), digest_size=6).hexdigest()
        return Path(out_dir) / ".finetune" / f"{self.task}-{self.setting}-{key}.pt"

    def task_languages(self) -> tuple[str, ...]:
        known = TASKS[self.task].languages
        unknown = [lang for lang in self.languages if known and lang not in known]
        if unknown:
            raise ErnieMError(
                f"{self.task}: no {', '.join(unknown)} data in this task; its languages: {', '.join(known)}"
            )
        return self.languages or known


def classification(settings: EvalSettings, dataset: str, labels: tuple[str, ...]) -> dict:
    """Sentence-pair classification (XNLI, PAWS-X): accuracy per language."""
    from transformers import AutoModelForSequenceClassification

    languages = settings.task_languages()

    def read(split: str, lang: str) -> list[readers.SentencePair]:
        return readers.read_sentence_pairs(readers.task_files(dataset, settings.data_dir, split, lang), labels, lang)

    tokenizer = _tokenizer(settings.model_dir)
    length = settings.finetune.max_length
    train = _training_examples(settings, languages, read)
    tests = {lang: read(settings.test_split, lang) for lang in languages}  # every file checked before fine-tuning
    model = _with_new_head(AutoModelForSequenceClassification, settings.model_dir, num_labels=len(labels))
    dev = pair_features(tokenizer, read(settings.dev_split, "en"), length)

    def predict(model, features: list[dict]) -> list[int]:
        return predict_labels(model, features, 64, tokenizer.pad_token_id)

    model, dev_scores = finetune(
        model,
        pair_features(tokenizer, train, length),
        lambda m: accuracy(predict(m, dev), [f["labels"] for f in dev]),
        settings.finetune,
        tokenizer.pad_token_id,
        settings.progress,
        settings.checkpoint,
    )
    scores, predicted = {}, {}
    for lang in languages:
        features = pair_features(tokenizer, tests[lang], length)
        predictions = predict(model, features)
        scores[lang] = accuracy(predictions, [f["labels"] for f in features])
        predicted[lang] = [labels[label] for label in predictions]
    examples = {lang: len(tests[lang]) for lang in languages}
    return _with_collapse(_result(settings, "accuracy", scores, dev_scores, examples, len(train)), predicted)


def ner(settings: EvalSettings) -> dict:
    """CoNLL-2002/2003: entity-level F1 per language, labels on first sub-tokens."""
    from transformers import AutoModelForTokenClassification

    languages = settings.task_languages()

    def read(split: str, lang: str) -> list[readers.TaggedSentence]:
        return readers.read_conll(readers.task_files("conll", settings.data_dir, split, lang))

    tokenizer = _tokenizer(settings.model_dir)
    train = _training_examples(settings, languages, read)
    dev = read(settings.dev_split, "en")
    tests = {lang: read(settings.test_split, lang) for lang in languages}  # every file checked before fine-tuning
    tags = sorted({tag for sentence in train for tag in sentence.tags} | {"O"})
    tag_ids = {tag: i for i, tag in enumerate(tags)}
    length = settings.finetune.max_length
    model = _with_new_head(AutoModelForTokenClassification, settings.model_dir, num_labels=len(tags))

    def predict(model, sentences) -> list[list[str]]:
        known = [_known_tags(s, tag_ids) for s in sentences]
        features, word_ids = tagged_features(tokenizer, known, tag_ids, length)
        return predict_tags(
            model, features, word_ids, tags, [len(s.tokens) for s in sentences], 64, tokenizer.pad_token_id
        )

    def gold(sentences) -> list[list[str]]:
        return [list(s.tags) for s in sentences]

    features, _ = tagged_features(tokenizer, train, tag_ids, length)
    model, dev_scores = finetune(
        model,
        features,
        lambda m: entity_f1(predict(m, dev), gold(dev)),
        settings.finetune,
        tokenizer.pad_token_id,
        settings.progress,
        settings.checkpoint,
    )
    predicted = {lang: predict(model, sentences) for lang, sentences in tests.items()}
    scores = {lang: entity_f1(predicted[lang], gold(tests[lang])) for lang in languages}
    result = _result(
        settings, "entity F1", scores, dev_scores, {lang: len(tests[lang]) for lang in languages}, len(train)
    )
    return _with_collapse(result, {lang: list(chain.from_iterable(p)) for lang, p in predicted.items()})


def mlqa(settings: EvalSettings) -> dict:
    """MLQA: extractive QA fine-tuned on SQuAD v1.1 (English), windows of 384 tokens with stride 128;
    F1 per language (exact match alongside), with MLQA's normalisation."""
    from transformers import AutoModelForQuestionAnswering

    from ernie_m.evaluate import qa

    languages = settings.task_languages()
    tokenizer = _tokenizer(settings.model_dir)
    length, pad = settings.finetune.max_length, tokenizer.pad_token_id

    def read(split: str, lang: str) -> list[readers.QAExample]:
        task = "squad" if split == "train" else "mlqa"  # MLQA has no training split: XTREME trains on SQuAD
        return readers.read_squad(readers.task_files(task, settings.data_dir, split, lang))

    def score(model, examples: list[readers.QAExample], lang: str) -> dict[str, float]:
        features, windows = qa.eval_features(tokenizer, examples, length)
        answers = qa.predict_answers(model, features, windows, examples, 32, pad)
        return squad_scores(answers, qa.gold_answers(examples), lang)

    train = _training_examples(settings, languages, read)
    dev = read(settings.dev_split, "en")
    tests = {lang: read(settings.test_split, lang) for lang in languages}  # every file checked before fine-tuning
    model = _with_new_head(AutoModelForQuestionAnswering, settings.model_dir)
    model, dev_scores = finetune(
        model,
        qa.train_features(tokenizer, train, length),
        lambda m: score(m, dev, "en")["f1"],
        settings.finetune,
        pad,
        settings.progress,
        settings.checkpoint,
    )
    results = {lang: score(model, tests[lang], lang) for lang in languages}
    result = _result(
        settings,
        "F1",
        {lang: r["f1"] for lang, r in results.items()},
        dev_scores,
        {lang: len(tests[lang]) for lang in languages},
        len(train),
    )
    result["exact_match"] = {lang: r["exact_match"] for lang, r in results.items()}
    return result


def tatoeba(settings: EvalSettings) -> dict:
    """Sentence retrieval X->en and en->X: mean-pooled middle layer, cosine nearest neighbour."""
    languages = settings.languages or readers.present_languages(
        "tatoeba", settings.data_dir, settings.test_split, [lang for lang in readers.TATOEBA_ISO3 if lang != "en"]
    )
    pairs = {}
    for lang in languages:
        source_file, english_file = readers.task_files("tatoeba", settings.data_dir, settings.test_split, lang)
        pairs[lang] = readers.read_tatoeba(source_file, english_file)
    return _retrieval_result(settings, pairs)


def xnli_retrieval(settings: EvalSettings) -> dict:
    """Sentence retrieval X->en and en->X on XNLI's dev or test sentences (`--test-split`), which are
    the same premises and hypotheses in 15 languages: real sentences, each once, scored as Tatoeba."""

    def path(lang: str) -> Path:
        return readers.task_files("xnli", settings.data_dir, settings.test_split, lang)

    def read(lang: str) -> list[readers.SentencePair]:
        return readers.read_sentence_pairs(path(lang), readers.XNLI_LABELS, lang)

    english = read("en")
    pairs = {
        lang: readers.translated_sentences(read(lang), english, path(lang), path("en"))
        for lang in settings.task_languages()
    }
    return _retrieval_result(settings, pairs)


def heldout(settings: EvalSettings) -> dict:
    """Alignment on the held-out pairs of a corpus built by `ernie-m corpus build` (its test/ or dev/
    split): retrieval X->en and en->X per language, as Tatoeba. The corpus's monolingual-only
    languages (whose pairs training never saw) are listed in the result."""
    from ernie_m.data.build import read_manifest
    from ernie_m.data.corpus import read_corpus_dir

    mono_only = read_manifest(settings.data_dir)["options"]["mono_only"]
    held = read_corpus_dir(settings.data_dir / settings.test_split)
    pairs = {
        key[1]: ([b for _, b in found], [a for a, _ in found])
        for key, found in sorted(held.pairs.items())
        if key[0] == "en"
    }
    languages = settings.languages or tuple(pairs)
    missing = [lang for lang in languages if lang not in pairs]
    if missing:
        raise ErnieMError(f"{settings.data_dir}: no held-out {settings.test_split} pairs for {', '.join(missing)}")
    result = _retrieval_result(settings, {lang: pairs[lang] for lang in languages})
    result["mono_only"] = [lang for lang in languages if lang in mono_only]
    return result


def _retrieval_result(settings: EvalSettings, pairs: dict[str, tuple[list[str], list[str]]]) -> dict:
    """Accuracy X->en and en->X for each language's aligned (foreign, English) sentence lists; under
    "hits" each sentence's outcome ("1" found, "0" not, in sentence order: what a paired bootstrap
    resamples); under "overlap_floor" the same pairs retrieved by TF-IDF over the model's tokenizer
    pieces; under "sentences" how many each language has."""
    from ernie_m.evaluate.encode import load_encoder

    model, tokenizer = load_encoder(settings.model_dir, settings.finetune.device)
    scores, floor, hits = {}, {}, {}
    for lang, (source, english) in pairs.items():
        similarity = _embed(source, model, tokenizer, settings) @ _embed(english, model, tokenizer, settings).T
        overlap = overlap_similarity([tokenizer.tokenize(s) for s in source], [tokenizer.tokenize(s) for s in english])
        for direction, transpose in ((f"{lang}->en", False), (f"en->{lang}", True)):
            found = retrieval_hits(similarity.T if transpose else similarity)
            hits[direction] = "".join("1" if hit else "0" for hit in found)
            scores[direction] = 100.0 * float(found.mean())
            floor[direction] = retrieval_accuracy(overlap.T if transpose else overlap)
    result = _result(settings, "accuracy", scores, [], {lang: len(source) for lang, (source, _) in pairs.items()})
    result.update(overlap_floor=floor, sentences={lang: len(source) for lang, (source, _) in pairs.items()}, hits=hits)
    return result


def bucc(settings: EvalSettings) -> dict:
    """Parallel-sentence mining: ratio-margin (k=4) candidates, the threshold tuned on dev (BUCC's
    sample set), F1 on test (its training set, whose gold is public)."""
    from ernie_m.evaluate.encode import load_encoder

    languages = settings.languages or readers.present_languages(
        "bucc", settings.data_dir, settings.test_split, BUCC_LANGUAGES
    )
    model, tokenizer = load_encoder(settings.model_dir, settings.finetune.device)

    def candidates(split: str, lang: str):
        foreign, english, gold = readers.read_bucc(settings.data_dir, lang, split)
        x = _embed(list(foreign.values()), model, tokenizer, settings)
        y = _embed(list(english.values()), model, tokenizer, settings)
        return mine_pairs(list(foreign), x, list(english), y, k=4), gold

    scores, examples = {}, {}
    for lang in languages:
        threshold = best_threshold(*candidates(settings.dev_split, lang))
        found, gold = candidates(settings.test_split, lang)
        scores[lang], examples[lang] = bucc_f1(found, gold, threshold)["f1"], len(gold)
    return _result(settings, "F1", scores, [], examples)


@dataclass(frozen=True)
class Task:
    """An evaluation task: its runner, its languages (empty: those the data folder has files for),
    whether it fine-tunes (else its results are "zero-shot"), its settings, default --max-length, and
    whether a result on a split other than test is a full measure (model cards take only those).
    File names and splits are its data sets' (`readers.DATASETS`)."""

    name: str
    run: Callable[[EvalSettings], dict]
    languages: tuple[str, ...] = ()
    finetunes: bool = True
    settings: tuple[str, ...] = SETTINGS
    max_length: int = 128
    any_split_is_full: bool = False  # its dev split is a full measure too (retrieval on held-out or real sentences)

    def result_setting(self, setting: str) -> str:
        """The setting its result is filed under."""
        return setting if self.finetunes else "zero-shot"


TASKS = {
    task.name: task
    for task in (
        Task("xnli", partial(classification, dataset="xnli", labels=readers.XNLI_LABELS), XNLI_LANGUAGES),
        Task(
            "pawsx",
            partial(classification, dataset="pawsx", labels=readers.PAWSX_LABELS),
            ("de", "en", "es", "fr", "ja", "ko", "zh"),
        ),
        Task("conll", ner, ("de", "en", "es", "nl")),
        # MLQA has no training split: trained on SQuAD v1.1 (English), as XTREME does.
        Task("mlqa", mlqa, ("ar", "de", "en", "es", "hi", "vi", "zh"), settings=("transfer",), max_length=384),
        Task("tatoeba", tatoeba, finetunes=False),
        Task("bucc", bucc, finetunes=False),
        Task("heldout", heldout, finetunes=False, any_split_is_full=True),
        # Each language retrieved from and into English.
        Task(
            "xnli-retrieval",
            xnli_retrieval,
            tuple(lang for lang in XNLI_LANGUAGES if lang != "en"),
            finetunes=False,
            any_split_is_full=True,
        ),
    )
}


def check_options(task: str, setting: str, given: list[str]) -> Task:
    """The task, after refusing an unknown task or setting, and the options `given` (as the command
    line names them) that it would ignore."""
    if task not in TASKS:
        raise ErnieMError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    spec = TASKS[task]
    if setting not in SETTINGS:
        raise ErnieMError(f"unknown setting {setting!r}; known: {', '.join(SETTINGS)}")
    if setting not in spec.settings:
        raise ErnieMError(f"{task}: only the {' and '.join(spec.settings)} setting is supported, not {setting}")
    ignored, because = (
        ([o for o in given if o in FINETUNING_OPTIONS], "does not fine-tune")
        if not spec.finetunes
        else ([o for o in given if o in POOLING_OPTIONS], "pools no layer")
    )
    if ignored:
        verb = "does" if len(ignored) == 1 else "do"
        raise ErnieMError(f"{task}: {', '.join(ignored)} {verb} not apply ({task} {because})")
    return spec


def evaluate(settings: EvalSettings, out_dir: Path, resume: bool = False) -> tuple[dict, list[Path]]:
    """Score the task and write its report into `out_dir` (refused before any work when a result of
    another model sits there); an interrupted fine-tuning of the same settings continues with `resume`,
    else starts over. Its state is removed once the report is written."""
    from ernie_m.evaluate.report import check_result_slot, write_report

    check_options(settings.task, settings.setting, [])
    if settings.max_train_examples is not None and settings.max_train_examples < 1:
        raise ErnieMError(f"--max-train-examples {settings.max_train_examples}: at least 1")
    check_result_slot(out_dir, settings.task, TASKS[settings.task].result_setting(settings.setting), settings.model_dir)
    state = settings.finetune_state(out_dir)
    if not resume:
        state.unlink(missing_ok=True)
    result = run_task(replace(settings, checkpoint=state))
    files = write_report(result, out_dir)
    state.unlink(missing_ok=True)
    if state.parent.is_dir() and not any(state.parent.iterdir()):
        state.parent.rmdir()  # no other fine-tuning waits there for --resume
    return result, files


def run_task(settings: EvalSettings) -> dict:
    """The task's result (scores per language, with what they were measured on)."""
    check_options(settings.task, settings.setting, [])
    check_model_directory(settings.model_dir)  # an unconverted ERNIE-M is named with the command that converts it
    return TASKS[settings.task].run(within_positions(settings))


def within_positions(settings: EvalSettings) -> EvalSettings:
    """`settings` with max_length lowered to what the model's position table holds (XLM-R numbers
    positions from 2, so P positions hold P - 2 tokens), saying so; a longer input would crash."""
    import json

    config = json.loads((Path(settings.model_dir) / "config.json").read_text(encoding="utf-8"))
    limit = config.get("max_position_embeddings", 514) - 2
    if settings.finetune.max_length <= limit:
        return settings
    log.warning(
        "%s: --max-length %d is longer than the model's %d positions hold; using %d",
        settings.model_dir,
        settings.finetune.max_length,
        limit + 2,
        limit,
    )
    return replace(settings, finetune=replace(settings.finetune, max_length=limit))


def _training_examples(settings: EvalSettings, languages: tuple[str, ...], read) -> list:
    """English training data (transfer), or every language's (translate-train-all); optionally capped."""
    train_languages = ("en",) if settings.setting == "transfer" else languages
    examples = [example for lang in train_languages for example in read(settings.train_split, lang)]
    if settings.max_train_examples and len(examples) > settings.max_train_examples:
        chosen = np.random.default_rng(settings.finetune.seed).choice(
            len(examples), settings.max_train_examples, replace=False
        )
        examples = [examples[i] for i in sorted(chosen)]
    return examples


def _known_tags(sentence: readers.TaggedSentence, tag_ids: dict[str, int]) -> readers.TaggedSentence:
    """Tags the training data never had are scored as they are, but fed to the model as "O"."""
    return readers.TaggedSentence(sentence.tokens, tuple(tag if tag in tag_ids else "O" for tag in sentence.tags))


def _with_new_head(auto_class, model_dir: Path, **options):
    """The encoder of `model_dir` under a new task head. transformers' load report (the MLM head left
    out, the task head new: expected every time) is silenced; encoder weights missing are an error."""
    from ernie_m.model import check_loaded, quiet_transformers

    with quiet_transformers():
        model, info = auto_class.from_pretrained(model_dir, output_loading_info=True, **options)
    check_loaded(model_dir, info, optional=_HEADS)
    return model


_HEADS = ("classifier.", "qa_outputs.", "roberta.pooler.")  # new at fine-tuning; the pooler when a checkpoint has none


def _tokenizer(model_dir: Path):
    from ernie_m.data.tokenizer import load_tokenizer

    return load_tokenizer(model_dir)


def _embed(sentences: list[str], model, tokenizer, settings: EvalSettings) -> np.ndarray:
    """Unit-length sentence vectors for retrieval, at the settings' layer and maximum length."""
    from ernie_m.evaluate.encode import encode

    vectors = encode(
        sentences,
        model,
        tokenizer,
        layer=settings.layer,
        max_length=settings.finetune.max_length,
        progress=settings.progress,
    )
    return _unit(vectors)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _with_collapse(result: dict, predicted: dict[str, list[str]]) -> dict:
    """`result` with "collapsed": {language: the one class} for each language whose test predictions
    are all one class (a fine-tuning that never left "O" scores 0.0 F1, and that 0.0 describes the
    fine-tuning, not the model); a warning names them."""
    collapsed = {lang: labels[0] for lang, labels in predicted.items() if labels and len(set(labels)) == 1}
    if collapsed:
        log.warning(
            "%s: every prediction is one class for %s: the fine-tuning collapsed (try another --lr or --epochs; "
            "small models need a larger learning rate than the paper's)",
            result["task"],
            ", ".join(f"{lang} ({label})" for lang, label in collapsed.items()),
        )
    result["collapsed"] = collapsed
    return result


def _result(
    settings: EvalSettings,
    metric: str,
    scores: dict[str, float],
    dev_scores: list[float],
    examples: dict[str, int],
    trained_on: int | None = None,
) -> dict:
    """A task's result; `examples`: scored examples per language; `trained_on`: fine-tuning examples (None: no
    fine-tuning)."""
    return {
        "task": settings.task,
        "setting": TASKS[settings.task].result_setting(settings.setting),
        "model": str(Path(settings.model_dir).resolve()),  # the same model however its path was typed
        "metric": metric,
        "scores": scores,
        "average": float(np.mean(list(scores.values()))),
        "dev_scores": dev_scores,
        "provenance": provenance(settings, examples, trained_on),
    }


def provenance(settings: EvalSettings, examples: dict[str, int], trained_on: int | None) -> dict:
    """What a result was measured on and with: data, split, examples per language, the fine-tuning (or
    the pooled layer), and the software that ran it."""
    tuning = settings.finetune
    return {
        "data": str(Path(settings.data_dir).resolve()),
        "test_split": settings.test_split,
        "examples": examples,
        "max_length": tuning.max_length,
        "fine_tuning": None
        if trained_on is None
        else {
            "train_split": settings.train_split,
            "dev_split": settings.dev_split,
            "examples": trained_on,
            "subsample": settings.max_train_examples,
            "epochs": tuning.epochs,
            "batch_size": tuning.batch_size,
            "lr": tuning.lr,
            "layer_decay": tuning.layer_decay,
            "seed": tuning.seed,
        },
        "layer": settings.layer if trained_on is None else None,
        "software": software(),
    }
