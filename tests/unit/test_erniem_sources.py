"""The ERNIE-M source-checkpoint writers and the numpy reference forward that converter tests rely on."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import sentencepiece as spm
import torch
from erniem_sources import (
    FFN,
    HEADS,
    HIDDEN,
    LAYERS,
    POSITIONS,
    reference_forward,
    write_hf_erniem_checkpoint,
    write_paddle_checkpoint,
    write_tokenizer_files,
)

from ernie_m.convert.pdparams import SPLIT_ARRAYS, STRUCTURED_NAMES, read_pdparams

VOCAB = 50
LINEARS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two right-padded rows and one full row."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, VOCAB - 1, size=(3, 9))
    ids[:, 0] = 0
    mask = np.ones_like(ids)
    for row, length in ((0, 5), (1, 7)):
        ids[row, length - 1] = 2
        ids[row, length:] = 1
        mask[row, length:] = 0
    ids[2, -1] = 2
    return ids, mask


def paddle_name(hf_name: str) -> str:
    return hf_name.replace(".self_attn.self_attn.", ".self_attn.")


@pytest.mark.parametrize("prefix", ["", "ernie_m."])
def test_paddle_and_hf_of_one_seed_are_one_network(prefix, tmp_path):
    paddle = write_paddle_checkpoint(tmp_path / "pd", vocab_size=VOCAB, prefix=prefix, seed=3)
    hf = write_hf_erniem_checkpoint(tmp_path / "hf", vocab_size=VOCAB, prefix=prefix, seed=3)
    assert len(paddle) == len(hf) == 4 + LAYERS * 16 + 2 + (2 if prefix else 0)
    for name, value in hf.items():
        mine = paddle[paddle_name(name)]
        assert mine.dtype == value.dtype == np.float32
        transposed = value.ndim == 2 and "embeddings." not in name
        assert np.array_equal(mine, value.T if transposed else value), name
    ids, mask = batch()
    hidden_pd, pooled_pd = reference_forward("paddle", paddle, ids, mask)
    hidden_hf, pooled_hf = reference_forward("hf-erniem", hf, ids, mask)
    assert hidden_pd.shape == (3, 9, HIDDEN) and pooled_pd.shape == (3, HIDDEN)
    np.testing.assert_allclose(hidden_pd, hidden_hf, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pooled_pd, pooled_hf, rtol=0, atol=1e-12)
    other, _ = reference_forward(
        "hf-erniem", write_hf_erniem_checkpoint(tmp_path / "hf2", vocab_size=VOCAB, seed=4), ids, mask
    )
    assert np.abs(other - hidden_hf).max() > 0.1


def test_real_key_names_and_shapes(tmp_path):
    hf = write_hf_erniem_checkpoint(tmp_path / "hf", vocab_size=VOCAB)
    paddle = write_paddle_checkpoint(tmp_path / "pd", vocab_size=VOCAB, prefix="")
    assert (
        hf["embeddings.word_embeddings.weight"].shape
        == paddle["embeddings.word_embeddings.weight"].shape
        == (VOCAB, HIDDEN)
    )
    assert hf["embeddings.position_embeddings.weight"].shape == (POSITIONS, HIDDEN)
    assert hf["encoder.layers.1.self_attn.self_attn.q_proj.weight"].shape == (HIDDEN, HIDDEN)
    assert hf["encoder.layers.1.self_attn.out_proj.bias"].shape == (HIDDEN,)
    assert (
        hf["encoder.layers.1.linear1.weight"].shape == paddle["encoder.layers.1.linear2.weight"].shape == (FFN, HIDDEN)
    )
    assert paddle["encoder.layers.1.linear1.weight"].shape == (HIDDEN, FFN)  # Paddle: [in, out]
    assert "encoder.layers.0.self_attn.q_proj.weight" in paddle and "pooler.dense.weight" in paddle
    assert not any("token_type" in key or key.startswith("classifier") for key in [*hf, *paddle])


def test_reference_matches_torch_post_ln_transformer_layers(tmp_path):
    """An independent implementation of the same layer: torch's post-LN TransformerEncoderLayer, erf gelu, eps 1e-5."""
    hf = write_hf_erniem_checkpoint(tmp_path / "hf", vocab_size=VOCAB, seed=5)
    ids, mask = batch()
    t = {key: torch.from_numpy(value).double() for key, value in hf.items()}
    x = (
        t["embeddings.word_embeddings.weight"][torch.from_numpy(ids)]
        + t["embeddings.position_embeddings.weight"][2 : 2 + ids.shape[1]]
    )
    x = torch.nn.functional.layer_norm(
        x, (HIDDEN,), t["embeddings.layer_norm.weight"], t["embeddings.layer_norm.bias"], 1e-5
    )
    for n in range(LAYERS):
        p = f"encoder.layers.{n}."
        layer = torch.nn.TransformerEncoderLayer(
            HIDDEN,
            HEADS,
            FFN,
            dropout=0.0,
            activation="gelu",
            layer_norm_eps=1e-5,
            batch_first=True,
            norm_first=False,
            dtype=torch.float64,
        )
        with torch.no_grad():
            attention = [p + f"self_attn.self_attn.{q}_proj" for q in "qkv"]
            layer.self_attn.in_proj_weight.copy_(torch.cat([t[a + ".weight"] for a in attention]))
            layer.self_attn.in_proj_bias.copy_(torch.cat([t[a + ".bias"] for a in attention]))
            for mine, theirs in [
                ("self_attn.out_proj", "self_attn.out_proj"),
                ("linear1", "linear1"),
                ("linear2", "linear2"),
                ("norm1", "norm1"),
                ("norm2", "norm2"),
            ]:
                module = layer.get_submodule(mine)
                module.weight.copy_(t[p + theirs + ".weight"])
                module.bias.copy_(t[p + theirs + ".bias"])
        layer.train()  # dropout is 0; train mode keeps torch off its fused fast path
        x = layer(x, src_key_padding_mask=torch.from_numpy(mask == 0))
    pooled = torch.tanh(x[:, 0] @ t["pooler.dense.weight"].T + t["pooler.dense.bias"])
    hidden, mine = reference_forward("hf-erniem", hf, ids, mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(hidden[real], x.detach().numpy()[real], rtol=0, atol=1e-10)
    np.testing.assert_allclose(mine, pooled.detach().numpy(), rtol=0, atol=1e-10)


def test_padding_tokens_do_not_reach_real_positions(tmp_path):
    state = write_paddle_checkpoint(tmp_path, vocab_size=VOCAB)
    ids, mask = batch()
    hidden, pooled = reference_forward("paddle", state, ids, mask)
    changed = ids.copy()
    changed[mask == 0] = 17
    hidden2, pooled2 = reference_forward("paddle", state, changed, mask)
    real = mask.astype(bool)
    np.testing.assert_array_equal(hidden[real], hidden2[real])
    np.testing.assert_array_equal(pooled, pooled2)
    assert np.abs(hidden[~real] - hidden2[~real]).max() > 1e-3  # the padded positions themselves do change
    unmasked, _ = reference_forward("paddle", state, changed, np.ones_like(mask))
    assert np.abs(unmasked[real] - hidden2[real]).max() > 1e-3  # and the mask is what keeps them out


def test_positions_start_at_two(tmp_path):
    state = write_hf_erniem_checkpoint(tmp_path, vocab_size=VOCAB)
    ids, mask = batch()
    hidden, _ = reference_forward("hf-erniem", state, ids, mask)
    positions = state["embeddings.position_embeddings.weight"]
    unused = dict(
        state, **{"embeddings.position_embeddings.weight": np.concatenate([positions[:2] * 5, positions[2:]])}
    )
    np.testing.assert_array_equal(reference_forward("hf-erniem", unused, ids, mask)[0], hidden)
    used = positions.copy()
    used[2] += np.linspace(-1, 1, HIDDEN, dtype=np.float32)  # not a constant: LayerNorm would remove that
    assert (
        np.abs(
            reference_forward("hf-erniem", dict(state, **{"embeddings.position_embeddings.weight": used}), ids, mask)[0]
            - hidden
        ).max()
        > 1e-3
    )


@pytest.mark.parametrize("layout", ["paddle", "hf-erniem"])
def test_a_missed_transpose_of_one_square_weight_is_visible(layout, tmp_path):
    if layout == "paddle":
        state = write_paddle_checkpoint(tmp_path, vocab_size=VOCAB)
        key = "ernie_m.encoder.layers.1.self_attn.q_proj.weight"
    else:
        state = write_hf_erniem_checkpoint(tmp_path, vocab_size=VOCAB, prefix="ernie_m.")
        key = "ernie_m.encoder.layers.1.self_attn.self_attn.q_proj.weight"
    ids, mask = batch()
    hidden, pooled = reference_forward(layout, state, ids, mask)
    wrong, wrong_pooled = reference_forward(layout, dict(state, **{key: state[key].T}), ids, mask)
    assert np.abs(wrong - hidden).max() > 1e-2 and np.abs(wrong_pooled - pooled).max() > 1e-3
    head = dict(state, **{"classifier.weight": state["classifier.weight"] + 1})
    np.testing.assert_array_equal(reference_forward(layout, head, ids, mask)[0], hidden)


@pytest.mark.parametrize("shuffled", [False, True])
def test_vocab_txt_follows_ernie_m_scheme(shuffled, tmp_path):
    lines = write_tokenizer_files(tmp_path, shuffled=shuffled)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == lines
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "sentencepiece.bpe.model"))
    assert [processor.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert lines[:4] == ["[CLS]", "[PAD]", "[SEP]", "[UNK]"] and lines[-1] == "[MASK]"
    assert len(lines) == processor.get_piece_size() + 2 and len(set(lines)) == len(lines)
    middle = [processor.id_to_piece(i - 1) for i in range(4, len(lines) - 1)]
    assert sorted(lines[4:-1]) == sorted(middle)
    assert (lines[4:-1] == middle) is (not shuffled)
    pieces = processor.encode("Der schnelle braune Fuchs. Le renard brun.", out_type=str)
    assert processor.unk_id() not in processor.encode("Der schnelle braune Fuchs. Le renard brun.")
    assert max(map(len, pieces)) > 3 and all(piece in lines for piece in pieces)  # it learnt words of the built-in text


def test_tokenizer_files_are_deterministic(tmp_path):
    assert write_tokenizer_files(tmp_path / "a", shuffled=True) == write_tokenizer_files(tmp_path / "b", shuffled=True)
    assert (tmp_path / "a/sentencepiece.bpe.model").read_bytes() == (
        tmp_path / "b/sentencepiece.bpe.model"
    ).read_bytes()


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("split", [False, True])
def test_pdparams_read_back_equal(split, protocol, tmp_path):
    state = write_paddle_checkpoint(tmp_path, vocab_size=VOCAB, split=split, protocol=protocol, file_name="x.pdparams")
    read = read_pdparams(tmp_path / "x.pdparams")
    assert sorted(read) == sorted(state) and "classifier.weight" in read
    for key, value in state.items():
        assert read[key].dtype == np.float32 and np.array_equal(read[key], value), key
    with open(tmp_path / "x.pdparams", "rb") as stream:
        raw = pickle.load(stream)
    assert STRUCTURED_NAMES in raw
    word = "ernie_m.embeddings.word_embeddings.weight"
    assert (word not in raw and len(raw[SPLIT_ARRAYS][word]["slices"]) > 1) if split else (SPLIT_ARRAYS not in raw)


def test_paddle_config_is_paddlenlp_style(tmp_path):
    write_paddle_checkpoint(tmp_path / "a", vocab_size=VOCAB)
    config = json.loads((tmp_path / "a/model_config.json").read_text())
    assert config["intermediate_size"] == 3072 and config["init_class"] == "ErnieMModel"
    assert (config["vocab_size"], config["hidden_size"], config["num_attention_heads"]) == (VOCAB, HIDDEN, HEADS)
    write_paddle_checkpoint(tmp_path / "b", vocab_size=VOCAB, config_name=None, prefix="")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["model_state.pdparams"]


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.safetensors"])
def test_hf_weights_and_config_read_back(weights, tmp_path):
    state = write_hf_erniem_checkpoint(tmp_path, vocab_size=VOCAB, weights=weights, prefix="ernie_m.")
    if weights == "pytorch_model.bin":
        loaded = torch.load(tmp_path / weights, weights_only=True)
    else:
        from safetensors.torch import load_file

        loaded = load_file(str(tmp_path / weights))
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        assert np.array_equal(loaded[key].numpy(), value), key
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "ernie_m" and config["intermediate_size"] == FFN and config["layer_norm_eps"] == 1e-5


class _RunsCodeWhenLoaded:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_weights_pickle_with_code_is_refused_without_advising_to_load_it(tmp_path):
    from ernie_m.convert.sources import read_weights
    from ernie_m.errors import ErnieMError

    torch.save({"weight": torch.zeros(2), "payload": _RunsCodeWhenLoaded()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ErnieMError, match="refused: it holds Python objects beside tensors") as refused:
        read_weights(tmp_path / "pytorch_model.bin")
    assert "weights_only=False" not in str(refused.value)
