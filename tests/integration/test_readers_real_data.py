"""Every real evaluation file of the team's data folder loads, with the published counts.

The folder sits next to the checkout (`../shared/data`); a user's clone has none, so these tests skip.
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import SHARED_DATA

from ernie_m.errors import ErnieMError
from ernie_m.evaluate.readers import (
    PAWSX_LABELS,
    XNLI_LABELS,
    read_conll,
    read_sentence_pairs,
    read_squad,
    task_files,
)

DATA = SHARED_DATA
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no team evaluation data at {DATA}")

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
# file: (sentences, tokens, entities). English, Spanish and Dutch as the CoNLL-2002/2003 papers count
# them, except one more Spanish entity per file where a sentence break splits an entity in two.
# German: the XGLUE copies, whose dev set is a 287-sentence extract.
CONLL_COUNTS = {
    "eng.train": (14_041, 203_621, 23_499),
    "eng.testa": (3_250, 51_362, 5_942),
    "eng.testb": (3_453, 46_435, 5_648),
    "esp.train": (8_323, 264_715, 18_798),
    "esp.testa": (1_915, 52_923, 4_352),
    "esp.testb": (1_517, 51_533, 3_559),
    "ned.train": (15_806, 202_644, 13_344),
    "ned.testa": (2_895, 37_687, 2_616),
    "ned.testb": (5_195, 68_875, 3_941),
    "deu.testa.xglue": (287, 5_428, 539),
    "deu.testb.xglue": (3_007, 51_943, 3_674),
}
MLQA_QUESTIONS = {"ar": 517, "de": 512, "en": 1_148, "es": 500, "hi": 507, "vi": 511, "zh": 504}


def test_xnli_dev_has_2490_balanced_rows_per_language():
    for language in XNLI_LANGUAGES:
        pairs = read_sentence_pairs(task_files("xnli", DATA, "dev", language), XNLI_LABELS)
        assert Counter(pair.label for pair in pairs) == {0: 830, 1: 830, 2: 830}, language
        assert all(pair.text_a and pair.text_b for pair in pairs), language


def test_pawsx_dev_has_2000_rows_per_language_with_csv_quotes_undone():
    for language in PAWSX_LANGUAGES:
        pairs = read_sentence_pairs(task_files("pawsx", DATA, "dev", language), PAWSX_LABELS)
        assert len(pairs) == 2_000 and {pair.label for pair in pairs} == {0, 1}, language
        assert not any('""' in pair.text_a + pair.text_b for pair in pairs), language
    french = read_sentence_pairs(DATA / "pawsx" / "dev-fr.tsv", PAWSX_LABELS)
    quoted = next(pair for pair in french if "Aamir Khan a de suite" in pair.text_a)
    assert (
        quoted.text_a
        == 'Aamir Khan a de suite accepté de jouer après avoir lu le script de Mehra dans "Rang De Basanti".'
    )


def test_every_conll_file_has_its_counts_and_valid_iob2():
    found = {path.name for path in (DATA / "conll").iterdir() if path.name != "README.conll2002"}
    assert found == set(CONLL_COUNTS)
    for name, counts in CONLL_COUNTS.items():
        sentences = read_conll(DATA / "conll" / name)
        tags = [sentence.tags for sentence in sentences]
        entities = sum(tag.startswith("B-") for sentence in tags for tag in sentence)
        assert (len(sentences), sum(len(sentence) for sentence in tags), entities) == counts, name
        assert all(_is_iob2(sentence) for sentence in tags), name


def test_conll_files_are_found_by_language_and_split():
    assert task_files("conll", DATA, "train", "en").name == "eng.train"
    assert task_files("conll", DATA, "test", "nl").name == "ned.testb"
    assert task_files("conll", DATA, "dev", "de").name == "deu.testa.xglue"


def test_strict_iob2_names_the_split_entity_in_the_spanish_test_set():
    with pytest.raises(ErnieMError, match=r"esp\.testb: line 9291: I-MISC after the sentence start is not IOB2"):
        read_conll(DATA / "conll" / "esp.testb", scheme="iob2")


def test_mlqa_dev_files_load_with_every_answer_in_its_context():
    for language, count in MLQA_QUESTIONS.items():
        examples = read_squad(task_files("mlqa", DATA, "dev", language))
        assert len(examples) == count, language
        assert all(example.answers for example in examples), language
        for example in examples:
            for text, start in example.answers:
                assert example.context[start : start + len(text)] == text


def _is_iob2(tags: tuple[str, ...]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True
