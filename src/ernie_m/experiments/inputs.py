"""The inputs that the demo and the ablation share and keep between runs: a corpus built from the
system's translation catalogs, a tokenizer trained on it, and the base model every arm continues from.

    CACHE/corpus-<key>/     `ernie-m corpus build` output (ernie_m.data.build)
    CACHE/tokenizer-<key>/  `ernie-m tokenizer train` output (ernie_m.data.tokenizer)
    CACHE/base-<key>/       a scored pre-training run (ernie_m.experiments.scored): MMLM only, one per seed

Each key hashes everything its directory is made from (the build options and the catalog files'
names, sizes and modification times; the corpus key and the tokenizer settings; the base's config
as far as it decides the weights), so a second run reuses them and a changed input makes new ones.
Corpus and tokenizer are written under a temporary name and renamed when complete, so an interrupted
run leaves nothing that looks reusable; an interrupted base continues from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ernie_m.config import Config, ObjectiveConfig, StageConfig, TokenizerConfig
from ernie_m.data.build import FORMAT_VERSION, BuildOptions, build_corpus, open_corpus, read_manifest
from ernie_m.data.catalogs import DEFAULT_LOCALE_DIR, catalog_files, catalog_help
from ernie_m.data.languages import normalize_language
from ernie_m.data.tokenizer import balanced_sample, train_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate import readers
from ernie_m.evaluate.tasks import TASKS
from ernie_m.experiments.scored import Scoring, corpus_identity, train_and_score

log = logging.getLogger(__name__)

# Withheld from training as pairs; their own side stays as monolingual text. Each has thousands of
# catalog pairs, so 1,000 held-out pairs can score it, and each is in a real-sentence test: bg
# (Cyrillic, beside ru), el (Greek script, alone) and tr (Latin) in XNLI, nl (Latin, beside de) in
# CoNLL; all four in Tatoeba.
MONO_ONLY = ("bg", "el", "tr", "nl")
MIN_TRAIN_SENTENCES = 2000
# Watching a run (validation loss, reporters) does not change its weights: a base's key leaves them out.
WATCHING = ("eval_every", "report_to")


@dataclass(frozen=True)
class Inputs:
    """What the demo and the ablation train on: pairs for config.data.languages, monolingual text for
    `mono_only`, from the system's catalogs; or a corpus the user built (`corpus`, with its own
    held-out pairs and monolingual-only languages)."""

    config: Config
    mono_only: tuple[str, ...] = MONO_ONLY
    cache_dir: Path = Path("runs/cache")
    locale_dir: Path = DEFAULT_LOCALE_DIR
    corpus: Path | None = None

    def languages(self) -> list[str]:
        """The languages besides English that the runs are trained and scored on."""
        if self.corpus is not None:
            return [lang for lang in read_manifest(self.corpus)["languages"] if lang != "en"]
        return [normalize_language(code) for code in (*self.config.data.languages, *self.mono_only)]

    def prepare(self) -> tuple[Path, Path]:
        """The cached corpus and tokenizer (built on first use). The held-out split does not depend on
        train.seed, so that runs with different seeds are scored on the same pairs."""
        if self.corpus is not None:
            if not (Path(self.corpus) / "test").is_dir():
                raise ErnieMError(
                    f"{self.corpus}: not a corpus built by `ernie-m corpus build` (no test/ split of held-out pairs)"
                )
            return Path(self.corpus), corpus_tokenizer(
                self.corpus, self.config.tokenizer, self.config.train.seed, self.cache_dir
            )
        mono_only = tuple(normalize_language(code) for code in self.mono_only)
        overlap = sorted(set(mono_only) & {normalize_language(code) for code in self.config.data.languages})
        if overlap:
            raise ErnieMError(
                f"--mono-only {', '.join(overlap)}: also in data.languages (the languages trained with pairs)"
            )
        options = BuildOptions(
            catalog_languages=tuple(self.config.data.languages) + mono_only,
            locale_dir=self.locale_dir,
            mono_only=mono_only,
        )
        corpus = catalog_corpus(options, self.cache_dir, MIN_TRAIN_SENTENCES)
        return corpus, corpus_tokenizer(corpus, self.config.tokenizer, self.config.train.seed, self.cache_dir)


def catalog_corpus(options: BuildOptions, cache_dir: Path, min_train: int) -> Path:
    """The corpus of `options` (catalog languages only), built once; every language must have at least
    `min_train` training sentences (pairs, or monolingual lines for the monolingual-only ones)."""
    files = catalog_files(list(options.catalog_languages), options.locale_dir)
    inputs = {"options": asdict(options), "catalogs": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]}
    path = Path(cache_dir) / f"corpus-{_key(inputs)}"
    if path.is_dir() and read_manifest(path).get("format_version") != FORMAT_VERSION:
        log.info("corpus: %s was built by an older version; building it again", path)
        shutil.rmtree(path)
    if path.is_dir():
        log.info("corpus: reusing %s", path)
    else:
        log.info("corpus: building %s from %d catalogs in %s", path, len(files), options.locale_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        build_corpus(options, path)
    _check_sizes(read_manifest(path), options, min_train)
    return path


def corpus_tokenizer(corpus_dir: Path, config: TokenizerConfig, seed: int, cache_dir: Path) -> Path:
    """A tokenizer trained on the corpus's training split, once per corpus and settings."""
    path = (
        Path(cache_dir)
        / f"tokenizer-{_key({'corpus': corpus_identity(corpus_dir), 'config': asdict(config), 'seed': seed})}"
    )
    if path.is_dir():
        log.info("tokenizer: reusing %s", path)
        return path
    sample = balanced_sample(open_corpus(corpus_dir), config.max_sentences, config.alpha, seed)
    log.info(
        "tokenizer: training a %d-piece SentencePiece model on %d sentences of %s",
        config.vocab_size,
        len(sample),
        corpus_dir,
    )
    train_tokenizer(sample, path, config.vocab_size, seed, config.max_sentences)
    return path


def base_config(config: Config, seed: int, steps: int) -> Config:
    """`config` as a base run: one stage of `steps` MMLM steps on every language's monolingual text
    (the sides of the pairs and the monolingual-only languages), with `seed`. BTMLM's options are
    reset to their defaults: MMLM does not read them, so arms that differ only there share a base."""
    back_translation = {
        option.name: option.default for option in fields(ObjectiveConfig) if option.name.startswith("bt_")
    }
    return replace(
        config,
        stages=(StageConfig("base", steps, {"mmlm": 1.0}),),
        train=replace(config.train, seed=seed),
        objectives=replace(config.objectives, **back_translation),
    )


def base_dir(config: Config, corpus: Path, tokenizer: Path, cache_dir: Path) -> Path:
    """CACHE/base-<key>/ of a `base_config`: the key hashes the corpus, the tokenizer and the config
    as far as it decides the weights (WATCHING left out)."""
    trained_as = config.to_dict()
    trained_as["train"] = {name: value for name, value in trained_as["train"].items() if name not in WATCHING}
    return (
        Path(cache_dir)
        / f"base-{_key({'corpus': corpus_identity(corpus), 'tokenizer': Path(tokenizer).name, 'config': trained_as})}"
    )


def base_model(
    config: Config, corpus: Path, tokenizer: Path, cache_dir: Path, scoring: Scoring, progress: bool = True
) -> tuple[Path, dict]:
    """The base model of a `base_config` (trained once per corpus, tokenizer and config, in
    `base_dir`) and its scores: what the arms continue from, as the paper's continue from XLM-R."""
    run_dir = base_dir(config, corpus, tokenizer, cache_dir)
    return run_dir / "model", train_and_score(config, corpus, tokenizer, run_dir, scoring, progress)


def tatoeba_languages(inputs: Inputs, data_dir: Path) -> tuple[str, ...]:
    """The run's languages that have Tatoeba files in `data_dir`; an error when none has."""
    return readers.present_languages(
        "tatoeba", data_dir, "test", [lang for lang in inputs.languages() if lang in readers.TATOEBA_ISO3]
    )


def xnli_languages(inputs: Inputs, data_dir: Path, split: str) -> tuple[str, ...]:
    """The run's languages that have XNLI `split` files in `data_dir` (English's too); an error when none has."""
    readers.task_files("xnli", data_dir, split, "en")  # names what it looked for when absent
    return readers.present_languages(
        "xnli", data_dir, split, [lang for lang in inputs.languages() if lang in TASKS["xnli-retrieval"].languages]
    )


def _check_sizes(manifest: dict, options: BuildOptions, min_train: int) -> None:
    """Refuse a machine whose catalogs are too few to train and score every language."""
    counts = manifest["languages"]
    short = {}
    for lang in map(normalize_language, options.catalog_languages):  # the manifest is keyed by normalised codes
        stats = counts.get(lang, {"pairs": {"train": 0, "test": 0}, "mono": 0})
        train = stats["mono"] if lang in options.mono_only else stats["pairs"]["train"]
        if train < min_train or stats["pairs"]["test"] == 0:
            short[lang] = (train, stats["pairs"]["test"])
    if short:
        found = ", ".join(
            f"{lang} {train:,} training sentences and {test:,} held-out pairs" for lang, (train, test) in short.items()
        )
        raise ErnieMError(
            f"{options.locale_dir}: too few translations for the demo corpus ({found}; each language needs "
            f"{min_train:,} and held-out pairs); {catalog_help(sorted(short))}"
        )


def _key(inputs: dict) -> str:
    return hashlib.blake2b(json.dumps(inputs, sort_keys=True, default=str).encode(), digest_size=6).hexdigest()
