"""Reading a user corpus directory, and naming languages."""

from pathlib import Path

import pytest

from ernie_m.data.corpus import TextCorpus, read_corpus_dir
from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    "code, expected",
    [
        ("de", "de"),
        ("DE", "de"),
        ("de_DE", "de"),
        ("de_CH", "de"),
        ("en_GB", "en"),
        ("en_US", "en"),
        ("en@quot", "en"),
        ("zh_CN", "zh"),
        ("zh_Hans", "zh"),
        ("zh_TW", "zh_TW"),
        ("zh_HK", "zh_TW"),
        ("zh_Hant", "zh_TW"),
        ("pt_BR", "pt_BR"),
        ("pt_PT", "pt"),
        ("sr@latin", "sr_Latn"),
        ("sr@Latn", "sr_Latn"),
        ("sr_RS@latin", "sr_Latn"),
        ("uz@cyrillic", "uz_Cyrl"),
        ("ca@valencia", "ca"),
        ("es_419", "es"),
        ("fil", "fil"),
        ("az_IR", "az_Arab"),
    ],
)
def test_normalize_language(code, expected):
    assert normalize_language(code) == expected
    assert normalize_language(expected) == expected  # canonical names are fixed points


@pytest.mark.parametrize("code", ["german", "d", "de-en", "de_DE.UTF-8", "12", "", "locale.alias", "zh_CNN"])
def test_normalize_language_rejects_non_codes_and_says_how(code):
    with pytest.raises(ErnieMError, match=r"is not a language code.*ISO 639-1/639-3.*pt_BR"):
        normalize_language(code)


def test_reads_mono_and_parallel_with_crlf(tmp_path):
    write(tmp_path, "de.txt", "Guten Morgen.\r\n\r\n  Wie geht es?  \r\nDanke\r\n")
    write(tmp_path, "sw.txt", "\ufeffHabari yako\n")
    write(tmp_path, "de-en.de", "Hallo Welt\r\n\r\nEin Haus\r\nNur deutsch\r\n")
    write(tmp_path, "de-en.en", "Hello world\r\nOnly English\r\nA house\r\n\r\n")
    write(tmp_path, "README.md", "not a corpus file\n")

    corpus = read_corpus_dir(tmp_path)

    assert corpus.mono == {"de": ["Guten Morgen.", "Wie geht es?", "Danke"], "sw": ["Habari yako"]}
    assert corpus.pairs == {("de", "en"): [("Hallo Welt", "Hello world"), ("Ein Haus", "A house")]}
    assert corpus.languages() == ["de", "en", "sw"]
    assert corpus.parallel_languages() == ["de", "en"]


def test_locale_style_file_names_merge_into_one_language(tmp_path):
    write(tmp_path, "de.txt", "eins\n")
    write(tmp_path, "de_DE.txt", "zwei\n")
    write(tmp_path, "zh_CN-en.zh_CN", "你好\n")
    write(tmp_path, "zh_CN-en.en", "hello\n")

    corpus = read_corpus_dir(tmp_path)

    assert corpus.mono == {"de": ["eins", "zwei"]}
    assert corpus.pairs == {("zh", "en"): [("你好", "hello")]}


def test_empty_files_leave_no_empty_language(tmp_path):
    write(tmp_path, "de.txt", "eins\n")
    write(tmp_path, "fr.txt", "\n  \n")
    assert read_corpus_dir(tmp_path) == TextCorpus(pairs={}, mono={"de": ["eins"]})


def test_missing_directory(tmp_path):
    with pytest.raises(ErnieMError, match=r"nope: corpus directory does not exist"):
        read_corpus_dir(tmp_path / "nope")


def test_directory_without_corpus_files_says_what_names_are_expected(tmp_path):
    write(tmp_path, "notes.md", "hello\n")
    with pytest.raises(ErnieMError, match=rf"{tmp_path.name}: no corpus files; expected <lang>\.txt .*de-en\.de"):
        read_corpus_dir(tmp_path)


@pytest.mark.parametrize("present, missing", [("de-en.de", "de-en.en"), ("de-en.en", "de-en.de")])
def test_parallel_file_without_partner(tmp_path, present, missing):
    write(tmp_path, present, "Hallo\n")
    with pytest.raises(ErnieMError, match=rf"{present}: parallel file without its partner {missing}"):
        read_corpus_dir(tmp_path)


def test_parallel_files_of_different_lengths_name_both_counts(tmp_path):
    write(tmp_path, "de-en.de", "eins\nzwei\ndrei\n")
    write(tmp_path, "de-en.en", "one\ntwo\n")
    with pytest.raises(ErnieMError, match=r"de-en\.de has 3 lines but .*de-en\.en has 2"):
        read_corpus_dir(tmp_path)


def test_blank_lines_count_towards_parallel_alignment(tmp_path):
    write(tmp_path, "de-en.de", "eins\n\nzwei\n")
    write(tmp_path, "de-en.en", "one\ntwo\n")
    with pytest.raises(ErnieMError, match=r"has 3 lines but .* has 2"):
        read_corpus_dir(tmp_path)


@pytest.mark.parametrize("name, partner", [("de-en.de", "de-en.en"), ("de.txt", None)])
def test_invalid_utf8_names_file_and_line(tmp_path, name, partner):
    if partner:
        write(tmp_path, partner, "one\ntwo\nthree\n")
    write(tmp_path, name, b"eins\nzwei\ndr\xe4i\n")
    escaped = name.replace(".", r"\.")
    with pytest.raises(ErnieMError, match=rf"{escaped}: line 3 is not valid UTF-8"):
        read_corpus_dir(tmp_path)


def test_empty_corpus(tmp_path):
    write(tmp_path, "de.txt", "")
    write(tmp_path, "de-en.de", "\n")
    write(tmp_path, "de-en.en", "one\n")
    with pytest.raises(ErnieMError, match=rf"{tmp_path.name}: the corpus is empty"):
        read_corpus_dir(tmp_path)


@pytest.mark.parametrize(
    "files, bad",
    [
        (["german.txt"], "german.txt"),
        (["english-german.english", "english-german.german"], "english-german.english"),
        (["de-en.txt"], "de-en.txt"),
    ],
)
def test_file_name_that_is_not_a_language_code(tmp_path, files, bad):
    for name in files:
        write(tmp_path, name, "text\n")
    with pytest.raises(ErnieMError, match=rf"{bad.replace('.', '[.]')}: .* is not a language code"):
        read_corpus_dir(tmp_path)


def test_parallel_pair_of_one_language(tmp_path):
    write(tmp_path, "de-de.de", "Hallo\n")
    with pytest.raises(ErnieMError, match=r"de-de\.de: a parallel pair needs two different languages"):
        read_corpus_dir(tmp_path)
