"""The embedded default corpus: English-X sentence pairs from the system's gettext catalogs.

Every installed program ships its user-interface strings in
`/usr/share/locale/<locale>/LC_MESSAGES/*.mo`: English `msgid`, translated
`msgstr`. Those are short, human-translated, and present on most Linux
machines, so they make a parallel corpus that needs no download.

A first, light cleaning keeps strings that read like text: no plural
entries, no placeholders or markup, no multi-line strings, accelerators
removed, untranslated, too-short and too-long strings dropped.
"""

import gettext
import logging
import random
import re
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from ernie_m.data.corpus import TextCorpus
from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError

log = logging.getLogger(__name__)

DEFAULT_LOCALE_DIR = Path("/usr/share/locale")
MIN_ENGLISH_WORDS = 2
MIN_ENGLISH_CHARS = 8
MAX_CHARS = 200

_CONTEXT_SEPARATOR = "\x04"  # gettext stores `msgctxt` as "context\x04msgid"
_PLACEHOLDER = re.compile(r"%(\(\w+\))?[-+ #0-9.$*]*[a-zA-Z%@]|%\d|\{[^{}]*\}|\$\{")
_MARKUP = re.compile(r"<[^<>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# "Datei(_F)", "文件(&F)": the accelerator in brackets that CJK translations append.
_BRACKETED_ACCELERATOR = re.compile(r"\s*\([_&~][^\W_]\)")
_ACCELERATOR = re.compile(r"[_&](?=[^\W\d_])|~")


def read_system_catalogs(
    languages: list[str],
    locale_dir: Path = DEFAULT_LOCALE_DIR,
    max_pairs_per_language: int | None = None,
) -> TextCorpus:
    """English-X pairs for each requested language: `pairs[("en", lang)]`, English first.

    Languages are normalised (`zh_CN` -> `zh`); English itself is the pivot and
    needs no request. Pairs are deduplicated and sorted; with
    `max_pairs_per_language`, a fixed-seed random sample of that size is kept.
    """
    locale_dir = Path(locale_dir)
    wanted = sorted({normalize_language(code) for code in languages} - {"en"})
    if not wanted:
        raise ErnieMError(f"no languages besides English requested from the catalogs (got {languages})")
    if not locale_dir.is_dir():
        raise ErnieMError(f"{locale_dir}: no translation catalogs there; {_help(wanted)}")
    pairs = {("en", lang): _language_pairs(locale_dir, lang, max_pairs_per_language) for lang in wanted}
    empty = [lang for (_, lang), found in pairs.items() if not found]
    if empty:
        raise ErnieMError(f"{locale_dir}: no usable catalog pairs for {', '.join(empty)}; {_help(empty)}")
    return TextCorpus(pairs=pairs, mono={})


def _help(languages: list[str]) -> str:
    """What to do when catalogs are missing, on one line."""
    return (
        f"looked for {', '.join(languages)} in <locale>/LC_MESSAGES/*.mo; the catalogs come with installed "
        "packages' translations (Ubuntu: language-pack-<lang>; minimal Debian/Ubuntu images drop them through "
        "path-exclude in /etc/dpkg/dpkg.cfg.d/), or pass --corpus DIR with your own text files"
    )


def _language_pairs(locale_dir: Path, lang: str, max_pairs: int | None) -> list[tuple[str, str]]:
    """The cleaned, deduplicated, sorted pairs of every catalog whose locale maps to `lang`."""
    files = [file for locale in _locales_of(locale_dir, lang) for file in sorted(locale.glob("LC_MESSAGES/*.mo"))]
    pairs, failed = set(), []
    for file in files:
        try:
            catalog = _read_catalog(file)
        except (OSError, ValueError, LookupError, struct.error) as error:
            failed.append(f"{file.name} ({error})")
            continue
        pairs.update(_clean_pairs(catalog.items()))
    if failed:
        log.warning("%s: skipped %d unreadable catalogs: %s", lang, len(failed), "; ".join(failed[:3]))
    found = sorted(pairs)
    if max_pairs is not None and len(found) > max_pairs:
        found = sorted(random.Random(f"catalogs:{lang}").sample(found, max_pairs))
    return found


def _locales_of(locale_dir: Path, lang: str) -> list[Path]:
    """The locale directories (sorted) whose name normalises to `lang`."""
    return [path for path in sorted(locale_dir.iterdir()) if path.is_dir() and _normalized_or_none(path.name) == lang]


def _normalized_or_none(code: str) -> str | None:
    """`normalize_language(code)`, or None for directory names that are not language codes."""
    try:
        return normalize_language(code)
    except ErnieMError:
        return None


def _read_catalog(file: Path) -> dict:
    """The raw `msgid -> msgstr` dict of a compiled catalog."""
    with open(file, "rb") as stream:
        return gettext.GNUTranslations(stream)._catalog


def _clean_pairs(entries: Iterable[tuple[object, str]]) -> Iterator[tuple[str, str]]:
    """(English, translation) pairs that survive cleaning, from raw catalog entries."""
    for msgid, msgstr in entries:
        if not isinstance(msgid, str) or not msgid:  # a plural form, or the header
            continue
        english = _clean_text(msgid.rpartition(_CONTEXT_SEPARATOR)[2])
        translation = _clean_text(msgstr)
        if english and translation and english != translation and _long_enough(english):
            yield english, translation


def _clean_text(text: str) -> str | None:
    """`text` without accelerators and with collapsed whitespace; None if it is not plain one-line text."""
    if "\n" in text or _PLACEHOLDER.search(text) or _MARKUP.search(text):
        return None
    text = _ACCELERATOR.sub("", _BRACKETED_ACCELERATOR.sub("", text))
    text = " ".join(text.split())
    return text if 0 < len(text) <= MAX_CHARS else None


def _long_enough(english: str) -> bool:
    """Whether an English string is long enough to be a phrase rather than a label."""
    return len(english) >= MIN_ENGLISH_CHARS and len(english.split()) >= MIN_ENGLISH_WORDS
