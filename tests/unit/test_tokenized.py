"""Flat token arrays and tokenising a whole corpus."""

import numpy as np
import pytest

import ernie_m.data.tokenized as tokenized
from ernie_m.data.corpus import TextCorpus
from ernie_m.data.tokenized import TokenArrays, TokenizedCorpus, tokenize_corpus
from ernie_m.data.tokenizer import train_tokenizer
from ernie_m.errors import ErnieMError


class WordLengthTokenizer:
    """A stand-in tokenizer: one token per word, its id the word's length; records its batch sizes."""

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, texts, add_special_tokens=True, verbose=True):
        assert add_special_tokens is False
        self.batch_sizes.append(len(texts))
        return {"input_ids": [[len(word) for word in text.split()] for text in texts]}


def ids(arrays: TokenArrays) -> list[list[int]]:
    return [arrays[i].tolist() for i in range(len(arrays))]


def test_token_arrays_from_lists():
    arrays = TokenArrays.from_lists([[5, 6, 7], [], [8], [9, 10]])
    assert arrays.ids.dtype == np.int32 and arrays.offsets.dtype == np.int64
    assert arrays.ids.tolist() == [5, 6, 7, 8, 9, 10]
    assert arrays.offsets.tolist() == [0, 3, 3, 4, 6]
    assert len(arrays) == 4 and arrays.num_tokens() == 6
    assert arrays[0].tolist() == [5, 6, 7] and arrays[1].tolist() == [] and arrays[np.int64(3)].tolist() == [9, 10]
    assert arrays[-1].tolist() == [9, 10] and arrays[-4].tolist() == [5, 6, 7]
    assert [seq.tolist() for seq in arrays] == [[5, 6, 7], [], [8], [9, 10]]
    for bad in (4, -5):
        with pytest.raises(IndexError):
            arrays[bad]


def test_token_arrays_empty_and_inconsistent():
    empty = TokenArrays.from_lists([])
    assert len(empty) == 0 and empty.num_tokens() == 0
    with pytest.raises(ValueError, match="offsets"):
        TokenArrays(np.arange(5), np.array([0, 2, 4]))


def test_truncates_and_drops_sentences_without_tokens():
    corpus = TextCorpus(
        pairs={("de", "en"): [("a bb ccc dddd", "w x"), ("   ", "nothing here"), ("e", "\u3000")]},
        mono={"de": ["a bb ccc dddd eeeee", "  ", "ff g"]},
    )
    result = tokenize_corpus(corpus, WordLengthTokenizer(), max_tokens=3, mono_from_parallel=False)
    assert ids(result.mono["de"]) == [[1, 2, 3], [2, 1]]
    side_de, side_en = result.pairs[("de", "en")]
    assert ids(side_de) == [[1, 2, 3]] and ids(side_en) == [[1, 1]]


def test_mono_from_parallel_adds_each_unseen_sentence_once_in_order():
    corpus = TextCorpus(
        pairs={
            ("fr", "en"): [("ccc", "the same"), ("dd", "other one")],
            ("de", "en"): [("a bb", "the same"), ("eeeee", "x")],
        },
        mono={"de": ["eeeee", "ffffff"]},
    )
    result = tokenize_corpus(corpus, WordLengthTokenizer(), max_tokens=8)
    assert ids(result.mono["de"]) == [[5], [6], [1, 2]]  # mono first; "eeeee" already there
    assert ids(result.mono["en"]) == [[3, 4], [1], [5, 3]]  # (de, en) before (fr, en); "the same" once
    assert ids(result.mono["fr"]) == [[3], [2]]
    assert result.languages() == result.parallel_languages() == ["de", "en", "fr"]
    without = tokenize_corpus(corpus, WordLengthTokenizer(), max_tokens=8, mono_from_parallel=False)
    assert list(without.mono) == ["de"] and ids(without.mono["de"]) == [[5], [6]]
    assert ids(without.pairs[("de", "en")][1]) == ids(result.pairs[("de", "en")][1]) == [[3, 4], [1]]


def test_batches_are_bounded(monkeypatch):
    monkeypatch.setattr(tokenized, "TOKENIZE_BATCH", 2)
    tokenizer = WordLengthTokenizer()
    corpus = TextCorpus(pairs={}, mono={"de": ["a", "bb", "ccc", "dddd", "eeeee"]})
    result = tokenize_corpus(corpus, tokenizer, max_tokens=4)
    assert tokenizer.batch_sizes == [2, 2, 1]
    assert ids(result.mono["de"]) == [[1], [2], [3], [4], [5]]


def test_one_progress_bar_counts_every_sentence(capsys):
    corpus = TextCorpus(pairs={("de", "en"): [("a b", "c")] * 3}, mono={"sw": ["habari yako"]})
    tokenize_corpus(corpus, WordLengthTokenizer(), max_tokens=4, progress=True)
    err = capsys.readouterr().err
    assert "7/7" in err and err.count("tokenize:") >= 1


def test_errors():
    empty = TextCorpus(pairs={("de", "en"): [("   ", "x")]}, mono={"fr": ["  "]})
    with pytest.raises(ErnieMError, match="tokenized corpus is empty"):
        tokenize_corpus(empty, WordLengthTokenizer(), max_tokens=4)
    with pytest.raises(ErnieMError, match="max_tokens must be at least 1, got 0"):
        tokenize_corpus(TextCorpus(pairs={}, mono={"de": ["a"]}), WordLengthTokenizer(), max_tokens=0)


def test_with_a_trained_tokenizer(tmp_path):
    lines = [f"Das Haus Nummer {i} ist groß und die Straße ist lang." for i in range(200)]
    lines += [f"La maison numéro {i} est grande et la rue est longue." for i in range(200)]
    tokenizer = train_tokenizer(lines, tmp_path / "tokenizer", 60)
    corpus = TextCorpus(pairs={("de", "fr"): [(lines[0], lines[200])]}, mono={"de": lines[1:3]})
    result = tokenize_corpus(corpus, tokenizer, max_tokens=6)
    assert isinstance(result, TokenizedCorpus)
    expected = [tokenizer(text, add_special_tokens=False)["input_ids"][:6] for text in lines[1:3] + lines[:1]]
    assert ids(result.mono["de"]) == expected
    assert all(len(seq) == 6 and 0 not in seq and 2 not in seq for seq in expected)  # truncated, no <s> or </s>
