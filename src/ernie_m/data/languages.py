"""Language codes: one canonical name per written language.

Corpus file names and gettext locale directories name languages in locale
style (`de_DE`, `zh_CN`, `sr@latin`). The model needs one id per *written*
language, so `normalize_language` maps such codes to a canonical name:

- the language part is lowercased: `DE` -> `de`;
- a region is dropped (`en_GB` -> `en`, `de_CH` -> `de`, `zh_CN` -> `zh`)
  unless it marks a distinct written standard (`REGIONAL_STANDARDS`:
  `pt_BR`, traditional Chinese `zh_TW` = `zh_HK`, Arabic-script `az_IR` and
  `pa_PK`);
- a script becomes `_Script` (`sr@latin` -> `sr_Latn`, `uz@cyrillic` ->
  `uz_Cyrl`); other `@` variants (`@quot`, `@valencia`, `@ije`) are spelling
  variants of the same script and are dropped.

The result is itself a valid code and normalises to itself.
"""

import re

from ernie_m.errors import ErnieMError

# language, then an optional `_REGION` (2 letters or 3 digits) or `_Script` (4 letters), then an optional `@modifier`.
_CODE = re.compile(r"(?P<lang>[A-Za-z]{2,3})(?:_(?P<sub>[A-Za-z]{2}|[0-9]{3}|[A-Za-z]{4}))?(?:@(?P<mod>[A-Za-z]+))?")

# (language, region or script) -> canonical name, for regions whose written language differs from the default.
REGIONAL_STANDARDS = {
    ("pt", "BR"): "pt_BR",
    ("zh", "TW"): "zh_TW",
    ("zh", "HK"): "zh_TW",
    ("zh", "MO"): "zh_TW",
    ("zh", "Hant"): "zh_TW",
    ("zh", "Hans"): "zh",
    ("az", "IR"): "az_Arab",
    ("pa", "PK"): "pa_Arab",
}

# gettext `@modifier` -> ISO 15924 script; modifiers not listed here are dropped.
_SCRIPT_MODIFIERS = {
    "latin": "Latn",
    "latn": "Latn",
    "iqtelif": "Latn",
    "cyrillic": "Cyrl",
    "cyrl": "Cyrl",
    "shaw": "Shaw",
}

# Every ISO 639-1 code: a two-letter name outside it is a typo, not a language. Three-letter codes
# (ISO 639-3, some 7,900 of them) are accepted as they come.
ISO_639_1 = frozenset(
    """
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo
es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg
ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn
no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta
te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split()
)

_HOW_TO_NAME = "name languages with ISO 639-1/639-3 codes like de, fr, zh, fil, pt_BR, sr_Latn"


def normalize_language(code: str) -> str:
    """Return the canonical name of a locale-style language code (see the module docstring)."""
    match = _CODE.fullmatch(code)
    if match is None:
        raise ErnieMError(f"{code!r} is not a language code; {_HOW_TO_NAME}")
    lang = match["lang"].lower()
    if len(lang) == 2 and lang not in ISO_639_1:
        raise ErnieMError(f"{code!r} is not an ISO 639-1 language code; {_HOW_TO_NAME}")
    script = _SCRIPT_MODIFIERS.get((match["mod"] or "").lower())
    sub = match["sub"]
    if sub is not None and len(sub) == 4:
        script = sub.title()
    elif sub is not None:
        regional = REGIONAL_STANDARDS.get((lang, sub.upper()))
        if regional is not None and script is None:
            return regional
    if script is None:
        return lang
    return REGIONAL_STANDARDS.get((lang, script), f"{lang}_{script}")
