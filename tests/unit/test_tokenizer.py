"""Training the SentencePiece tokenizer and its XLM-R id layout in transformers."""

import random
import re
from pathlib import Path

import pytest
import sentencepiece as spm
from transformers import AutoTokenizer

from ernie_m.data.tokenizer import (
    SPM_MODEL_NAME,
    load_tokenizer,
    sample_sentences,
    train_tokenizer,
)
from ernie_m.errors import ErnieMError

VOCAB_SIZE = 300
WORDS = {
    "de": "Hallo Welt der die das Haus Straße groß klein schön über Bäume fährt Mädchen heute Öffnen Schlüssel".split(),
    "fr": "le la les maison rue grand petit été où déjà ça française élève garçon forêt".split(),
    "ru": "дом улица большой маленький красивый сегодня ключ открыть девочка лес".split(),
    "el": "σπίτι δρόμος μεγάλος μικρός όμορφος σήμερα κλειδί ανοίγω".split(),
    "zh": "我们 今天 打开 文件 房子 街道 很大 很小 漂亮 钥匙".split(),
    # NFKC-relevant characters: full-width letters, ligatures, a no-break space; both tokenizers must normalise alike.
    "mixed": ["Ｆｕｌｌ", "ﬁnal", "2²", "x\u00a0y", "Rock'n'Roll", "(test)", "e-mail", "3.14"],
}


def make_lines(count: int, seed: int) -> list[str]:
    """Random sentences, each in one language of WORDS."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        words = WORDS[rng.choice(sorted(WORDS))]
        separator = "" if words is WORDS["zh"] else " "
        lines.append(separator.join(rng.choices(words, k=rng.randint(3, 10))))
    return lines


def expected_hf_ids(processor: spm.SentencePieceProcessor, text: str) -> list[int]:
    """XLM-R layout: SentencePiece unk (0) becomes <unk> (3); every other piece moves up by one."""
    return [3 if i == processor.unk_id() else i + 1 for i in processor.encode(text)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, object]:
    out_dir = tmp_path_factory.mktemp("run") / "tokenizer"
    return out_dir, train_tokenizer(make_lines(600, seed=1), out_dir, VOCAB_SIZE)


def test_vocabulary_size_and_special_ids(trained):
    _, tokenizer = trained
    assert len(tokenizer) == VOCAB_SIZE
    assert tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert (tokenizer.unk_token_id, tokenizer.mask_token_id) == (3, VOCAB_SIZE - 1)


def test_ids_are_sentencepiece_ids_plus_one(trained):
    out_dir, tokenizer = trained
    processor = spm.SentencePieceProcessor(model_file=str(out_dir / SPM_MODEL_NAME))
    assert processor.get_piece_size() == VOCAB_SIZE - 2
    lines = make_lines(300, seed=2) + ["  leading and   inner spaces ", "☃ unseen ☃ snowman"]
    hf_ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    assert hf_ids == [expected_hf_ids(processor, line) for line in lines]
    assert 3 in hf_ids[-1]  # the unseen character maps to <unk>
    assert max(max(ids) for ids in hf_ids) < VOCAB_SIZE - 1  # text never produces <mask>


def test_round_trip_with_special_tokens(trained):
    _, tokenizer = trained
    ids = tokenizer("Hallo Welt")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and len(ids) > 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Hallo Welt"


def test_saved_directory_loads_offline_with_auto_tokenizer(trained):
    out_dir, tokenizer = trained
    assert (out_dir / SPM_MODEL_NAME).is_file() and (out_dir / "tokenizer_config.json").is_file()
    assert [p.name for p in out_dir.parent.iterdir()] == ["tokenizer"]  # no staging directory left behind
    lines = make_lines(50, seed=3)
    for reloaded in (load_tokenizer(out_dir), AutoTokenizer.from_pretrained(out_dir)):
        assert len(reloaded) == VOCAB_SIZE
        assert reloaded(lines)["input_ids"] == tokenizer(lines)["input_ids"]


def test_too_small_sample_says_to_lower_vocab_size(tmp_path):
    out_dir, lines = tmp_path / "tokenizer", make_lines(50, seed=4)
    too_large = r"tokenizer: vocab_size 5000 is too large .* 50 training sentences"
    with pytest.raises(ErnieMError, match=too_large) as caught:
        train_tokenizer(lines, out_dir, 5000)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a half-written staging directory
    most = int(re.search(r"lower vocab_size to at most (\d+)", str(caught.value))[1])
    assert len(train_tokenizer(lines, out_dir, most)) == most  # the advertised limit is right


def test_no_sentences(tmp_path):
    with pytest.raises(ErnieMError, match=r"no sentences to train the tokenizer on"):
        train_tokenizer(["", "   "], tmp_path / "tokenizer", 100)


def test_retraining_replaces_a_tokenizer_but_not_other_directories(tmp_path):
    out_dir = tmp_path / "tokenizer"
    train_tokenizer(make_lines(300, seed=5), out_dir, 200)
    assert len(train_tokenizer(make_lines(300, seed=5), out_dir, 250)) == 250
    assert len(load_tokenizer(out_dir)) == 250
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ErnieMError, match=r"precious: exists and is not a tokenizer directory"):
        train_tokenizer(make_lines(300, seed=5), precious, 200)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "tokenizer"]


def test_sample_sentences_is_seeded_ordered_and_drops_blanks():
    lines = [f"line {i}" for i in range(1000)] + ["", "  ", "two\nlines"]
    sample = sample_sentences(lines, 100, seed=7)
    assert len(sample) == 100 and len(set(sample)) == 100
    assert sample == sample_sentences(lines, 100, seed=7)
    assert sample != sample_sentences(lines, 100, seed=8)
    assert sample == sorted(sample, key=lambda line: int(line.split()[1]))  # input order is kept
    assert sample_sentences(lines, 5000, seed=7) == lines[:1000]


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(ErnieMError, match=r"missing: tokenizer directory does not exist"):
        load_tokenizer(tmp_path / "missing")
    with pytest.raises(ErnieMError, match=rf"{tmp_path.name}: no tokenizer files \(expected tokenizer\.json"):
        load_tokenizer(tmp_path)
