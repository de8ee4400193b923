"""`ernie-m convert`: tiny checkpoints in each released layout, converted, against a reference forward of the source."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import sentencepiece as spm
import torch
from erniem_sources import (
    HEADS,
    HIDDEN,
    reference_forward,
    write_hf_erniem_checkpoint,
    write_paddle_checkpoint,
    write_tokenizer_files,
)
from transformers import AutoModel, AutoTokenizer

from ernie_m.convert.checkpoint import convert_checkpoint
from ernie_m.errors import ErnieMError
from ernie_m.model import check_model_directory, load_model
from ernie_m.objectives.batch import Attention

# The last one needs SentencePiece's normaliser (full-width letters, a ligature, a no-break space).
TEXTS = [
    "The house is red and the cat sleeps.",
    "Das Haus ist rot.",
    "La maison est rouge et le chat dort dans la maison.",
    "Ｔｈｅ ﬁne\u00a0house  is red.",
]


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    return folder, write_tokenizer_files(folder, shuffled=True)


def source_dir(tmp_path, tokenizer_files):
    folder, vocab = tokenizer_files
    src = tmp_path / "src"
    src.mkdir()
    for name in ("sentencepiece.bpe.model", "vocab.txt"):
        shutil.copy(folder / name, src / name)
    return src, len(vocab)


def batch(tokenizer):
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert (encoded.attention_mask == 0).any()  # the batch has padding, which must not change real positions
    return encoded


def assert_converted_matches(layout, state, out):
    """AutoModel on the converted directory gives the reference's hidden states and pooled output."""
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModel.from_pretrained(out).eval()
    encoded = batch(tokenizer)
    with torch.no_grad():
        output = model(**encoded)
    hidden, pooled = reference_forward(
        layout, state, encoded.input_ids.numpy(), encoded.attention_mask.numpy(), heads=HEADS
    )
    real = encoded.attention_mask.numpy().astype(bool)
    np.testing.assert_allclose(output.last_hidden_state.numpy()[real], hidden[real], atol=2e-5)
    np.testing.assert_allclose(output.pooler_output.numpy(), pooled, atol=2e-5)


@pytest.mark.parametrize(
    "prefix,config_name,split,protocol",
    [
        ("ernie_m.", "model_config.json", False, 2),
        ("", "config.json", True, 4),
    ],
)
def test_paddle_checkpoint_converts_to_the_same_function(
    prefix, config_name, split, protocol, tmp_path, tokenizer_files
):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_paddle_checkpoint(
        src, vocab_size=vocab_size, prefix=prefix, config_name=config_name, split=split, protocol=protocol
    )
    out = convert_checkpoint("paddle", src, tmp_path / "out")
    assert_converted_matches("paddle", state, out)
    config = json.loads((out / "config.json").read_text())
    assert config["intermediate_size"] == 4 * HIDDEN  # from the weights, not from the config's 3072
    assert config["layer_norm_eps"] == 1e-5 and config["model_type"] == "xlm-roberta"


@pytest.mark.parametrize("prefix,weights", [("", "pytorch_model.bin"), ("ernie_m.", "model.safetensors")])
def test_hf_erniem_checkpoint_converts_to_the_same_function(prefix, weights, tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_hf_erniem_checkpoint(src, vocab_size=vocab_size, prefix=prefix, weights=weights)
    out = convert_checkpoint("hf-erniem", src, tmp_path / "out")
    assert_converted_matches("hf-erniem", state, out)


def test_pdparams_file_as_src_and_repeatable_output(tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_paddle_checkpoint(src, vocab_size=vocab_size, file_name="ernie_m_base.pdparams")
    first = convert_checkpoint("paddle", src / "ernie_m_base.pdparams", tmp_path / "a")
    second = convert_checkpoint("paddle", src, tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    card = (first / "README.md").read_text()
    assert card.startswith("---\n") and "ernie_m_base.pdparams" in card and "classifier.weight" in card


def test_tokenizer_follows_vocab_txt_not_sentencepiece_ids(tmp_path, tokenizer_files):
    """vocab.txt is shuffled against the SentencePiece ids: the ids must still be vocab.txt's lines."""
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_paddle_checkpoint(src, vocab_size=vocab_size)
    tokenizer = AutoTokenizer.from_pretrained(convert_checkpoint("paddle", src, tmp_path / "out"))
    vocab = (src / "vocab.txt").read_text(encoding="utf-8").splitlines()
    pieces = spm.SentencePieceProcessor(model_file=str(src / "sentencepiece.bpe.model"))
    for text in TEXTS:
        expected = [vocab.index(piece) for piece in pieces.encode(text, out_type=str)]
        assert tokenizer(text).input_ids == [0, *expected, 2]
    assert tokenizer("a", "b").input_ids[-4:-2] == [2, 2]  # [CLS] A [SEP] [SEP] B [SEP]
    assert (tokenizer.mask_token, tokenizer.mask_token_id, len(tokenizer)) == ("[MASK]", vocab_size - 1, vocab_size)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]


def test_converted_model_loads_for_pretraining_with_language_rows(tmp_path, tokenizer_files):
    """--init-from reads a converted ERNIE-M: language rows start as the zero token-type row, so outputs are
    ERNIE-M's."""
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_hf_erniem_checkpoint(src, vocab_size=vocab_size)
    out = convert_checkpoint("hf-erniem", src, tmp_path / "out")
    model = load_model(out, ["de", "fr"]).eval()
    encoded = batch(AutoTokenizer.from_pretrained(out))
    mask = encoded.attention_mask.bool()
    attention = Attention(
        torch.where(mask, 0, -1), torch.zeros_like(mask, dtype=torch.long), torch.ones(1, 1, dtype=torch.bool)
    )
    positions = (torch.arange(mask.shape[1]) + 2).expand_as(mask)
    with torch.no_grad():
        hidden = model.hidden_states(
            encoded.input_ids, positions, torch.full_like(mask, model.language_id("fr"), dtype=torch.long), attention
        )
    expected, _ = reference_forward("hf-erniem", state, encoded.input_ids.numpy(), mask.numpy())
    np.testing.assert_allclose(hidden.numpy()[mask.numpy()], expected[mask.numpy()], atol=2e-5)


def test_unconverted_checkpoints_are_named_with_the_command_that_converts_them(tmp_path, tokenizer_files):
    paddle, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_paddle_checkpoint(paddle, vocab_size=vocab_size)
    hf = tmp_path / "hf"
    write_hf_erniem_checkpoint(hf, vocab_size=vocab_size)
    with pytest.raises(ErnieMError, match="--from paddle"):
        check_model_directory(paddle)
    with pytest.raises(ErnieMError, match="--from hf-erniem"):
        check_model_directory(hf)


def broken(tmp_path, tokenizer_files, edit, **options):
    """A Paddle checkpoint whose state dict `edit` changes, converted: the error, with nothing written."""
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_paddle_checkpoint(src, vocab_size=options.pop("vocab_size", vocab_size), prefix="", **options)
    edit(state)
    with open(src / "model_state.pdparams", "wb") as stream:
        pickle.dump(state, stream, protocol=4)
    with pytest.raises(ErnieMError) as error:
        convert_checkpoint("paddle", src, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    return str(error.value)


def test_missing_unexpected_and_misshapen_weights_are_listed(tmp_path, tokenizer_files):
    def edit(state):
        del state["encoder.layers.1.norm2.weight"]
        state["encoder.layers.0.linear2.weight"] = state["encoder.layers.0.linear2.weight"][:, :-1]
        state["encoder.norm.weight"] = np.ones(HIDDEN, np.float32)

    message = broken(tmp_path, tokenizer_files, edit)
    assert "missing: encoder.layers.1.norm2.weight" in message
    assert "unexpected: encoder.norm.weight" in message
    assert (
        f"wrong shape: encoder.layers.0.linear2.weight ({4 * HIDDEN}, {HIDDEN - 1}) (expected ({4 * HIDDEN}, {HIDDEN}))"
        in message
    )


def test_unknown_layout_lists_what_was_expected_and_found(tmp_path, tokenizer_files):
    def edit(state):
        for name in list(state):
            state[name.replace("embeddings.word_embeddings", "word_embedding")] = state.pop(name)

    message = broken(tmp_path, tokenizer_files, edit)
    assert "expected keys such as embeddings.word_embeddings.weight" in message and "found" in message
    shutil.rmtree(tmp_path / "src")
    message = broken(
        tmp_path,
        tokenizer_files,
        lambda state: state.update(word_embedding=state.pop("embeddings.word_embeddings.weight")),
    )
    assert "static-graph release" in message


def test_vocabulary_of_another_size_is_refused(tmp_path, tokenizer_files):
    _, vocab = tokenizer_files
    message = broken(tmp_path, tokenizer_files, lambda state: None, vocab_size=len(vocab) + 5)
    assert f"{len(vocab)} tokens" in message and f"{len(vocab) + 5} rows" in message


def test_heads_without_a_config_need_the_config_file(tmp_path, tokenizer_files):
    message = broken(tmp_path, tokenizer_files, lambda state: None, config_name=None)
    assert "num_attention_heads" in message and "config" in message


@pytest.mark.parametrize(
    "layout,make,expected",
    [
        ("hf-erniem", lambda src, n: write_paddle_checkpoint(src, vocab_size=n), "use --from paddle"),
        ("paddle", lambda src, n: write_hf_erniem_checkpoint(src, vocab_size=n), "use --from hf-erniem"),
    ],
)
def test_wrong_from_says_which_layout_it_is(layout, make, expected, tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    make(src, vocab_size)
    with pytest.raises(ErnieMError, match=expected):
        convert_checkpoint(layout, src, tmp_path / "out")


def test_tokenizer_files_that_do_not_belong_together_are_refused(tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_paddle_checkpoint(src, vocab_size=vocab_size)
    lines = (src / "vocab.txt").read_text(encoding="utf-8").splitlines()
    lines[10] = "▁notapiece"
    (src / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ErnieMError, match="1 of .* not pieces of sentencepiece.bpe.model"):
        convert_checkpoint("paddle", src, tmp_path / "out")
    (src / "vocab.txt").write_bytes(b"[CLS]\n[PAD]\n[SEP]\n[UNK]\n\xff\n")
    with pytest.raises(ErnieMError, match="vocab.txt:5: not UTF-8"):
        convert_checkpoint("paddle", src, tmp_path / "out")


def to_bfloat16_bits(array: np.ndarray) -> np.ndarray:
    """What PaddlePaddle pickles for a bfloat16 tensor: the top 16 bits of each float32, as uint16."""
    return (torch.from_numpy(array).to(torch.bfloat16).view(torch.int16).numpy()).view(np.uint16)


def test_bfloat16_pdparams_are_decoded_and_integer_weights_refused(tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_paddle_checkpoint(src, vocab_size=vocab_size, prefix="")
    bits = {name: to_bfloat16_bits(value) for name, value in state.items()}
    with open(src / "model_state.pdparams", "wb") as stream:
        pickle.dump(bits, stream, protocol=4)
    out = convert_checkpoint("paddle", src, tmp_path / "out")
    rounded = {name: torch.from_numpy(value).to(torch.bfloat16).float().numpy() for name, value in state.items()}
    assert_converted_matches("paddle", rounded, out)

    bits["encoder.layers.0.norm1.bias"] = np.zeros(HIDDEN, dtype=np.int32)
    with open(src / "model_state.pdparams", "wb") as stream:
        pickle.dump(bits, stream, protocol=4)
    with pytest.raises(ErnieMError, match="'encoder.layers.0.norm1.bias' holds int32 values"):
        convert_checkpoint("paddle", src, tmp_path / "again")


def test_paddlenlp_folders_sharded_or_in_safetensors_convert(tmp_path, tokenizer_files):
    """PaddleNLP 2.5+: config.json with model_type ernie_m, weights in shards with an index, or in safetensors."""
    import safetensors.numpy

    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_paddle_checkpoint(src, vocab_size=vocab_size, prefix="", config_name="config.json")
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "model_type": "ernie_m"}))
    (src / "model_state.pdparams").unlink()
    names = sorted(state)
    halves = {"model_state-00001-of-00002.pdparams": names[::2], "model_state-00002-of-00002.pdparams": names[1::2]}
    for file_name, part in halves.items():
        with open(src / file_name, "wb") as stream:
            pickle.dump({name: state[name] for name in part}, stream, protocol=4)
    weight_map = {name: file_name for file_name, part in halves.items() for name in part}
    (src / "model_state.pdparams.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ErnieMError, match="--from paddle"):
        check_model_directory(src)
    assert_converted_matches("paddle", state, convert_checkpoint("paddle", src, tmp_path / "sharded"))

    for path in src.glob("model_state*"):
        path.unlink()
    safetensors.numpy.save_file(state, src / "model.safetensors")
    assert_converted_matches("paddle", state, convert_checkpoint("paddle", src, tmp_path / "safe"))
    with pytest.raises(ErnieMError, match="named as in the paddle layout: use --from paddle"):
        convert_checkpoint("hf-erniem", src, tmp_path / "wrong")


def test_hf_erniem_without_pooler_converts(tmp_path, tokenizer_files):
    """ErnieM's token-classification and QA models are built without a pooler."""
    import safetensors.torch as st

    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    state = write_hf_erniem_checkpoint(src, vocab_size=vocab_size, weights="model.safetensors")
    kept = {name: torch.from_numpy(value) for name, value in state.items() if not name.startswith("pooler.")}
    st.save_file(kept, src / "model.safetensors")
    out = convert_checkpoint("hf-erniem", src, tmp_path / "out")
    model = AutoModel.from_pretrained(out).eval()
    encoded = batch(AutoTokenizer.from_pretrained(out))
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state.numpy()
    expected, _ = reference_forward("hf-erniem", state, encoded.input_ids.numpy(), encoded.attention_mask.numpy())
    real = encoded.attention_mask.numpy().astype(bool)
    np.testing.assert_allclose(hidden[real], expected[real], atol=2e-5)
    assert "no pooler" in (out / "README.md").read_text()


def test_out_never_replaces_the_source_or_a_folder_it_did_not_write(tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_hf_erniem_checkpoint(src, vocab_size=vocab_size)
    before = sorted(p.name for p in src.iterdir())
    with pytest.raises(ErnieMError, match="holds the checkpoint being converted"):
        convert_checkpoint("hf-erniem", src, src)
    with pytest.raises(ErnieMError, match="holds the checkpoint being converted"):
        convert_checkpoint("hf-erniem", src, tmp_path)
    assert sorted(p.name for p in src.iterdir()) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ErnieMError, match="not an earlier ernie-m conversion"):
        convert_checkpoint("hf-erniem", src, other)
    assert sorted(p.name for p in other.iterdir()) == ["config.json"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ErnieMError, match="is a file"):
        convert_checkpoint("hf-erniem", src, tmp_path / "file")
    earlier = convert_checkpoint("hf-erniem", src, tmp_path / "out")
    assert convert_checkpoint("hf-erniem", src, earlier) == earlier  # an earlier conversion is replaced


def test_a_failure_while_writing_leaves_nothing(tmp_path, tokenizer_files, monkeypatch):
    import ernie_m.convert.checkpoint as checkpoint

    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_hf_erniem_checkpoint(src, vocab_size=vocab_size)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "converted_card", fail)
    with pytest.raises(KeyboardInterrupt):
        convert_checkpoint("hf-erniem", src, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_conversion_does_not_depend_on_the_callers_random_state(tmp_path, tokenizer_files):
    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_hf_erniem_checkpoint(src, vocab_size=vocab_size)
    torch.manual_seed(1)
    first = convert_checkpoint("hf-erniem", src, tmp_path / "a")
    torch.manual_seed(2)
    second = convert_checkpoint("hf-erniem", src, tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


def test_heads_default_to_64_dimensions_each():
    from ernie_m.convert.erniem import xlmr_config_values
    from ernie_m.convert.sources import Source

    weights = {
        "embeddings.word_embeddings.weight": np.zeros((10, 128)),
        "embeddings.position_embeddings.weight": np.zeros((8, 128)),
        "encoder.layers.0.linear1.weight": np.zeros((512, 128)),
    }
    source = Source("hf-erniem", None, weights, {}, None, None)
    assert xlmr_config_values(weights, source)["num_attention_heads"] == 2
    assert (
        xlmr_config_values(weights, Source("hf-erniem", None, weights, {"num_attention_heads": 4}, None, None))[
            "num_attention_heads"
        ]
        == 4
    )


def test_evaluate_names_an_unconverted_checkpoint(tmp_path, tokenizer_files):
    from ernie_m.evaluate.encode import load_encoder
    from ernie_m.evaluate.tasks import EvalSettings, run_task

    src, vocab_size = source_dir(tmp_path, tokenizer_files)
    write_hf_erniem_checkpoint(src, vocab_size=vocab_size)
    with pytest.raises(ErnieMError, match="ernie-m convert --from hf-erniem"):
        load_encoder(src)
    with pytest.raises(ErnieMError, match="ernie-m convert --from hf-erniem"):
        run_task(EvalSettings(task="xnli", model_dir=src, data_dir=tmp_path / "no-data"))


def test_load_model_takes_an_encoder_alone_but_not_a_partial_encoder(tmp_path):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=20,
    )
    XLMRobertaModel(config).save_pretrained(tmp_path / "encoder")
    model = load_model(tmp_path / "encoder", ["de"])  # the MLM head starts from a random initialisation
    assert model.languages == ["de"]
    XLMRobertaModel(config.__class__(**{**config.to_dict(), "num_hidden_layers": 1})).save_pretrained(
        tmp_path / "short"
    )
    (tmp_path / "short" / "config.json").write_text((tmp_path / "encoder" / "config.json").read_text())
    with pytest.raises(ErnieMError, match="lacks .* encoder weights, e.g. roberta.encoder.layer.1"):
        load_model(tmp_path / "short", ["de"])
    (tmp_path / "short" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ErnieMError, match="model_type 'bert'; expected 'xlm-roberta'"):
        load_model(tmp_path / "short", ["de"])
