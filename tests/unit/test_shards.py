"""Shard directories: tokenised in worker processes, identical to `tokenize_corpus`, memory-mapped, atomic."""

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

import ernie_m.data.shards as shards
from ernie_m.data.corpus import TextCorpus
from ernie_m.data.shards import (
    FORMAT_VERSION,
    read_shards,
    shard_fingerprint,
    write_shards,
)
from ernie_m.data.tokenized import TokenizedCorpus, tokenize_corpus
from ernie_m.data.tokenizer import load_tokenizer, train_tokenizer
from ernie_m.errors import ErnieMError

MAX_TOKENS = 8  # shorter than most generated sentences, so that truncation matters
WORDS = {
    "de": "das Haus ist groß und die Straße lang heute Bäume Mädchen Schlüssel".split(),
    "en": "the house is big and street long today trees girl key".split(),
    "fr": "la maison est grande et rue longue déjà arbres fille clé".split(),
    "ru": "дом большой и улица длинная сегодня деревья девочка ключ".split(),
    "sw": "nyumba ni kubwa na barabara ndefu leo miti msichana ufunguo".split(),
}


def sentences(lang: str, count: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choices(WORDS[lang], k=rng.randint(1, 9))) for _ in range(count)]


def make_corpus() -> TextCorpus:
    """Three pair sets and two monolingual languages, with blank sentences (no token) and
    monolingual sentences that also occur in pairs (added to the monolingual set only once)."""
    rng = random.Random(0)
    pairs = {
        (a, b): list(zip(sentences(a, 40, rng), sentences(b, 40, rng), strict=True))
        for a, b in (("de", "en"), ("fr", "en"), ("en", "ru"))
    }
    pairs[("de", "en")][3] = ("  ", "the house")  # dropped: a side without a token
    pairs[("fr", "en")][5] = ("la maison", " ")
    mono = {"sw": sentences("sw", 30, rng) + [" "], "de": sentences("de", 20, rng) + [pairs[("de", "en")][0][0]]}
    return TextCorpus(pairs=pairs, mono=mono)


CORPUS = make_corpus()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    text = [line for lang in WORDS for line in sentences(lang, 200, random.Random(lang))]
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer"
    train_tokenizer(text, path, 80)
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def written(tokenizer_dir, tmp_path_factory) -> Path:
    """Shards of CORPUS by two workers, in chunks small enough that every group spans several of them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shards, "CHUNK", 7)
        return write_shards(CORPUS, tokenizer_dir, tmp_path_factory.mktemp("written") / "shards", MAX_TOKENS, workers=2)


def assert_same(actual: TokenizedCorpus, expected: TokenizedCorpus) -> None:
    assert list(actual.mono) == list(expected.mono) and list(actual.pairs) == list(expected.pairs)
    arrays = [(actual.mono[k], expected.mono[k]) for k in expected.mono]
    arrays += [(actual.pairs[k][side], expected.pairs[k][side]) for k in expected.pairs for side in (0, 1)]
    for got, want in arrays:
        assert got.ids.dtype == want.ids.dtype and got.offsets.dtype == want.offsets.dtype
        assert np.array_equal(got.ids, want.ids) and np.array_equal(got.offsets, want.offsets)


def test_equal_to_tokenize_corpus(written, tokenizer):
    expected = tokenize_corpus(CORPUS, tokenizer, MAX_TOKENS)
    assert_same(read_shards(written), expected)
    # The corpus exercises every rule: truncation, dropped pairs and sentences, deduplicated parallel sides.
    assert max(expected.mono["sw"].lengths()) == MAX_TOKENS
    assert len(expected.pairs[("de", "en")][0]) == 39 and len(expected.mono["sw"]) == 30
    assert 21 < len(expected.mono["de"]) < 21 + 39  # its own 21 sentences, then the pairs' German sides not seen yet


def test_without_mono_from_parallel_in_one_worker_replacing_earlier_shards(written, tokenizer_dir, tokenizer, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(written, out)
    write_shards(CORPUS, tokenizer_dir, out, MAX_TOKENS, mono_from_parallel=False, workers=1)
    assert_same(read_shards(out), tokenize_corpus(CORPUS, tokenizer, MAX_TOKENS, mono_from_parallel=False))
    assert [p.name for p in tmp_path.iterdir()] == ["shards"]  # no staging or old directory left behind


def test_reads_memory_maps_and_records_counts(written, tokenizer_dir):
    corpus = read_shards(written)
    side_de, side_en = corpus.pairs[("de", "en")]
    for arrays in (corpus.mono["sw"], side_de, side_en):
        for array in (arrays.ids, arrays.offsets):
            assert isinstance(array.base, np.memmap) and array.base.mode == "r" and not array.flags.writeable
        assert type(arrays[0]) is np.ndarray
    assert side_en[-1].tolist() == side_en.ids[side_en.offsets[-2] :].tolist()
    manifest = json.loads((written / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["max_tokens"] == MAX_TOKENS
    assert manifest["fingerprint"] == shard_fingerprint(CORPUS, tokenizer_dir, MAX_TOKENS, True)
    assert manifest["pairs"][0]["sides"][1] == {
        "name": "pairs.de-en.en",
        "sequences": len(side_en),
        "tokens": side_en.num_tokens(),
    }


def test_interrupted_write_leaves_no_directory(tokenizer_dir, tmp_path, monkeypatch):
    real_save, saved = np.save, []

    def save_once(file, array):
        if saved:
            raise KeyboardInterrupt
        saved.append(file)
        real_save(file, array)

    monkeypatch.setattr(np, "save", save_once)
    with pytest.raises(KeyboardInterrupt):
        write_shards(CORPUS, tokenizer_dir, tmp_path / "shards", MAX_TOKENS, workers=1)
    assert len(saved) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", [FORMAT_VERSION - 1, FORMAT_VERSION + 1, None])
def test_refuses_other_format_versions(written, tmp_path, version):
    out = shutil.copytree(written, tmp_path / "shards")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = version
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ErnieMError, match=f"{out}: shards of format version {version}.*rebuild"):
        read_shards(out)


def test_refuses_incomplete_or_damaged_directories(written, tmp_path):
    out = shutil.copytree(written, tmp_path / "shards")
    ids = out / "mono.sw.ids.npy"
    ids.write_bytes(ids.read_bytes()[:-4])
    with pytest.raises(ErnieMError, match=f"{out}: mono.sw is damaged.*rebuild"):
        read_shards(out)
    (out / "manifest.json").unlink()
    with pytest.raises(ErnieMError, match=f"{out}: no manifest.json.*rebuild"):
        read_shards(out)


def test_refuses_bad_arguments_before_tokenising(tokenizer_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ErnieMError, match=f"{tmp_path}: exists and is not a shard directory"):
        write_shards(CORPUS, tokenizer_dir, tmp_path, MAX_TOKENS)
    with pytest.raises(ErnieMError, match="max_tokens must be at least 1, got 0"):
        write_shards(CORPUS, tokenizer_dir, tmp_path / "shards", 0)
    with pytest.raises(ErnieMError, match="workers must be at least 1, got 0"):
        write_shards(CORPUS, tokenizer_dir, tmp_path / "shards", MAX_TOKENS, workers=0)
    with pytest.raises(ErnieMError, match=f"{tmp_path / 'missing'}: tokenizer directory does not exist"):
        write_shards(CORPUS, tmp_path / "missing", tmp_path / "shards", MAX_TOKENS)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_fingerprint_changes_with_what_the_shards_depend_on(tokenizer_dir, tmp_path):
    def fingerprint(corpus=CORPUS, tokenizer=tokenizer_dir, max_tokens=MAX_TOKENS, mono_from_parallel=True):
        return shard_fingerprint(corpus, tokenizer, max_tokens, mono_from_parallel)

    reference = fingerprint()
    assert len(reference) == 16 and fingerprint() == reference
    reordered = TextCorpus(pairs=dict(reversed(CORPUS.pairs.items())), mono=dict(reversed(CORPUS.mono.items())))
    assert fingerprint(reordered) == reference  # dict order changes nothing in the shards
    copy = shutil.copytree(tokenizer_dir, tmp_path / "copy")
    (copy / "model.safetensors").write_bytes(b"weights")  # weights beside the tokenizer are not hashed
    assert fingerprint(tokenizer=copy) == reference

    edited = make_corpus()
    edited.mono["sw"][0] += " leo"
    moved = make_corpus()  # the same sentence as the other side of its pair: a different corpus
    moved.pairs[("de", "en")][0] = moved.pairs[("de", "en")][0][::-1]
    renamed = make_corpus()
    renamed.mono["fr"] = renamed.mono.pop("sw")
    (copy / "tokenizer.json").write_text((copy / "tokenizer.json").read_text() + " ")
    changed = [
        fingerprint(edited), fingerprint(moved), fingerprint(renamed), fingerprint(tokenizer=copy),
        fingerprint(max_tokens=MAX_TOKENS + 1), fingerprint(mono_from_parallel=False),
    ]  # fmt: skip
    assert len(set(changed) | {reference}) == len(changed) + 1


def test_a_tokenizer_the_workers_cannot_load_is_an_error_not_a_hang(tmp_path):
    not_a_tokenizer = tmp_path / "tokenizer"
    not_a_tokenizer.mkdir()
    (not_a_tokenizer / "notes.txt").write_text("no tokenizer here")
    with pytest.raises(ErnieMError, match=f"{not_a_tokenizer}: no tokenizer files"):
        write_shards(CORPUS, not_a_tokenizer, tmp_path / "shards", MAX_TOKENS, workers=1)
    assert not (tmp_path / "shards").exists()
