"""Evaluation readers on small files written here in each official layout, clean and malformed."""

from __future__ import annotations

import json

import pytest

from ernie_m.errors import ErnieMError
from ernie_m.evaluate.readers import (
    PAWSX_LABELS,
    XNLI_LABELS,
    QAExample,
    SentencePair,
    TaggedSentence,
    iob1_to_iob2,
    read_bucc,
    read_conll,
    read_sentence_pairs,
    read_squad,
    read_tatoeba,
    task_files,
    translated_sentences,
)


def write(path, text: str, encoding: str = "utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------- XNLI, PAWS-X


def test_xtreme_layout_with_bom_crlf_csv_quotes_and_the_mnli_label_spelling(tmp_path):
    path = write(
        tmp_path / "dev-fr.tsv",
        'Il dort.\tIl est éveillé.\tcontradictory\r\n"Il a dit ""oui""."\tIl a parlé.\tentailment\r\n\r\n'
        'Un "mot" ici.\tRien.\tneutral\r\n',
        encoding="utf-8-sig",
    )
    assert read_sentence_pairs(path, XNLI_LABELS) == [
        SentencePair("Il dort.", "Il est éveillé.", 2),
        SentencePair('Il a dit "oui".', "Il a parlé.", 0),
        SentencePair('Un "mot" ici.', "Rien.", 1),
    ]


def test_original_xnli_layout_selects_the_language(tmp_path):
    header = "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1\tsentence2\tpairID\n"
    rows = "de\tneutral\t(a)\t(b)\tEr schläft.\tEr träumt.\t1\nfr\tentailment\t(a)\t(b)\tIl dort.\tIl rêve.\t1\n"
    path = write(tmp_path / "xnli.dev.tsv", header + rows + 'de\tcontradiction\t(a)\t(b)\t"Ja"\tNein.\t2\n')
    assert read_sentence_pairs(path, XNLI_LABELS, language="de") == [
        SentencePair("Er schläft.", "Er träumt.", 1),
        SentencePair('"Ja"', "Nein.", 2),  # the original files are not csv-quoted
    ]
    with pytest.raises(ErnieMError, match=r"xnli\.dev\.tsv: holds several languages; choose one \(present: de, fr\)"):
        read_sentence_pairs(path, XNLI_LABELS)
    with pytest.raises(ErnieMError, match=r"has no rows of language 'sw' \(present: de, fr\)"):
        read_sentence_pairs(path, XNLI_LABELS, language="sw")


def test_original_pawsx_layout_with_header(tmp_path):
    path = write(tmp_path / "dev_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\tA b.\tB a.\t0\n2\tC d.\tC d !\t1\n")
    assert read_sentence_pairs(path, PAWSX_LABELS) == [
        SentencePair("A b.", "B a.", 0),
        SentencePair("C d.", "C d !", 1),
    ]


def test_label_outside_the_set_names_file_line_and_labels(tmp_path):
    path = write(tmp_path / "dev-en.tsv", "a\tb\tentailment\nc\td\tmaybe\n")
    with pytest.raises(
        ErnieMError, match=r"dev-en\.tsv: line 2: label 'maybe' is not one of entailment, neutral, contradiction"
    ):
        read_sentence_pairs(path, XNLI_LABELS)


def test_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path / "dev-en.tsv", "a\tb\t1\n\na b 0\n")
    with pytest.raises(ErnieMError, match=r"dev-en\.tsv: line 3 has 1 TAB-separated fields, expected 3"):
        read_sentence_pairs(path, PAWSX_LABELS)
    unlabelled = write(tmp_path / "test-en.tsv", "a\tb\n")
    with pytest.raises(
        ErnieMError, match=r"line 1 has 2 TAB-separated fields, expected 3 .*; XTREME's test files have no labels"
    ):
        read_sentence_pairs(unlabelled, PAWSX_LABELS)
    header = write(tmp_path / "dev_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\n")
    with pytest.raises(ErnieMError, match=r"line 2 has 3 TAB-separated fields, expected 4 \(as the header names\)"):
        read_sentence_pairs(header, PAWSX_LABELS)


def test_empty_missing_and_undecodable_files(tmp_path):
    with pytest.raises(ErnieMError, match=r"dev-en\.tsv: empty"):
        read_sentence_pairs(write(tmp_path / "dev-en.tsv", "\ufeff\n"), PAWSX_LABELS)
    with pytest.raises(ErnieMError, match=r"nowhere\.tsv: cannot read"):
        read_sentence_pairs(tmp_path / "nowhere.tsv", PAWSX_LABELS)
    (tmp_path / "bad.tsv").write_bytes(b"a\tb\t0\nc\xff\td\t1\n")
    with pytest.raises(ErnieMError, match=r"bad\.tsv: line 2 is not valid UTF-8"):
        read_sentence_pairs(tmp_path / "bad.tsv", PAWSX_LABELS)


# ---------------------------------------------------------------- CoNLL


def test_iob1_to_iob2_moves_entity_starts():
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"]) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert iob1_to_iob2(["I-ORG", "I-LOC", "I-LOC"]) == ["B-ORG", "B-LOC", "I-LOC"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "B-ORG"]
    assert iob1_to_iob2(iob2) == iob2


def test_conll_2003_crlf_docstart_pos_columns_and_iob1(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\r\n\r\n"
        "Peter NNP I-NP I-PER\r\nBlackburn NNP I-NP I-PER\r\nMary NNP I-NP B-PER\r\nsaw VBD I-VP O\r\n"
        "Paris NNP I-NP I-LOC\r\n\r\n\r\nEU NNP I-NP I-ORG\r\n"
    )
    assert read_conll(write(tmp_path / "eng.train", text)) == [
        TaggedSentence(("Peter", "Blackburn", "Mary", "saw", "Paris"), ("B-PER", "I-PER", "B-PER", "O", "B-LOC")),
        TaggedSentence(("EU",), ("B-ORG",)),
    ]


def test_conll_2002_tabs_two_columns_and_docstart_inside_text(tmp_path):
    text = "-DOCSTART-\tO\nDe\tO\nMorgen\tB-ORG\n-DOCSTART-\tO\nIn\tO\nSao\tB-LOC\nPaulo\tI-LOC\n"
    path = write(tmp_path / "ned.train", text)
    expected = [
        TaggedSentence(("De", "Morgen"), ("O", "B-ORG")),
        TaggedSentence(("In", "Sao", "Paulo"), ("O", "B-LOC", "I-LOC")),
    ]
    assert read_conll(path) == expected
    assert read_conll(path, scheme="iob2") == expected


def test_conll_errors_name_file_and_line(tmp_path):
    with pytest.raises(ErnieMError, match=r"esp\.testa: line 3: tag 'PER' is not O, B-<type> or I-<type>"):
        read_conll(write(tmp_path / "esp.testa", "La O\n\nJuan PER\n"))
    with pytest.raises(ErnieMError, match=r"esp\.testb: line 2 has one column"):
        read_conll(write(tmp_path / "esp.testb", "La O\nJuan\n"))
    with pytest.raises(ErnieMError, match=r"esp\.train: line 3: I-LOC after O is not IOB2"):
        read_conll(write(tmp_path / "esp.train", "La B-LOC\nen O\nSan I-LOC\n"), scheme="iob2")
    with pytest.raises(ErnieMError, match=r"line 1: I-LOC after the sentence start is not IOB2"):
        read_conll(write(tmp_path / "ned.testa", "San I-LOC\n"), scheme="iob2")
    with pytest.raises(ErnieMError, match=r"ned\.testb: no sentences"):
        read_conll(write(tmp_path / "ned.testb", "-DOCSTART- -DOCSTART- O\n\n"))
    with pytest.raises(ErnieMError, match=r"unknown tagging scheme 'bio'"):
        read_conll(tmp_path / "esp.testa", scheme="bio")


# ---------------------------------------------------------------- SQuAD, MLQA


def squad_json(answer_start: int = 10) -> dict:
    qa = {"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": answer_start}]}
    return {
        "version": "1.1",
        "data": [{"title": "T", "paragraphs": [{"context": "She lives Paris now.", "qas": [qa]}]}],
    }


def test_squad_reads_questions_and_checks_answer_positions(tmp_path):
    path = write(tmp_path / "dev-context-en-question-en.json", json.dumps(squad_json()))
    assert read_squad(path) == [QAExample("q1", "Where?", "She lives Paris now.", (("Paris", 10),))]
    write(path, json.dumps(squad_json(answer_start=9)))
    with pytest.raises(
        ErnieMError,
        match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: answer 'Paris' is not at answer_start 9",
    ):
        read_squad(path)


def test_squad_malformed_structure_names_file_and_place(tmp_path):
    broken = squad_json()
    del broken["data"][0]["paragraphs"][0]["qas"][0]["id"]
    path = write(tmp_path / "train-v1.1.json", json.dumps(broken))
    with pytest.raises(
        ErnieMError, match=r"train-v1\.1\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]: expected a string under 'id'"
    ):
        read_squad(path)
    with pytest.raises(ErnieMError, match=r"the top level: expected a list under 'data'"):
        read_squad(write(path, "[]"))
    with pytest.raises(ErnieMError, match=r"train-v1\.1\.json: line 2: not valid JSON"):
        read_squad(write(path, '{"data":\n [,]}'))
    with pytest.raises(ErnieMError, match=r"no questions"):
        read_squad(write(path, '{"data": []}'))


# ---------------------------------------------------------------- Tatoeba, BUCC


def test_tatoeba_pairs_and_mismatched_line_counts(tmp_path):
    source = write(tmp_path / "tatoeba.deu-eng.deu", "Hallo.\r\nDanke.\n")
    english = write(tmp_path / "tatoeba.deu-eng.eng", "Hello.\nThanks.\n")
    assert read_tatoeba(source, english) == (["Hallo.", "Danke."], ["Hello.", "Thanks."])
    write(english, "Hello.\nThanks.\nBye.\n")
    with pytest.raises(ErnieMError, match=r"tatoeba\.deu-eng\.deu has 2 lines but .*tatoeba\.deu-eng\.eng has 3"):
        read_tatoeba(source, english)


def write_bucc(directory, split: str = "sample", gold: str = "de-000002\ten-000001\n"):
    write(directory / f"de-en.{split}.de", "de-000001\tHallo Welt.\nde-000002\tGuten Tag.\n")
    write(directory / f"de-en.{split}.en", "en-000001\tGood day.\nen-000002\tNothing here.\n")
    write(directory / f"de-en.{split}.gold", gold)


@pytest.mark.parametrize("folder", ["", "bucc2018/de-en"])
def test_bucc_dev_is_the_sample_set_in_either_place(tmp_path, folder):
    write_bucc(tmp_path / folder)
    foreign, english, gold = read_bucc(tmp_path, "de", "dev")
    assert foreign == {"de-000001": "Hallo Welt.", "de-000002": "Guten Tag."}
    assert english["en-000001"] == "Good day." and gold == {("de-000002", "en-000001")}


def test_bucc_test_is_the_training_set_and_bad_lines_are_named(tmp_path):
    write_bucc(tmp_path, "training", gold="de-000001\ten-000009\n")
    with pytest.raises(
        ErnieMError, match=r"de-en\.training\.gold: line 1: id 'en-000009' is not in .*de-en\.training\.en"
    ):
        read_bucc(tmp_path, "de", "test")
    write(tmp_path / "de-en.training.gold", "de-000001 en-000001\n")
    with pytest.raises(ErnieMError, match=r"de-en\.training\.gold: line 1 has 1 TAB-separated fields, expected 2"):
        read_bucc(tmp_path, "de", "test")
    write(tmp_path / "de-en.training.de", "de-000001\tHallo.\nde-000001\tNoch einmal.\n")
    with pytest.raises(ErnieMError, match=r"de-en\.training\.de: line 2: id 'de-000001' occurs twice"):
        read_bucc(tmp_path, "de", "test")


# ---------------------------------------------------------------- file names


def touch(directory, *names):
    for name in names:
        write(directory / name, "")


def test_task_files_official_names(tmp_path):
    touch(tmp_path, "dev-de.tsv", "train-v1.1.json", "eng.testa", "tatoeba.cmn-eng.cmn", "tatoeba.cmn-eng.eng")
    touch(tmp_path / "pawsx", "test-ja.tsv")
    touch(tmp_path / "mlqa" / "MLQA_V1" / "test", "test-context-de-question-en.json")
    assert task_files("xnli", tmp_path, "dev", "de") == tmp_path / "dev-de.tsv"
    assert task_files("pawsx", tmp_path, "test", "ja") == tmp_path / "pawsx" / "test-ja.tsv"
    assert task_files("mlqa", tmp_path, "test", "de-en").name == "test-context-de-question-en.json"
    assert task_files("squad", tmp_path, "train", "en") == tmp_path / "train-v1.1.json"
    assert task_files("conll", tmp_path, "dev", "en") == tmp_path / "eng.testa"
    assert task_files("tatoeba", tmp_path, "test", "zh") == (
        tmp_path / "tatoeba.cmn-eng.cmn",
        tmp_path / "tatoeba.cmn-eng.eng",
    )


def test_task_files_falls_back_to_other_published_names(tmp_path):
    touch(tmp_path / "XNLI-1.0", "xnli.test.tsv")
    touch(tmp_path / "XNLI-MT-1.0" / "multinli", "multinli.train.fr.tsv")
    touch(tmp_path / "x-final" / "de", "test_2k.tsv", "translated_train.tsv")
    assert task_files("xnli", tmp_path, "test", "de") == tmp_path / "XNLI-1.0" / "xnli.test.tsv"
    assert task_files("xnli", tmp_path, "train", "fr").name == "multinli.train.fr.tsv"
    assert task_files("pawsx", tmp_path, "test", "de") == tmp_path / "x-final" / "de" / "test_2k.tsv"
    assert task_files("pawsx", tmp_path, "train", "de").name == "translated_train.tsv"
    touch(tmp_path / "conll", "deu.testb.xglue")
    assert task_files("conll", tmp_path, "test", "de") == tmp_path / "conll" / "deu.testb.xglue"
    touch(tmp_path / "bucc2018", "fr-en.dev.fr", "fr-en.dev.en", "fr-en.dev.gold")
    assert [path.name for path in task_files("bucc", tmp_path, "dev", "fr")] == [
        "fr-en.dev.fr",
        "fr-en.dev.en",
        "fr-en.dev.gold",
    ]


def test_missing_file_names_the_expected_path_and_what_is_there(tmp_path):
    touch(tmp_path, "dev-en.tsv", "dev-fr.tsv")
    expected = r"dev-de\.tsv or xnli\.dev\.tsv not found \(also looked in xnli/, XNLI-1\.0/, XNLI-MT-1\.0/multinli/\)"
    with pytest.raises(ErnieMError, match=expected + r"; .* holds dev-en\.tsv, dev-fr\.tsv"):
        task_files("xnli", tmp_path, "dev", "de")
    with pytest.raises(ErnieMError, match=r"nowhere does not exist"):
        task_files("xnli", tmp_path / "nowhere", "dev", "de")


@pytest.mark.parametrize(
    ("task", "split", "language", "message"),
    [
        ("udpos", "dev", "en", "unknown data set 'udpos'"),
        ("mlqa", "train", "en", "mlqa has no split 'train'; its splits: dev, test"),
        ("conll", "dev", "fr", "CoNLL NER has no language 'fr'"),
        ("tatoeba", "test", "xx", "Tatoeba .* has no language 'xx'"),
        ("squad", "dev", "de", "SQuAD v1.1 is English only"),
    ],
)
def test_task_files_refuses_unknown_tasks_splits_and_languages(tmp_path, task, split, language, message):
    with pytest.raises(ErnieMError, match=message):
        task_files(task, tmp_path, split, language)


def test_translated_sentences_keep_each_sentence_once_and_aligned(tmp_path):
    """XNLI repeats each premise for its hypotheses: a premise is kept at its first row, and a pair whose
    foreign or English side was taken already is skipped, so every sentence has one right answer."""
    P = SentencePair
    english = [
        P("A man sleeps.", "He is tired.", 0),
        P("A man sleeps.", "He is awake.", 2),
        P("Dogs bark.", "He is tired.", 1),
    ]
    german = [
        P("Ein Mann schläft.", "Er ist müde.", 0),
        P("Ein Mann schläft.", "Er ist wach.", 2),
        P("Hunde bellen.", "Er ist erschöpft.", 1),
    ]
    foreign, original = translated_sentences(german, english, tmp_path / "dev-de.tsv", tmp_path / "dev-en.tsv")
    assert foreign == ["Ein Mann schläft.", "Er ist müde.", "Er ist wach.", "Hunde bellen."]
    assert original == ["A man sleeps.", "He is tired.", "He is awake.", "Dogs bark."]
    with pytest.raises(ErnieMError, match="dev-de.tsv has 2 rows but .*dev-en.tsv has 3"):
        translated_sentences(german[:2], english, tmp_path / "dev-de.tsv", tmp_path / "dev-en.tsv")
