"""`ernie-m corpus build`: sources -> cleaning -> held-out splits -> monolingual-only languages -> DIR.

    DIR/manifest.json   format version, options, per-language counts, what each cleaning rule removed
    DIR/train/          the training corpus, in the user layout (`ernie_m.data.corpus`):
                        <a>-<b>.<a> + <a>-<b>.<b> pairs, <lang>.txt monolingual text
    DIR/dev/, DIR/test/ held-out pairs per language: no sentence of theirs (either side) is in train/

The directory is written under a temporary name and renamed when complete, so an interrupted
build never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ernie_m.data.catalogs import DEFAULT_LOCALE_DIR, read_catalog_pairs
from ernie_m.data.clean import clean_mono, clean_pairs
from ernie_m.data.corpus import TextCorpus, read_corpus_dir
from ernie_m.errors import ErnieMError
from ernie_m.files import staged_directory

FORMAT_VERSION = 1
SPLITS = ("train", "dev", "test")
HELP_LANGUAGES = ("de", "fr", "es", "ru", "zh", "el")  # the LibreOffice help languages built when none are named
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """Where the text comes from and how it is split. Defaults: every system catalog language."""

    catalog_languages: tuple[str, ...] = ("all",)  # () for no catalogs
    locale_dir: Path = DEFAULT_LOCALE_DIR
    debian_packages: tuple[str, ...] = ()  # e.g. "libreoffice-help": English-X help paragraphs
    user_corpora: tuple[Path, ...] = ()  # directories in the user layout
    mono_only: tuple[str, ...] = ()  # keep only these languages' own side, as monolingual text
    dev_pairs: int = 500
    test_pairs: int = 1000
    min_train_pairs: int = 1000  # a language with fewer pairs gets no held-out split
    on_error: str = "fail"
    seed: int = 0


@dataclass
class LanguageStats:
    pairs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    mono: int = 0
    words: int = 0  # whitespace words, or characters for scripts written without spaces
    read: Counter = field(default_factory=Counter)  # what the sources held: catalogs, entries, ...
    removed: Counter = field(default_factory=Counter)  # what each rule removed


# Catalog counters that describe what was read rather than what a rule removed.
READ_COUNTS = ("catalogs", "unreadable_catalogs", "entries", "context_stripped")


def build_corpus(options: BuildOptions, out_dir: Path) -> dict:
    """Build the corpus into `out_dir` (which must not exist); return the manifest."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ErnieMError(f"{out_dir}: already exists; choose a new --out (a build never overwrites)")
    stats: dict[str, LanguageStats] = {}
    corpus = _read_sources(options, stats)
    splits = _hold_out(corpus, options, stats)
    splits["train"] = _monolingual_only(splits["train"], options.mono_only, stats)
    _count(splits, stats)
    manifest = {
        "format_version": FORMAT_VERSION,
        "options": {
            k: [str(x) for x in v] if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v
            for k, v in asdict(options).items()
        },
        "languages": {
            lang: {**asdict(s), "read": dict(s.read), "removed": dict(s.removed)} for lang, s in sorted(stats.items())
        },
    }
    _write(out_dir, splits, manifest)
    return manifest


def open_corpus(path: Path, on_error: str = "fail") -> TextCorpus:
    """The training text of a built corpus (`DIR/train`), or of a plain user directory."""
    path = Path(path)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return read_corpus_dir(path, on_error)
    version = json.loads(manifest.read_text(encoding="utf-8")).get("format_version")
    if version != FORMAT_VERSION:
        raise ErnieMError(
            f"{path}: corpus format {version}, this version reads {FORMAT_VERSION}; rebuild it with `ernie-m corpus "
            "build`"
        )
    return read_corpus_dir(path / "train", on_error)


def read_manifest(path: Path) -> dict:
    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        raise ErnieMError(f"{path}: not a built corpus (no manifest.json); build one with `ernie-m corpus build`")
    return json.loads(manifest.read_text(encoding="utf-8"))


def _read_sources(options: BuildOptions, stats: dict[str, LanguageStats]) -> TextCorpus:
    """Every source, cleaned, merged into one corpus (pairs keyed with English first when present)."""
    corpus = TextCorpus(pairs={}, mono={})
    if options.catalog_languages:
        pairs, counts = read_catalog_pairs(list(options.catalog_languages), options.locale_dir)
        for (a, b), found in pairs.items():
            _add_pairs(corpus, (a, b), found)
            for name, count in counts.get(b, {}).items():
                (_stats(stats, b).read if name in READ_COUNTS else _stats(stats, b).removed)[name] += count
    if options.debian_packages:
        for key, found in _debian_pairs(options).items():
            kept, removed = clean_pairs(found, *key)
            _add_pairs(corpus, key, kept)
            _stats(stats, key[1]).removed.update(removed)
    for directory in options.user_corpora:
        _read_user_corpus(Path(directory), options, corpus, stats)
    if not corpus.pairs and not corpus.mono:
        raise ErnieMError("corpus build: no text from any source (catalogs, packages, user files)")
    _dedupe_merged(corpus)
    return corpus


def _read_user_corpus(directory: Path, options: BuildOptions, corpus: TextCorpus, stats) -> None:
    skipped: Counter = Counter()
    user = read_corpus_dir(directory, options.on_error, skipped)
    if skipped:
        log.info("%s: skipped %s", directory, ", ".join(f"{n} {rule}" for rule, n in sorted(skipped.items())))
    for key, found in user.pairs.items():
        key, found = _english_first(key, found)
        kept, removed = clean_pairs(found, *key)
        _add_pairs(corpus, key, kept)
        _stats(stats, _non_english(key)).removed.update(removed + skipped)
    for lang, lines in user.mono.items():
        kept, removed = clean_mono(lines, lang)
        corpus.mono.setdefault(lang, []).extend(kept)
        _stats(stats, lang).removed.update(removed)


def _debian_pairs(options: BuildOptions) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """English-X pairs from Debian packages; a clear message, not a failure, where apt is unavailable."""
    from ernie_m.data import debian

    unknown = sorted(set(options.debian_packages) - {"libreoffice-help"})
    if unknown:
        raise ErnieMError(f"--debian-package: unknown source(s) {', '.join(unknown)}; known: libreoffice-help")
    asked = [lang for lang in options.catalog_languages if lang != "all"]
    wanted = [lang for lang in asked if lang != "en"] if asked else list(HELP_LANGUAGES)
    if not wanted:
        return {}
    try:
        package = {lang: debian.libreoffice_help_packages([lang])[0] for lang in ["en", *wanted]}
        roots = debian.fetch_packages(
            list(dict.fromkeys(package.values())), Path.home() / ".cache" / "ernie-m" / "debian"
        )
    except ErnieMError as error:
        log.warning("skipping Debian packages: %s", error)
        return {}
    return debian.libreoffice_help_pairs(roots[package["en"]], {lang: roots[package[lang]] for lang in wanted})


def _english_first(key: tuple[str, str], pairs: list[tuple[str, str]]):
    if key[1] == "en":
        return (key[1], key[0]), [(b, a) for a, b in pairs]
    return key, pairs


def _non_english(key: tuple[str, str]) -> str:
    return key[1] if key[0] == "en" else key[0]


def _add_pairs(corpus: TextCorpus, key: tuple[str, str], pairs: list[tuple[str, str]]) -> None:
    if pairs:
        corpus.pairs.setdefault(key, []).extend(pairs)


def _dedupe_merged(corpus: TextCorpus) -> None:
    """Sources can overlap (a user file and the catalogs): exact duplicates across them go."""
    corpus.pairs = {key: list(dict.fromkeys(pairs)) for key, pairs in corpus.pairs.items()}
    corpus.mono = {lang: list(dict.fromkeys(lines)) for lang, lines in corpus.mono.items()}


def _stats(stats: dict[str, LanguageStats], lang: str) -> LanguageStats:
    return stats.setdefault(lang, LanguageStats())


def _key(text: str) -> str:
    """What makes two sentences the same for held-out purposes: case and spacing ignored."""
    return " ".join(text.lower().split())


def _hold_out(corpus: TextCorpus, options: BuildOptions, stats) -> dict[str, TextCorpus]:
    """Seeded dev and test pairs per language pair; every training pair or line that shares a
    sentence with them (same language, either side) is then removed.

    The English side of catalog pairs is shared by every language, so held-out pairs prefer
    sentences already held out for another language: the smallest languages choose first, and the
    larger ones mostly reuse those sentences, instead of each emptying the others' training data.
    """
    splits = {name: TextCorpus(pairs={}, mono={}) for name in SPLITS}
    held: dict[str, set[str]] = {}
    for key, pairs in sorted(corpus.pairs.items(), key=lambda item: (len(item[1]), item[0])):
        dev, test = _split_sizes(len(pairs), options)
        rng = np.random.default_rng([options.seed, *map(ord, "-".join(key))])
        order = rng.permutation(len(pairs))
        reused = [
            i for i in order if any(_key(side) in held.get(lang, ()) for side, lang in zip(pairs[i], key, strict=True))
        ]
        reused_rows = set(reused)
        fresh = [i for i in order if i not in reused_rows]
        chosen = rng.permutation((reused + fresh)[: dev + test])
        for name, rows in (("dev", chosen[:dev]), ("test", chosen[dev:])):
            if len(rows):
                splits[name].pairs[key] = [pairs[i] for i in sorted(rows)]
        for i in chosen:
            for side, lang in zip(pairs[i], key, strict=True):
                held.setdefault(lang, set()).add(_key(side))
    for key, pairs in sorted(corpus.pairs.items()):
        kept = [
            pair
            for pair in pairs
            if not any(_key(side) in held.get(lang, ()) for side, lang in zip(pair, key, strict=True))
        ]
        _stats(stats, _non_english(key)).removed["held_out_overlap"] += len(pairs) - len(kept)
        if kept:
            splits["train"].pairs[key] = kept
    for lang, lines in sorted(corpus.mono.items()):
        kept = [line for line in lines if _key(line) not in held.get(lang, ())]
        _stats(stats, lang).removed["held_out_overlap"] += len(lines) - len(kept)
        if kept:
            splits["train"].mono[lang] = kept
    return splits


def _split_sizes(available: int, options: BuildOptions) -> tuple[int, int]:
    """(dev, test) sizes: as asked, but never more than a fifth of the pairs, none below the minimum."""
    wanted = options.dev_pairs + options.test_pairs
    if available < options.min_train_pairs or wanted == 0:
        return 0, 0
    total = min(wanted, available // 5)
    dev = round(total * options.dev_pairs / wanted)
    return dev, total - dev


def _monolingual_only(train: TextCorpus, languages: tuple[str, ...], stats) -> TextCorpus:
    """Drop the training pairs of `languages`, keeping their own side as monolingual text. Their
    English sides go too, so that no translation of those sentences is ever seen in training."""
    unknown = sorted(set(languages) - set(train.languages()))
    if unknown:
        raise ErnieMError(
            f"--mono-only: {', '.join(unknown)} not in the corpus (languages: {', '.join(train.languages())})"
        )
    pairs, mono = {}, {lang: list(lines) for lang, lines in train.mono.items()}
    for key, found in train.pairs.items():
        only = [lang for lang in key if lang in languages]
        if not only:
            pairs[key] = found
            continue
        for lang in only:
            side = key.index(lang)
            mono[lang] = list(dict.fromkeys(mono.get(lang, []) + [pair[side] for pair in found]))
            _stats(stats, lang).removed["pairs_made_monolingual"] += len(found)
    return TextCorpus(pairs=pairs, mono=mono)


_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff]")


def _words(text: str) -> int:
    """Whitespace words; each character counts as a word in scripts written without spaces."""
    unspaced = len(_UNSPACED.findall(text))
    return len(_UNSPACED.sub(" ", text).split()) + unspaced


def _count(splits: dict[str, TextCorpus], stats) -> None:
    """Pairs per split for both languages of a pair; monolingual lines and words of the training text."""
    for name, corpus in splits.items():
        for key, pairs in corpus.pairs.items():
            for side, lang in enumerate(key):
                _stats(stats, lang).pairs[name] += len(pairs)
                if name == "train":
                    _stats(stats, lang).words += sum(_words(pair[side]) for pair in pairs)
    for lang, lines in splits["train"].mono.items():
        _stats(stats, lang).mono += len(lines)
        _stats(stats, lang).words += sum(_words(line) for line in lines)


def _write(out_dir: Path, splits: dict[str, TextCorpus], manifest: dict) -> None:
    with staged_directory(out_dir) as partial:
        for name, corpus in splits.items():
            directory = partial / name
            directory.mkdir(parents=True)
            for (a, b), pairs in corpus.pairs.items():
                for side, lang in enumerate((a, b)):
                    _write_lines(directory / f"{a}-{b}.{lang}", (pair[side] for pair in pairs))
            for lang, lines in corpus.mono.items():
                _write_lines(directory / f"{lang}.txt", lines)
        (partial / "manifest.json").write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def _write_lines(path: Path, lines) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        for line in lines:
            stream.write(line + "\n")
