"""The embedded default corpus: English-X sentence pairs from the system's gettext catalogs.

Every installed program ships its user-interface strings in
`/usr/share/locale/<locale>/LC_MESSAGES/*.mo`: English `msgid`, translated
`msgstr`. Those are short, human-translated, and present on most Linux
machines, so they make a parallel corpus that needs no download.

Plural entries and catalog headers are left out, `msgctxt` contexts
stripped, and the rest goes through `ernie_m.data.clean.clean_pairs`, with
each catalog's language's pairs cleaned together.
"""

import gettext
import logging
import random
import struct
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ernie_m.data.clean import CleanConfig, clean_pairs
from ernie_m.data.corpus import TextCorpus
from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError

log = logging.getLogger(__name__)

DEFAULT_LOCALE_DIR = Path("/usr/share/locale")
ALL_LANGUAGES = "all"

_CONTEXT_SEPARATOR = "\x04"  # gettext stores `msgctxt` as "context\x04msgid"


def read_system_catalogs(
    languages: list[str],
    locale_dir: Path = DEFAULT_LOCALE_DIR,
    max_pairs_per_language: int | None = None,
) -> TextCorpus:
    """English-X pairs for each requested language: `pairs[("en", lang)]`, English first.

    As `read_catalog_pairs`, with default cleaning; with `max_pairs_per_language`,
    a fixed-seed random sample of that size is kept, sorted.
    """
    pairs, _ = read_catalog_pairs(languages, locale_dir)
    if max_pairs_per_language is not None:
        pairs = {key: _sample(found, key[1], max_pairs_per_language) for key, found in pairs.items()}
    return TextCorpus(pairs=pairs, mono={})


def read_catalog_pairs(
    languages: list[str], locale_dir: Path = DEFAULT_LOCALE_DIR, config: CleanConfig = CleanConfig()
) -> tuple[dict[tuple[str, str], list[tuple[str, str]]], dict[str, Counter]]:
    """Cleaned, sorted English-X pairs `{("en", lang): [(english, translation), ...]}`, and what happened per lang.

    Languages are normalised (`zh_CN` -> `zh`); English itself is the pivot and needs
    no request. "all" stands for every locale directory's language but English;
    those of them without a usable pair are left out, while a language named
    explicitly without one is an error. Each language's Counter holds "catalogs",
    "unreadable_catalogs", "entries" (messages read), "plural" and "header"
    (entries left out), "context_stripped", and the removals of each cleaning rule.
    """
    locale_dir = Path(locale_dir)
    named = _named(languages)
    if not named and ALL_LANGUAGES not in languages:
        raise ErnieMError(f"no languages besides English requested from the catalogs (got {languages})")
    if not locale_dir.is_dir():
        raise ErnieMError(f"{locale_dir}: no translation catalogs there; {catalog_help(named or [ALL_LANGUAGES])}")
    locales = _locales_by_language(locale_dir)
    wanted = _wanted(languages, locales)
    results = {
        lang: _language_pairs(lang, locales.get(lang, []), config)
        for lang in tqdm(wanted, desc="catalogs", unit="language", disable=None)
    }
    empty = [lang for lang in named if not results[lang][0]]
    if empty:
        raise ErnieMError(f"{locale_dir}: no usable catalog pairs for {', '.join(empty)}; {catalog_help(empty)}")
    results = {lang: result for lang, result in results.items() if result[0]}
    if not results:
        raise ErnieMError(f"{locale_dir}: no usable catalog pairs for any language; {catalog_help([ALL_LANGUAGES])}")
    pairs = {("en", lang): found for lang, (found, _) in results.items()}
    return pairs, {lang: counts for lang, (_, counts) in results.items()}


def catalog_files(languages: list[str], locale_dir: Path = DEFAULT_LOCALE_DIR) -> list[Path]:
    """The compiled catalogs that `read_catalog_pairs(languages)` reads, sorted: what a cache of its output depends
    on."""
    locales = _locales_by_language(Path(locale_dir)) if Path(locale_dir).is_dir() else {}
    return sorted(
        file
        for lang in _wanted(languages, locales)
        for locale in locales.get(lang, [])
        for file in locale.glob("LC_MESSAGES/*.mo")
    )


def _named(languages: list[str]) -> list[str]:
    """The languages requested by name, normalised, English (the pivot) left out."""
    return sorted({normalize_language(code) for code in languages if code != ALL_LANGUAGES} - {"en"})


def _wanted(languages: list[str], locales: dict[str, list[Path]]) -> list[str]:
    """The languages to read: those named, and with "all" every locale's language but English."""
    return sorted(set(_named(languages)) | (_non_english(locales) if ALL_LANGUAGES in languages else set()))


def catalog_help(languages: list[str]) -> str:
    """What to do when catalogs are missing, on one line."""
    return (
        f"looked for {', '.join(languages)} in <locale>/LC_MESSAGES/*.mo; the catalogs come with installed "
        "packages' translations (Ubuntu: language-pack-<lang>; minimal Debian/Ubuntu images drop them through "
        "path-exclude in /etc/dpkg/dpkg.cfg.d/), or pass --corpus DIR with your own text files"
    )


def _locales_by_language(locale_dir: Path) -> dict[str, list[Path]]:
    """The locale directories (sorted) under `locale_dir` by normalised language; names that are no code are skipped."""
    locales = {}
    for path in sorted(locale_dir.iterdir()):
        lang = _normalized_or_none(path.name)
        if lang is not None and path.is_dir():
            locales.setdefault(lang, []).append(path)
    return locales


def _normalized_or_none(code: str) -> str | None:
    """`normalize_language(code)`, or None for directory names that are not language codes."""
    try:
        return normalize_language(code)
    except ErnieMError:
        return None


def _non_english(locales: dict[str, list[Path]]) -> set[str]:
    """The languages of `locales` but English in any variant (`en`, `en_Shaw`): English is the pivot."""
    return {lang for lang in locales if lang.partition("_")[0] != "en"}


def _language_pairs(lang: str, locales: list[Path], config: CleanConfig) -> tuple[list[tuple[str, str]], Counter]:
    """The cleaned, sorted pairs of every catalog in `locales`, and their counts (see `read_catalog_pairs`)."""
    counts, entries, failed = Counter(), [], []
    for file in [file for locale in locales for file in sorted(locale.glob("LC_MESSAGES/*.mo"))]:
        try:
            catalog = _read_catalog(file)
        except (OSError, ValueError, LookupError, struct.error) as error:
            failed.append(f"{file.name} ({error})")
            continue
        counts["catalogs"] += 1
        entries += _translations(catalog, counts)
    counts["unreadable_catalogs"] = len(failed)
    if failed:
        log.warning("%s: skipped %d unreadable catalogs: %s", lang, len(failed), "; ".join(failed[:3]))
    kept, removed = clean_pairs(entries, "en", lang, config)
    counts.update(removed)
    return sorted(kept), counts


def _read_catalog(file: Path) -> dict:
    """The raw `msgid -> msgstr` dict of a compiled catalog."""
    with open(file, "rb") as stream:
        return gettext.GNUTranslations(stream)._catalog


def _translations(catalog: dict, counts: Counter) -> list[tuple[str, str]]:
    """The catalog's (msgid, msgstr) messages without their context; plural entries and the header counted, left out."""
    translations = []
    for msgid, msgstr in catalog.items():
        if isinstance(msgid, tuple):  # (msgid, n): form n of a plural entry; count each entry once
            if msgid[1] == 0:
                counts.update(("entries", "plural"))
            continue
        counts["entries"] += 1
        if not msgid:
            counts["header"] += 1
            continue
        _, separator, english = msgid.rpartition(_CONTEXT_SEPARATOR)
        counts["context_stripped"] += bool(separator)
        translations.append((english, msgstr))
    return translations


def _sample(pairs: list[tuple[str, str]], lang: str, size: int) -> list[tuple[str, str]]:
    """A fixed-seed random sample of `size` pairs (all when there are fewer), sorted."""
    if len(pairs) <= size:
        return pairs
    return sorted(random.Random(f"catalogs:{lang}").sample(pairs, size))
