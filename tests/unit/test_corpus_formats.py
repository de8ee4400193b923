"""User corpus files as they come: compressed, TSV, bad lines skipped on request, unknown language codes."""

from __future__ import annotations

import gzip
import lzma
from collections import Counter

import pytest

from ernie_m.data.corpus import read_corpus_dir
from ernie_m.errors import ErnieMError


def test_compressed_files_and_tsv(tmp_path):
    with gzip.open(tmp_path / "de-en.de.gz", "wt", encoding="utf-8") as f:
        f.write("Hallo Welt\nGuten Tag\n")
    with lzma.open(tmp_path / "de-en.en.xz", "wt", encoding="utf-8") as f:
        f.write("Hello world\nGood day\n")
    with gzip.open(tmp_path / "sw.txt.gz", "wt", encoding="utf-8") as f:
        f.write("habari yako\n")
    (tmp_path / "es-en.tsv").write_text("Hola\tHello\n\nAdiós\tGoodbye\n", encoding="utf-8")
    corpus = read_corpus_dir(tmp_path)
    assert corpus.pairs[("de", "en")] == [("Hallo Welt", "Hello world"), ("Guten Tag", "Good day")]
    assert corpus.pairs[("es", "en")] == [("Hola", "Hello"), ("Adiós", "Goodbye")]
    assert corpus.mono == {"sw": ["habari yako"]}


def test_malformed_tsv_line_names_file_and_line(tmp_path):
    (tmp_path / "es-en.tsv").write_text("Hola\tHello\nsolo una columna\n", encoding="utf-8")
    with pytest.raises(ErnieMError, match=r"es-en\.tsv: line 2 has 1 TAB-separated fields"):
        read_corpus_dir(tmp_path)


def test_skip_drops_bad_lines_with_their_partner_and_counts_them(tmp_path):
    (tmp_path / "de-en.de").write_bytes(b"eins\nzwei \xff\ndrei\n")
    (tmp_path / "de-en.en").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "es-en.tsv").write_text("uno\tone\nmal\n", encoding="utf-8")
    with pytest.raises(ErnieMError, match=r"de-en\.de: line 2 is not valid UTF-8"):
        read_corpus_dir(tmp_path)
    skipped = Counter()
    corpus = read_corpus_dir(tmp_path, on_error="skip", skipped=skipped)
    assert corpus.pairs[("de", "en")] == [("eins", "one"), ("drei", "three")]
    assert skipped == {"not_utf8": 1, "malformed_tsv": 1}


def test_a_binary_file_is_refused_even_when_skipping_bad_lines(tmp_path):
    (tmp_path / "de.txt").write_bytes(bytes(range(256)) * 40 + b"\nHallo Welt\n")
    with pytest.raises(ErnieMError, match=r"de\.txt: \d+ of its \d+ lines are not UTF-8 text; is it a text file\?"):
        read_corpus_dir(tmp_path, on_error="skip", skipped=Counter())


def test_a_nul_byte_is_a_bad_line(tmp_path):
    (tmp_path / "de.txt").write_bytes(b"eins\nzw\x00ei\ndrei\nvier\n")
    with pytest.raises(
        ErnieMError, match=r"de\.txt: line 2 holds a NUL byte .binary data. .`ernie-m corpus build --on-error skip`"
    ):
        read_corpus_dir(tmp_path)
    assert read_corpus_dir(tmp_path, on_error="skip", skipped=Counter()).mono["de"] == ["eins", "drei", "vier"]


def test_unknown_two_letter_code_is_refused_with_how_to_name(tmp_path):
    (tmp_path / "xx.txt").write_text("text\n", encoding="utf-8")
    with pytest.raises(ErnieMError, match=r"xx\.txt: 'xx' is not an ISO 639-1 language code; name languages with"):
        read_corpus_dir(tmp_path)
