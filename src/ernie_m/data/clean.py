"""Rule-based cleaning of parallel and monolingual sentences, counting what each rule removes.

A text is first checked for what is not plain prose: printf or brace
placeholders (`%s`, `%1$s`, `%(name)s`, `{0}`, `${x}`) -> "placeholder",
tags or entities (`<b>`, `&amp;`) -> "markup", a line break -> "multiline".
It is then normalised: keyboard accelerators removed (`_Save`, `&Open`,
`Save ~As`, and the bracketed form `文件(&F)`, `Datei(_F)`), whitespace
collapsed and stripped. The normalised text goes through the other rules:

- "untranslated" (only pairs with an English side): the other side has the
  same words, or, in a Latin-script language, at least `untranslated_share`
  of its words (3 or more) are words of the English side;
- "wrong_script": less than `min_script_share` of a side's letters, weighted
  as for lengths, are in its language's expected scripts (`expected_scripts`;
  no check for languages it does not know; a side without letters fails it);
- "too_short" / "too_long": a side's length is under `min_chars` or over
  `max_chars`, or it has fewer than `min_words` words in a script written
  with spaces between words;
- "length_ratio": one side more than `max_length_ratio` times as long;
- "exact_duplicate" / "near_duplicate": the same cleaned text, or the same
  once lowercased without digits and punctuation, as a text kept before.

Lengths count characters, a Han character as 3, a Hangul syllable as 2.5
and a kana as 2: about the Latin letters each stands for, so that Chinese
and English translations of one another come out about as long.
An item is removed by the first rule it breaks, in the order of `RULES`.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

RULES = (
    "placeholder",
    "markup",
    "multiline",
    "untranslated",
    "wrong_script",
    "too_short",
    "too_long",
    "length_ratio",
    "exact_duplicate",
    "near_duplicate",
)


@dataclass(frozen=True)
class CleanConfig:
    """Thresholds of the cleaning rules (see the module docstring)."""

    min_chars: int = 8
    min_words: int = 2
    max_chars: int = 200
    max_length_ratio: float = 3.0
    untranslated_share: float = 0.7
    min_script_share: float = 0.5


# Unicode script names as `unicodedata.name` spells them, capitalised (Han, Hangul, Hiragana and
# Katakana by their usual names). `ja` and `ko` mix scripts and are listed in _MIXED_SCRIPT_LANGUAGES.
_LANGUAGES_BY_SCRIPT = {
    "Latin": (
        "en de fr es it pt pt_BR nl sv da nb nn no fi et lv lt pl cs sk sl hr bs sr_Latn ro hu tr az uz id ms "
        "vi tl fil ca eu gl ga gd cy br is fo mt sq sw af eo la ia ie io lb oc ast an fur frp sc wa li fy nds "
        "bar csb ku kmr crh tk tt_Latn be_Latn jv su mg mi haw ht pap qu ay gn ha yo ig wo ff ee ak lg rw ki "
        "so nso ve xh zu st tn ts ss nr kab kl kw gv rm sm to na bi ch nah nv ace ach jam son rom"
    ),
    "Cyrillic": "ru uk be bg mk sr kk ky tg mn ba tt cv ce kv mhr ab os uz_Cyrl",
    "Greek": "el",
    "Armenian": "hy",
    "Georgian": "ka",
    "Hebrew": "he yi",
    "Arabic": "ar fa ur ps ug ckb sd az_Arab pa_Arab",
    "Thaana": "dv",
    "Devanagari": "hi mr ne mai kok sa bho",
    "Bengali": "bn as",
    "Gurmukhi": "pa",
    "Gujarati": "gu",
    "Oriya": "or",
    "Tamil": "ta",
    "Telugu": "te",
    "Kannada": "kn",
    "Malayalam": "ml",
    "Sinhala": "si",
    "Thai": "th",
    "Lao": "lo",
    "Khmer": "km",
    "Myanmar": "my",
    "Tibetan": "bo dz",
    "Ethiopic": "am ti tig byn gez",
    "Cherokee": "chr",
    "Han": "zh zh_TW",
}
_MIXED_SCRIPT_LANGUAGES = {
    "ja": frozenset({"Han", "Hiragana", "Katakana"}),
    "ko": frozenset({"Hangul", "Han"}),
}
EXPECTED_SCRIPTS: dict[str, frozenset[str]] = {
    **{lang: frozenset({script}) for script, langs in _LANGUAGES_BY_SCRIPT.items() for lang in langs.split()},
    **_MIXED_SCRIPT_LANGUAGES,
}

# The first word of a letter's Unicode name, where it is not the script's name.
_SCRIPT_OF_NAME_WORD = {"CJK": "Han", "IDEOGRAPHIC": "Han", "KATAKANA-HIRAGANA": "Katakana"}
_UNSPACED_SCRIPTS = frozenset({"Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})
_CHARACTER_WEIGHTS = {"Han": 3.0, "Hangul": 2.5, "Hiragana": 2.0, "Katakana": 2.0}

_PLACEHOLDER = re.compile(r"%(\(\w+\))?[-+#0-9.$*']*[a-zA-Z%@]|%\d|\{[^{}]*\}|\$\{")
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_BRACKETED_ACCELERATOR = re.compile(r"\s*\([_&~][^\W_]\)")
_ACCELERATOR = re.compile(r"[_&](?=[^\W\d_])|~")


def expected_scripts(lang: str) -> frozenset[str] | None:
    """The scripts that a canonical language code (`de`, `zh_TW`) is written in; None if unknown (no check)."""
    return EXPECTED_SCRIPTS.get(lang)


def text_rule(text: str) -> str | None:
    """The rule that raw `text` breaks before normalising ("placeholder", "markup", "multiline"), or None."""
    if _PLACEHOLDER.search(text):
        return "placeholder"
    if _MARKUP.search(text):
        return "markup"
    if "\n" in text:
        return "multiline"
    return None


def strip_accelerators(text: str) -> str:
    """`text` without keyboard accelerators, its whitespace collapsed to single spaces and stripped."""
    return " ".join(_ACCELERATOR.sub("", _BRACKETED_ACCELERATOR.sub("", text)).split())


def clean_pairs(
    pairs: Iterable[tuple[str, str]], lang_a: str, lang_b: str, config: CleanConfig = CleanConfig()
) -> tuple[list[tuple[str, str]], Counter]:
    """The cleaned pairs that break no rule, in input order, and the number each rule removed."""
    scripts_a, scripts_b = expected_scripts(lang_a), expected_scripts(lang_b)
    kept, removed, seen = [], Counter(), _Seen()
    for raw_a, raw_b in pairs:
        rule = _first(text_rule(raw_a), text_rule(raw_b))
        if rule is None:
            a, b = _measure(strip_accelerators(raw_a), scripts_a), _measure(strip_accelerators(raw_b), scripts_b)
            rule = _pair_rule(a, b, lang_a, lang_b, config) or seen.duplicate_rule((a.text, b.text))
        if rule is None:
            kept.append((a.text, b.text))
        else:
            removed[rule] += 1
    return kept, removed


def clean_mono(lines: Iterable[str], lang: str, config: CleanConfig = CleanConfig()) -> tuple[list[str], Counter]:
    """The cleaned lines that break no single-side rule, in input order, and the number each rule removed."""
    scripts = expected_scripts(lang)
    kept, removed, seen = [], Counter(), _Seen()
    for raw in lines:
        rule = text_rule(raw)
        if rule is None:
            text = _measure(strip_accelerators(raw), scripts)
            rule = _side_rule(text, config) or seen.duplicate_rule((text.text,))
        if rule is None:
            kept.append(text.text)
        else:
            removed[rule] += 1
    return kept, removed


class _Text(NamedTuple):
    """A normalised text and what the rules look at."""

    text: str
    length: float  # characters, weighted by script (see the module docstring)
    script_share: float | None  # weighted share of letters in the expected scripts; None: no check
    spaced: bool  # written with spaces between words


def _measure(text: str, scripts: frozenset[str] | None) -> _Text:
    """Length, script share and spacing of a normalised text, for a language written in `scripts`."""
    letters = text.translate(_SCRIPT_CODES)
    extra = 0.0  # what the script weights add to the character count
    if _WEIGHTED_CODE.search(letters):
        extra = sum(letters.count(_SCRIPT_CODE[script]) * (weight - 1) for script, weight in _WEIGHTS)
    share = None
    if scripts is not None:
        expected = sum(letters.count(_SCRIPT_CODE[script]) * _CHARACTER_WEIGHTS.get(script, 1) for script in scripts)
        share = expected / (len(letters) + extra) if letters else 0.0
    return _Text(text, len(text) + extra, share, _UNSPACED_CODE.search(letters) is None)


def _pair_rule(a: _Text, b: _Text, lang_a: str, lang_b: str, config: CleanConfig) -> str | None:
    """The first of the rules after the text rules, duplicates excepted, that a normalised pair breaks."""
    if "en" in (lang_a, lang_b) and lang_a != lang_b:
        english, other, other_lang = (a, b, lang_b) if lang_a == "en" else (b, a, lang_a)
        if _untranslated(english.text, other.text, expected_scripts(other_lang) == {"Latin"}, config):
            return "untranslated"
    rule = _first(_side_rule(a, config), _side_rule(b, config))
    if rule is None and max(a.length, b.length) > config.max_length_ratio * max(min(a.length, b.length), 1):
        return "length_ratio"
    return rule


def _untranslated(english: str, other: str, other_is_latin: bool, config: CleanConfig) -> bool:
    """Whether `other` is `english` left as it was, or (Latin script) mostly made of its words."""
    english_words, other_words = _words(english), _words(other)
    if other_words == english_words:
        return True
    if not other_is_latin or len(other_words) < 3:
        return False
    known = set(english_words)
    return sum(word in known for word in other_words) >= config.untranslated_share * len(other_words)


def _side_rule(text: _Text, config: CleanConfig) -> str | None:
    """The first of "wrong_script", "too_short", "too_long" that one normalised text breaks."""
    if text.script_share is not None and text.script_share < config.min_script_share:
        return "wrong_script"
    if text.length < config.min_chars or (text.spaced and len(text.text.split()) < config.min_words):
        return "too_short"
    if text.length > config.max_chars:
        return "too_long"
    return None


def _first(*rules: str | None) -> str | None:
    """The earliest in `RULES` of the rules given, None when none is."""
    return min(filter(None, rules), key=RULES.index, default=None)


class _Seen:
    """The items kept so far, to name the duplicates among the next ones."""

    def __init__(self):
        self.exact, self.near = set(), set()

    def duplicate_rule(self, item: tuple[str, ...]) -> str | None:
        """ "exact_duplicate" or "near_duplicate" if `item` repeats a kept one; else None, and it is kept."""
        if item in self.exact:
            return "exact_duplicate"
        key = tuple(" ".join(_words(text, _PUNCTUATION_AND_DIGITS_TO_SPACE)) for text in item)
        if key in self.near:
            return "near_duplicate"
        self.exact.add(item)
        self.near.add(key)
        return None


class _LazyTable(dict):
    """A `str.translate` table from code points to replacements, computed by `replace` on first use."""

    def __init__(self, replace):
        super().__init__()
        self.replace = replace

    def __missing__(self, key):
        value = self[key] = self.replace(key)
        return value


def _script_of_letter(char: str) -> str:
    """The script of a letter ("Latin", "Cyrillic", "Han", ...), from its Unicode name; "" for non-letters."""
    if not unicodedata.category(char).startswith("L"):
        return ""
    name = unicodedata.name(char, "").removeprefix("FULLWIDTH ").removeprefix("HALFWIDTH ")
    word = name.partition(" ")[0]
    return _SCRIPT_OF_NAME_WORD.get(word, word.capitalize())


def _space_if(categories: str):
    """A replacement for `_LazyTable`: a space for characters whose category starts with one of `categories`."""
    return lambda code: " " if unicodedata.category(chr(code))[0] in categories else chr(code)


def _script_code(code: int) -> str | None:
    """The `_SCRIPT_CODE` of a letter's script (`_OTHER_SCRIPT` for the rest), None for non-letters."""
    script = _script_of_letter(chr(code))
    return _SCRIPT_CODE.get(script, _OTHER_SCRIPT) if script else None


# Measuring a text reduces it to one character per letter, a private-use code point naming the
# letter's script, so that `str.translate` and `str.count` do the per-character work.
_KNOWN_SCRIPTS = sorted(
    {script for scripts in EXPECTED_SCRIPTS.values() for script in scripts}
    | _UNSPACED_SCRIPTS
    | set(_CHARACTER_WEIGHTS)
)
_SCRIPT_CODE = {script: chr(0xE000 + index) for index, script in enumerate(_KNOWN_SCRIPTS)}
_OTHER_SCRIPT = chr(0xE000 + len(_KNOWN_SCRIPTS))
_WEIGHTS = tuple(_CHARACTER_WEIGHTS.items())
_WEIGHTED_CODE = re.compile("[" + "".join(_SCRIPT_CODE[script] for script in _CHARACTER_WEIGHTS) + "]")
_UNSPACED_CODE = re.compile("[" + "".join(_SCRIPT_CODE[script] for script in _UNSPACED_SCRIPTS) + "]")
_SCRIPT_CODES = _LazyTable(_script_code)
_PUNCTUATION_TO_SPACE = _LazyTable(_space_if("PS"))
_PUNCTUATION_AND_DIGITS_TO_SPACE = _LazyTable(_space_if("PSN"))


def _words(text: str, separators: _LazyTable = _PUNCTUATION_TO_SPACE) -> list[str]:
    """The lowercased words of `text`, split at spaces and at what `separators` turns into spaces."""
    return text.lower().translate(separators).split()
