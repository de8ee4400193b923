"""English-X pairs from gettext catalogs: cleaning, counts, locale mapping, errors, the real system catalogs."""

import logging
import struct
from pathlib import Path

import pytest
from conftest import real_catalogs_or_skip

from ernie_m.data.catalogs import read_catalog_pairs, read_system_catalogs
from ernie_m.data.clean import RULES, CleanConfig
from ernie_m.errors import ErnieMError

HEADER = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def mo_bytes(entries: dict[str, str]) -> bytes:
    """A compiled GNU .mo catalog (little-endian, no hash table) holding `entries` (msgid -> msgstr)."""
    items = sorted((key.encode("utf-8"), value.encode("utf-8")) for key, value in entries.items())
    header_size, table_size = 7 * 4, len(items) * 8
    ids_table, strs_table = header_size, header_size + table_size
    data, tables = bytearray(), {"ids": [], "strs": []}
    start = header_size + 2 * table_size
    for key, value in items:
        for table, text in (("ids", key), ("strs", value)):
            tables[table].append((len(text), start + len(data)))
            data += text + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, len(items), ids_table, strs_table, 0, 0)
    for table in ("ids", "strs"):
        out += b"".join(struct.pack("<2I", length, offset) for length, offset in tables[table])
    return out + bytes(data)


def write_catalog(locale_dir: Path, locale: str, domain: str, entries: dict[str, str]) -> None:
    folder = locale_dir / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{domain}.mo").write_bytes(mo_bytes({"": HEADER, **entries}))


GERMAN = {
    "Open the file now": "Die Datei jetzt öffnen",
    "menu\x04Close the window": "Das Fenster schließen",  # msgctxt
    "One open window\x00Many open windows": "Ein offenes Fenster\x00Viele offene Fenster",  # plural
    "Cannot open %s now": "Kann %s nicht öffnen",
    "Copied %1$s files here": "%1$s Dateien kopiert",
    "Hello {name} there": "Hallo {name} dort",
    "Progress %(done)d of it": "Fortschritt %(done)d davon",
    "<b>Bold</b> text here": "<b>Fetter</b> Text hier",
    "Tom &amp; Jerry show": "Tom &amp; Jerry Show",
    "_Save the file": "Datei _speichern",
    "&Open recent files": "Zuletzt &geöffnete Dateien",
    "Save ~As another file": "Speichern ~unter einer anderen Datei",
    "Exactly the same text": "Exactly the same text",
    "_Mobile phone": "Mobile _phone",  # identical once the accelerators are gone
    "Open": "Öffnen",  # one word
    "Go on": "Weiter so",  # two words but under 8 characters
    "Quit now": "Jetzt beenden",  # 8 characters, 2 words: just long enough
    "Line one\nLine two": "Zeile eins\nZeile zwei",
    "A very long string " * 11: "Ein sehr langer Text " * 9,
    "Too   many  spaces here": "Zu  viele   Leerzeichen",
    "Missing translation here": "",
}

EXPECTED_GERMAN = [
    ("Close the window", "Das Fenster schließen"),
    ("Open recent files", "Zuletzt geöffnete Dateien"),
    ("Open the file now", "Die Datei jetzt öffnen"),
    ("Quit now", "Jetzt beenden"),
    ("Save As another file", "Speichern unter einer anderen Datei"),
    ("Save the file", "Datei speichern"),
    ("Too many spaces here", "Zu viele Leerzeichen"),
]


@pytest.fixture
def locale_dir(tmp_path) -> Path:
    root = tmp_path / "locale"
    write_catalog(root, "de", "app", GERMAN)
    write_catalog(root, "de_DE", "other", {"Open the file now": "Die Datei jetzt öffnen"})  # a duplicate pair
    write_catalog(root, "zh_CN", "app", {"Save the file": "保存文件(_S)", "Open the file now": "现在打开文件"})
    write_catalog(root, "zh_Hans", "app", {"Quit the program": "退出程序"})
    write_catalog(root, "zh_TW", "app", {"Save the file": "儲存檔案"})
    write_catalog(root, "en_GB", "app", {"Save the colour": "Save the colour"})
    write_catalog(root, "fr", "app", {"Open": "Ouvrir"})  # nothing survives cleaning
    (root / "locale.alias").write_text("german de_DE.ISO-8859-1\n")
    return root


def test_cleaning_keeps_only_plain_phrases(locale_dir):
    corpus = read_system_catalogs(["de"], locale_dir)
    assert corpus.pairs == {("en", "de"): EXPECTED_GERMAN}
    assert corpus.mono == {}


def test_locale_dirs_map_to_normalised_languages(locale_dir):
    corpus = read_system_catalogs(["zh_CN", "zh_TW", "en"], locale_dir)
    assert corpus.pairs == {
        ("en", "zh"): [
            ("Open the file now", "现在打开文件"),
            ("Quit the program", "退出程序"),
            ("Save the file", "保存文件"),
        ],
        ("en", "zh_TW"): [("Save the file", "儲存檔案")],
    }
    assert corpus.languages() == ["en", "zh", "zh_TW"]


def test_output_is_deterministic_and_sampling_is_seeded(locale_dir):
    assert read_system_catalogs(["de"], locale_dir) == read_system_catalogs(["de"], locale_dir)
    first = read_system_catalogs(["de"], locale_dir, max_pairs_per_language=3).pairs[("en", "de")]
    again = read_system_catalogs(["de"], locale_dir, max_pairs_per_language=3).pairs[("en", "de")]
    assert first == again == sorted(first)
    assert len(first) == 3 and set(first) < set(EXPECTED_GERMAN)


def test_unreadable_catalog_is_skipped_and_counted(locale_dir, caplog):
    (locale_dir / "de" / "LC_MESSAGES" / "broken.mo").write_bytes(b"not a catalog at all")
    with caplog.at_level(logging.WARNING, logger="ernie_m.data.catalogs"):
        corpus = read_system_catalogs(["de"], locale_dir)
    assert corpus.pairs[("en", "de")] == EXPECTED_GERMAN
    assert "de: skipped 1 unreadable catalogs: broken.mo" in caplog.text
    _, counts = read_catalog_pairs(["de"], locale_dir)
    assert counts["de"]["catalogs"] == 2 and counts["de"]["unreadable_catalogs"] == 1


def test_missing_locale_dir_says_what_was_looked_for(tmp_path):
    with pytest.raises(ErnieMError, match=r"nowhere: no translation catalogs there; looked for de, fr .*--corpus DIR"):
        read_system_catalogs(["fr", "de_DE"], tmp_path / "nowhere")


def test_language_without_pairs_is_named(locale_dir):
    with pytest.raises(ErnieMError, match=r"no usable catalog pairs for fr, ja; looked for fr, ja"):
        read_system_catalogs(["de", "fr", "ja"], locale_dir)


def test_only_english_requested(locale_dir):
    with pytest.raises(ErnieMError, match=r"no languages besides English"):
        read_system_catalogs(["en_US"], locale_dir)


def test_bad_language_code(locale_dir):
    with pytest.raises(ErnieMError, match=r"'german' is not a language code"):
        read_system_catalogs(["german"], locale_dir)


def test_catalog_and_rule_counts(locale_dir):
    pairs, counts = read_catalog_pairs(["de"], locale_dir)
    assert pairs == {("en", "de"): EXPECTED_GERMAN}
    assert counts == {
        "de": {
            "catalogs": 2,
            "unreadable_catalogs": 0,
            "entries": 24,  # 21 messages and a header in app.mo, 1 and a header in other.mo
            "header": 2,
            "plural": 1,
            "context_stripped": 1,
            "placeholder": 4,
            "markup": 2,
            "multiline": 1,
            "untranslated": 2,
            "wrong_script": 1,  # the empty translation has no letter of its script
            "too_short": 2,  # "Open", "Go on"
            "too_long": 1,
            "exact_duplicate": 1,  # other.mo repeats a pair of app.mo
        }
    }
    german = counts["de"]
    cleaned = german["entries"] - german["header"] - german["plural"]
    assert len(pairs[("en", "de")]) + sum(german[rule] for rule in RULES) == cleaned


def test_cleaning_config_is_applied(locale_dir):
    pairs, counts = read_catalog_pairs(["de"], locale_dir, CleanConfig(min_chars=4, min_words=1))
    assert ("Open", "Öffnen") in pairs[("en", "de")]
    assert counts["de"]["too_short"] == 0


def test_wrong_script_in_a_russian_catalog(tmp_path):
    write_catalog(
        tmp_path,
        "ru",
        "app",
        {
            "Open the file now": "Открыть файл сейчас",
            "Lotus AmiPro document": "Документ Lotus AmiPro",
            "Print the whole page": "Print the whole page please",
        },
    )
    pairs, counts = read_catalog_pairs(["ru_RU"], tmp_path)
    assert pairs == {("en", "ru"): [("Open the file now", "Открыть файл сейчас")]}
    assert counts["ru"]["wrong_script"] == 2


def test_all_languages(locale_dir):
    write_catalog(locale_dir, "en@shaw", "app", {"Save the file": "𐑕𐑱𐑝 𐑞 𐑓𐑲𐑤"})  # English in another script
    write_catalog(locale_dir, "C.UTF-8", "app", {"Save the file": "Save the file"})  # not a language code
    (locale_dir / "ru" / "LC_MESSAGES").mkdir(parents=True)  # a language without catalogs
    pairs, counts = read_catalog_pairs(["all"], locale_dir)
    assert list(pairs) == [("en", "de"), ("en", "zh"), ("en", "zh_TW")]  # fr and ru have no usable pair
    assert list(counts) == ["de", "zh", "zh_TW"]
    assert pairs[("en", "de")] == EXPECTED_GERMAN
    assert counts["zh"]["catalogs"] == 2
    assert read_catalog_pairs(["all"], locale_dir) == (pairs, counts)
    assert list(read_catalog_pairs(["all", "de_DE"], locale_dir)[0]) == list(pairs)
    with pytest.raises(ErnieMError, match=r"no usable catalog pairs for ja"):
        read_catalog_pairs(["all", "ja"], locale_dir)


def test_all_languages_without_any_pair(tmp_path):
    write_catalog(tmp_path, "fr", "app", {"Open": "Ouvrir"})
    with pytest.raises(ErnieMError, match=r"no usable catalog pairs for any language; looked for all"):
        read_catalog_pairs(["all"], tmp_path)
    with pytest.raises(ErnieMError, match=r"nowhere: no translation catalogs there; looked for all"):
        read_catalog_pairs(["all"], tmp_path / "nowhere")


def test_real_catalog_pairs_and_counts():
    languages = ["de", "fr", "ru", "zh_CN"]
    real_catalogs_or_skip(languages)
    pairs, counts = read_catalog_pairs(languages)
    assert list(counts) == ["de", "fr", "ru", "zh"]
    for lang, found in counts.items():
        assert len(pairs[("en", lang)]) > 1000
        assert found["catalogs"] > 10 and found["plural"] > 0 and found["placeholder"] > 0 and found["header"] > 0
        cleaned = found["entries"] - found["header"] - found["plural"]
        assert len(pairs[("en", lang)]) + sum(found[rule] for rule in RULES) == cleaned
    assert counts["ru"]["wrong_script"] > 0 and counts["zh"]["wrong_script"] > 0
    assert counts["de"]["untranslated"] > counts["ru"]["untranslated"]  # many names stay the same in German


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_real_system_catalogs(lang):
    real_catalogs_or_skip([lang])
    pairs = read_system_catalogs([lang]).pairs[("en", lang)]
    assert len(pairs) > 1000
    english = " ".join(en for en, _ in pairs)
    words = english.lower().split()
    assert sum(ch.isascii() for ch in english) / len(english) > 0.99
    assert words.count("the") / len(words) > 0.02  # "the" is about 5% of English UI text, ~0% of German/French
    assert sum(en != x for en, x in pairs) == len(pairs)
