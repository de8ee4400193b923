"""Sentence embeddings: XTREME's pooling, input order kept, padding invisible, any XLM-R directory loads."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel

from ernie_m.config import ModelConfig
from ernie_m.data.tokenizer import train_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate import encode as encode_module
from ernie_m.evaluate.encode import default_layer, encode, encode_dir, load_encoder
from ernie_m.model import new_model, save_pretrained

WORDS = (
    "the a cat dog house tree water sun moon city book table red big small runs sees near under "
    "das Haus Katze Hund Baum Wasser Sonne Mond Stadt Buch Tisch rot groß klein läuft sieht unter "
    "le la maison chat chien arbre eau soleil lune ville livre rouge grand petit court voit sous"
).split()
HIDDEN, LAYERS, TYPES = 32, 2, 4


def make_sentences(count: int, seed: int, longest: int = 12) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, longest))) for _ in range(count)]


def tiny_config(vocab_size: int, attn_implementation: str = "sdpa") -> XLMRobertaConfig:
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=130,
        type_vocab_size=TYPES,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        attn_implementation=attn_implementation,
    )


@pytest.fixture(scope="module")
def xlmr_dir(tmp_path_factory) -> Path:
    """A plain random XLM-R saved with save_pretrained, next to a tokenizer trained here."""
    directory = tmp_path_factory.mktemp("xlmr") / "model"
    tokenizer = train_tokenizer(make_sentences(300, seed=0), directory, vocab_size=80)
    torch.manual_seed(0)
    XLMRobertaModel(tiny_config(len(tokenizer))).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def loaded(xlmr_dir):
    return load_encoder(xlmr_dir, device="cpu")


@pytest.fixture(scope="module")
def ours_dir(tmp_path_factory, xlmr_dir) -> Path:
    """One of our checkpoints: an XLMRobertaForMaskedLM with one token-type row per language."""
    _, tokenizer = load_encoder(xlmr_dir, device="cpu")
    config = ModelConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=4, intermediate_size=64)
    torch.manual_seed(1)
    directory = tmp_path_factory.mktemp("ours") / "model"
    save_pretrained(new_model(config, len(tokenizer), ["de", "en", "fr"], max_length=64), tokenizer, directory)
    return directory


def by_hand(model, tokenizer, sentences: list[str], layer: int, pooling: str, max_length: int = 128) -> np.ndarray:
    """The straightforward way: one padded batch, the full model, `output_hidden_states`."""
    inputs = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states[layer]  # (B, L, H)
    if pooling == "cls":
        return hidden[:, 0].numpy()
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def test_default_layer_scales_xtremes_8_of_12():
    assert [default_layer(n) for n in (1, 2, 3, 4, 6, 12, 24)] == [1, 1, 2, 3, 4, 8, 16]
    with pytest.raises(ErnieMError):
        default_layer(0)


def test_shape_and_dtype(loaded):
    model, tokenizer = loaded
    vectors = encode(make_sentences(10, seed=1), model, tokenizer)
    assert vectors.shape == (10, HIDDEN) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert encode([], model, tokenizer).shape == (0, HIDDEN)


@pytest.mark.parametrize("fetch_every", [2, 32])  # 5 batches: fetched in three groups, or in one
def test_rows_follow_input_order_despite_length_sorting(loaded, monkeypatch, fetch_every):
    monkeypatch.setattr(encode_module, "FETCH_EVERY", fetch_every)
    model, tokenizer = loaded
    sentences = make_sentences(40, seed=2)
    vectors = encode(sentences, model, tokenizer, batch_size=8)
    permutation = np.random.default_rng(0).permutation(len(sentences))
    shuffled = encode([sentences[i] for i in permutation], model, tokenizer, batch_size=8)
    np.testing.assert_allclose(shuffled, vectors[permutation], atol=1e-5)
    one_by_one = np.concatenate([encode([s], model, tokenizer) for s in sentences[:8]])
    np.testing.assert_allclose(vectors[:8], one_by_one, atol=1e-5)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_changes_nothing(loaded, implementation, pooling):
    _, tokenizer = loaded
    torch.manual_seed(0)
    model = XLMRobertaModel(tiny_config(len(tokenizer), implementation)).eval()
    short, long = "the cat", " ".join(make_sentences(1, seed=3, longest=1)[0] for _ in range(60))
    alone = encode([short], model, tokenizer, pooling=pooling)
    together = encode([short, long], model, tokenizer, pooling=pooling, batch_size=2)
    assert len(tokenizer(long)["input_ids"]) > 10 * len(tokenizer(short)["input_ids"])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_equals_hand_computation(loaded, layer, pooling):
    model, tokenizer = loaded
    sentences = make_sentences(12, seed=4)
    expected = by_hand(model, tokenizer, sentences, layer, pooling)
    np.testing.assert_allclose(
        encode(sentences, model, tokenizer, layer=layer, pooling=pooling, batch_size=5), expected, atol=1e-5
    )
    assert len(model.encoder.layer) == LAYERS  # the truncated layer list was put back


def test_default_layer_and_truncation(loaded):
    model, tokenizer = loaded
    sentences = [" ".join(make_sentences(1, seed=5)[0] for _ in range(30))]
    expected = by_hand(model, tokenizer, sentences, default_layer(LAYERS), "mean", max_length=16)
    np.testing.assert_allclose(encode(sentences, model, tokenizer, max_length=16), expected, atol=1e-5)


def test_language_id_reaches_our_model(ours_dir):
    model, tokenizer = load_encoder(ours_dir, device="cpu")
    assert model.config.type_vocab_size == 4
    sentences = make_sentences(6, seed=6)
    plain = encode(sentences, model, tokenizer)
    german = encode(sentences, model, tokenizer, language_id=1)
    assert not np.allclose(plain, german, atol=1e-4)
    np.testing.assert_allclose(encode(sentences, model, tokenizer, language_id=0), plain, atol=1e-6)
    with pytest.raises(ErnieMError, match="language_id 4"):
        encode(sentences, model, tokenizer, language_id=4)


def test_encode_dir(xlmr_dir, loaded):
    model, tokenizer = loaded
    sentences = make_sentences(5, seed=7)
    np.testing.assert_allclose(
        encode_dir(xlmr_dir, sentences, device="cpu", pooling="cls"), encode(sentences, model, tokenizer, pooling="cls")
    )


def test_missing_directory(tmp_path):
    with pytest.raises(ErnieMError, match="does not exist"):
        load_encoder(tmp_path / "nowhere")


def test_directory_without_tokenizer(tmp_path, loaded):
    model, _ = loaded
    model.save_pretrained(tmp_path)
    with pytest.raises(ErnieMError, match="no tokenizer"):
        load_encoder(tmp_path)


def test_directory_without_model(tmp_path, xlmr_dir):
    for name in ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model"):
        if (xlmr_dir / name).exists():
            shutil.copy(xlmr_dir / name, tmp_path / name)
    with pytest.raises(ErnieMError, match="no config.json"):
        load_encoder(tmp_path)
    shutil.copy(xlmr_dir / "config.json", tmp_path / "config.json")  # a config but no weights
    with pytest.raises(ErnieMError, match="cannot load the model"):
        load_encoder(tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [({"num_hidden_layers": LAYERS + 1}, "lacks 16 encoder weights"), ({"intermediate_size": 48}, "shapes differ")],
)
def test_weights_that_do_not_fit_the_config(tmp_path, xlmr_dir, change, message):
    """A config.json that promises more layers (one would stay random) or other shapes: refused."""
    shutil.copytree(xlmr_dir, tmp_path / "model")
    config = XLMRobertaConfig.from_pretrained(xlmr_dir)
    for key, value in change.items():
        setattr(config, key, value)
    config.save_pretrained(tmp_path / "model")
    with pytest.raises(ErnieMError, match=message):
        load_encoder(tmp_path / "model")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layer": 3}, "layer 3"),
        ({"layer": -1}, "layer -1"),
        ({"pooling": "max"}, "pooling"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options(loaded, options, message):
    model, tokenizer = loaded
    with pytest.raises(ErnieMError, match=message):
        encode(["the cat"], model, tokenizer, **options)


def test_bad_sentences(loaded):
    model, tokenizer = loaded
    with pytest.raises(ErnieMError, match="not one string"):
        encode("the cat", model, tokenizer)
    with pytest.raises(ErnieMError, match="sentence 1"):
        encode(["the cat", None], model, tokenizer)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_agrees_with_cpu_fp32(xlmr_dir, loaded):
    model, tokenizer = loaded
    sentences = make_sentences(50, seed=8)
    on_cpu = encode(sentences, model, tokenizer, batch_size=16)
    cuda_model, _ = load_encoder(xlmr_dir, device="cuda")
    on_cuda = encode(sentences, cuda_model, tokenizer, batch_size=16)  # bf16 autocast
    cosine = (on_cpu * on_cuda).sum(1) / np.linalg.norm(on_cpu, axis=1) / np.linalg.norm(on_cuda, axis=1)
    assert on_cuda.dtype == np.float32 and cosine.min() > 0.99
