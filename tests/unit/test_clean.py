"""The cleaning rules on literal sentences: what each rule removes, what it keeps, and the counts."""

import pytest

from ernie_m.data.clean import (
    RULES,
    CleanConfig,
    clean_mono,
    clean_pairs,
    expected_scripts,
    strip_accelerators,
    text_rule,
)

GOOD_PAIR = ("Open the file now", "Die Datei jetzt öffnen")


def removed_by(pair: tuple[str, str], lang_a: str = "en", lang_b: str = "de", **config) -> str | None:
    """The rule that removes `pair` on its own, None if it is kept."""
    kept, removed = clean_pairs([pair], lang_a, lang_b, CleanConfig(**config))
    assert len(kept) + sum(removed.values()) == 1
    return next(iter(removed), None)


PLACEHOLDERS = [
    "Cannot open %s now",
    "Copied %d files",
    "Copied %1$s files",
    "Cannot find %qD here",
    "Done %(count)s times",
    "Copied %'d files",
    "Hello {name} there",
    "File {0} opened",
    "Path ${HOME} here",
    "Step %1 of %2",
    "100%% done",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholders(text):
    assert text_rule(text) == "placeholder"
    assert removed_by((text, "Eine gute Übersetzung")) == "placeholder"
    assert removed_by(("A good English phrase", text)) == "placeholder"


@pytest.mark.parametrize("text", ["<b>Bold</b> text here", "Line<br/>break", "Tom &amp; Jerry show", "It&#39;s here"])
def test_markup_and_entities(text):
    assert text_rule(text) == "markup"


@pytest.mark.parametrize("text", ["50% of the files", "Save &As another file", "a < b and c > d", "Tom & Jerry"])
def test_plain_text_breaks_no_text_rule(text):
    assert text_rule(text) is None


def test_multiline():
    assert text_rule("Line one\nLine two") == "multiline"
    assert removed_by(("Line one\nLine two", "Zeile eins\nZeile zwei")) == "multiline"


def test_first_rule_in_order_wins():
    assert removed_by(("Line one\nLine two", "Zeile <b>%s</b>")) == "placeholder"
    assert removed_by(("Open the file now", "Открыть")) == "wrong_script"  # also too short


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("_Save the file", "Save the file"),
        ("&Open recent", "Open recent"),
        ("Save ~As", "Save As"),
        ("E&xit", "Exit"),
        ("文件(&F)", "文件"),
        ("Datei(_F) öffnen", "Datei öffnen"),
        ("ファイル (_F)", "ファイル"),
        ("Tom & Jerry", "Tom & Jerry"),
        ("  Too   many\tspaces  ", "Too many spaces"),
    ],
)
def test_accelerators_removed_and_whitespace_collapsed(raw, clean):
    assert strip_accelerators(raw) == clean


def test_kept_pairs_come_back_cleaned():
    kept, removed = clean_pairs([("_Save the file", "Datei _speichern")], "en", "de")
    assert kept == [("Save the file", "Datei speichern")] and not removed
    kept, removed = clean_pairs([("Save the file", "保存文件(_S)")], "en", "zh")
    assert kept == [("Save the file", "保存文件")] and not removed


@pytest.mark.parametrize(
    "pair, lang_b",
    [
        (("Exactly the same text", "Exactly the same text"), "de"),
        (("_Mobile phone", "Mobile _phone"), "de"),  # the same once the accelerators are gone
        (("Open the file now", "open the file now!"), "de"),  # case and punctuation ignored
        (("The GNOME desktop settings", "Les GNOME desktop settings"), "fr"),  # 3 of 4 words English
        (("Open the file now", "Open the file now"), "ru"),  # identical is caught in any script
    ],
)
def test_untranslated(pair, lang_b):
    assert removed_by(pair, "en", lang_b) == "untranslated"
    assert removed_by(pair[::-1], lang_b, "en") == "untranslated"


def test_untranslated_needs_an_english_side_and_enough_foreign_words():
    assert removed_by(("Die Datei jetzt öffnen", "Die Datei jetzt öffnen"), "de", "fr") is None
    assert removed_by(("Settings of the GNOME desktop", "Paramètres du bureau GNOME"), "en", "fr") is None
    assert removed_by(("Desktop GNOME settings", "GNOME desktop Einstellungen"), "en", "de") is None  # 2 of 3 < 0.7
    assert (
        removed_by(("Desktop GNOME settings", "GNOME desktop Einstellungen"), untranslated_share=0.6) == "untranslated"
    )


LATIN = "This is plain Latin text"
NATIVE = {
    "ru": "Открыть файл сейчас",
    "zh": "现在打开文件",
    "ar": "افتح الملف الآن",
    "el": "Άνοιγμα του αρχείου τώρα",
    "hi": "फ़ाइल अभी खोलें",
    "th": "เปิดไฟล์ตอนนี้",
    "ja": "ファイルを開きます",
    "ko": "파일을 지금 엽니다",
    "de": "Die Datei jetzt öffnen",
}


@pytest.mark.parametrize("lang", ["ru", "zh", "ar", "el", "hi", "th", "ja", "ko"])
def test_latin_text_is_the_wrong_script(lang):
    assert clean_mono([LATIN], lang) == ([], {"wrong_script": 1})
    assert removed_by((LATIN, LATIN.upper() + " NOW"), "en", lang) == "wrong_script"


@pytest.mark.parametrize("lang", NATIVE)
def test_the_expected_script_passes(lang):
    assert clean_mono([NATIVE[lang]], lang) == ([NATIVE[lang]], {})
    assert removed_by((LATIN, NATIVE[lang]), "en", lang) is None


def test_script_share_threshold():
    mixed = "Документ Lotus AmiPro"  # 8 Cyrillic letters of 19
    assert clean_mono([mixed], "ru")[1] == {"wrong_script": 1}
    assert clean_mono([mixed], "ru", CleanConfig(min_script_share=0.4))[0] == [mixed]
    assert clean_mono(["PDF 文档"], "zh")[0] == ["PDF 文档"]  # a Han character weighs as 3 Latin letters
    assert clean_mono(["Microsoft Cabinet 归档文件"], "zh")[1] == {"wrong_script": 1}
    assert clean_mono(["12:30 - 14:45", ""], "de")[1] == {"wrong_script": 2}  # no letters at all


def test_script_of_letters_named_otherwise():
    every_letter = CleanConfig(min_script_share=1.0)
    assert clean_mono(["時々コーヒーを飲む"], "ja", every_letter)[0] == [
        "時々コーヒーを飲む"
    ]  # 々 ideographic, ー kana
    assert clean_mono(["Ｄｉｅ Ｄａｔｅｉ öffnen"], "de", every_letter)[0] == [
        "Ｄｉｅ Ｄａｔｅｉ öffnen"
    ]  # fullwidth Latin


def test_unknown_language_has_no_script_check():
    assert expected_scripts("tzm") is None
    assert expected_scripts("zh_TW") == {"Han"} and expected_scripts("ja") == {"Han", "Hiragana", "Katakana"}
    assert clean_mono([NATIVE["ru"], LATIN], "tzm") == ([NATIVE["ru"], LATIN], {})


def test_too_short():
    assert removed_by(("Open", "Öffnen")) == "too_short"  # under 8 characters
    assert removed_by(("Go on", "Weiter so")) == "too_short"  # 5 characters on the English side
    assert removed_by(("Icon label text", "Symbolbezeichnung")) == "too_short"  # one word on the German side
    assert removed_by(("Open the file", "文件"), "en", "zh") == "too_short"  # 2 Han characters weigh 6
    assert removed_by(("Save the file", "保存文件"), "en", "zh") is None  # 4 weigh 12; no word count without spaces
    assert removed_by(("Open", "Öffnen"), min_chars=4, min_words=1) is None


def test_too_long():
    assert removed_by(("word " * 40 + "end", "Wort " * 40 + "Ende")) == "too_long"  # 203 characters
    assert removed_by(("word " * 39 + "end", "Wort " * 39 + "Ende")) is None  # 199 and 200
    assert removed_by(("Open the file now", "文件" * 34), "en", "zh") == "too_long"  # 68 Han characters weigh 204


def test_length_ratio():
    assert removed_by(("No match", "Keine Übereinstimmung gefunden")) == "length_ratio"  # 8 : 30
    assert removed_by(("No match", "Keine Übereinstimmung gefunden"), max_length_ratio=4) is None
    # 45 : 9 characters, but 9 Han characters weigh 27: Chinese is not rejected for being dense.
    assert removed_by(("Please check your network connection settings", "请检查网络连接设置"), "en", "zh") is None
    assert removed_by(("Church Slavic; Old Slavonic; Church Slavonic", "教会语"), "en", "zh") == "length_ratio"


def test_duplicates_keep_the_first_occurrence_in_input_order():
    pairs = [
        ("Open the file now", "Die Datei jetzt öffnen"),
        ("Close the window", "Das Fenster schließen"),
        ("Open the file now", "Die Datei jetzt öffnen"),
        ("_Open the file now", "Die Datei jetzt ö_ffnen"),  # the same once cleaned
        ("Open the FILE now!", "Die Datei jetzt öffnen."),
        ("Copied 3 files here", "3 Dateien hierher kopiert"),
        ("Copied 12 files here", "12 Dateien hierher kopiert"),
        ("Open the file now", "Öffne die Datei jetzt"),  # another translation is kept
    ]
    kept, removed = clean_pairs(pairs, "en", "de")
    assert kept == [pairs[0], pairs[1], pairs[5], pairs[7]]
    assert removed == {"exact_duplicate": 2, "near_duplicate": 2}


def test_counts_add_up():
    pairs = [
        GOOD_PAIR,
        ("Cannot open %s now", "Kann %s nicht öffnen"),
        ("<b>Bold</b> text here", "<b>Fetter</b> Text hier"),
        ("Line one\nLine two", "Zeile eins\nZeile zwei"),
        ("Exactly the same text", "Exactly the same text"),
        ("Open the file now", "Открыть файл сейчас"),
        ("Open", "Öffnen"),
        ("A very long string " * 11, "Ein sehr langer Text " * 10),
        ("No match", "Keine Übereinstimmung gefunden"),
        GOOD_PAIR,
        ("open the file NOW.", "die Datei jetzt öffnen!"),
    ]
    kept, removed = clean_pairs(pairs, "en", "de")
    assert kept == [GOOD_PAIR]
    assert removed == {rule: 1 for rule in RULES}
    assert len(kept) + sum(removed.values()) == len(pairs)


def test_clean_mono_applies_the_single_side_rules():
    lines = [
        "Die Datei jetzt öffnen",
        "Kann %s nicht öffnen",
        "<i>Kursiv</i> hier",
        "Zeile\nzwei",
        "Открыть файл сейчас",
        "Öffnen",
        "Wort " * 50,
        "Die Datei jetzt öffnen",
        "die Datei jetzt öffnen!",
        "Die _Datei schließen",
    ]
    kept, removed = clean_mono(lines, "de")
    assert kept == ["Die Datei jetzt öffnen", "Die Datei schließen"]
    assert removed == {rule: 1 for rule in RULES if rule not in ("untranslated", "length_ratio")}
    assert len(kept) + sum(removed.values()) == len(lines)
