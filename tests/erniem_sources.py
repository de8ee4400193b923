"""Tiny ERNIE-M source checkpoints and a plain-numpy reference forward, for testing the converter.

Writers: the two released ERNIE-M source layouts at a tiny size (HIDDEN/HEADS/LAYERS/POSITIONS below), with random
weights under the real key names and shapes, plus ERNIE-M's tokenizer files:
- PaddleNLP (`paddlenlp/transformers/ernie_m/modeling.py`, paddlenlp 2.6): `ErnieMModel` = `ErnieMEmbeddings` +
  `paddle.nn.TransformerEncoder(TransformerEncoderLayer(H, heads, dim_feedforward=4*H, normalize_before=False))`
  + `ErnieMPooler`, saved by `paddle.save` as a pickled dict name -> numpy array; `paddle.nn.Linear` weights are
  stored [in_features, out_features] (y = x @ W + b).
- transformers 4.x ErnieM (`transformers/models/deprecated/ernie_m/modeling_ernie_m.py`): the same network ported
  to torch, weights [out_features, in_features] (y = x @ W.T + b), q/k/v under `self_attn.self_attn.`.
- Tokenizer (both): `sentencepiece.bpe.model` segments, ids come from `vocab.txt` lines
  ([CLS], [PAD], [SEP], [UNK], the pieces from spm id 3 on, [MASK] last).

Reference: `reference_forward` is written from that published architecture, not from any converter: ids -> word
embedding + position embedding at index + 2 (no token-type table) -> LayerNorm; per layer post-LN
x = LN1(x + out_proj(MHA(x))), x = LN2(x + linear2(gelu_erf(linear1(x)))), heads splitting H contiguously, scores
/ sqrt(head_dim) with padding keys pushed to -1e9; LayerNorm eps 1e-5; pooled = tanh(pooler.dense(h[:, 0])).
Everything in float64.

Both checkpoint writers draw the same numbers for the same seed (torch layout, transposed for Paddle), so a Paddle
and an HF checkpoint of one seed describe the same network.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path

import numpy as np

HIDDEN, HEADS, LAYERS, POSITIONS = 32, 4, 2, 66
FFN = 4 * HIDDEN
NUM_LABELS = 3
PREFIX = "ernie_m."
SPM_MODEL_NAME = "sentencepiece.bpe.model"
VOCAB_NAME = "vocab.txt"
SPECIAL_TOKENS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
MASK_TOKEN = "[MASK]"
LAYOUTS = ("paddle", "hf-erniem")

# Paddle's bookkeeping entries in a paddle.save'd state dict (see paddle/framework/io.py).
STRUCTURED_NAMES = "StructuredToParameterName@@"
SPLIT_ARRAYS = "UnpackBigParamInfor@@"

TEXT = """\
The quick brown fox jumps over the lazy dog.
A small house stands at the end of the long street.
We opened the window because the room was too warm.
My sister reads a book every evening before she sleeps.
The children played in the garden until it started to rain.
Tomorrow we will travel to the mountains with our friends.
He forgot his keys at the office again this morning.
The museum opens at nine and closes at six in the evening.
Please send me the report before the meeting on Friday.
Trees along the river turn yellow and red in autumn.
She bought fresh bread, cheese and apples at the market.
The train to Berlin was late by twenty minutes.
Our teacher explained the problem very clearly.
Many people like to walk in the park on Sunday.
The old bridge was repaired last summer.
Der schnelle braune Fuchs springt über den faulen Hund.
Ein kleines Haus steht am Ende der langen Straße.
Wir haben das Fenster geöffnet, weil es im Zimmer zu warm war.
Meine Schwester liest jeden Abend ein Buch, bevor sie schläft.
Die Kinder spielten im Garten, bis es anfing zu regnen.
Morgen fahren wir mit unseren Freunden in die Berge.
Er hat heute Morgen wieder seine Schlüssel im Büro vergessen.
Das Museum öffnet um neun Uhr und schließt um sechs Uhr abends.
Bitte schicken Sie mir den Bericht vor der Sitzung am Freitag.
Die Bäume am Fluss werden im Herbst gelb und rot.
Sie kaufte frisches Brot, Käse und Äpfel auf dem Markt.
Der Zug nach Berlin hatte zwanzig Minuten Verspätung.
Unser Lehrer hat die Aufgabe sehr deutlich erklärt.
Viele Menschen gehen am Sonntag gern im Park spazieren.
Die alte Brücke wurde letzten Sommer repariert.
Le renard brun rapide saute par-dessus le chien paresseux.
Une petite maison se trouve au bout de la longue rue.
Nous avons ouvert la fenêtre parce que la chambre était trop chaude.
Ma sœur lit un livre chaque soir avant de dormir.
Les enfants ont joué dans le jardin jusqu'à ce qu'il commence à pleuvoir.
Demain, nous partirons à la montagne avec nos amis.
Il a encore oublié ses clés au bureau ce matin.
Le musée ouvre à neuf heures et ferme à six heures du soir.
Veuillez m'envoyer le rapport avant la réunion de vendredi.
Les arbres le long de la rivière deviennent jaunes et rouges en automne.
Elle a acheté du pain frais, du fromage et des pommes au marché.
Le train pour Berlin avait vingt minutes de retard.
Notre professeur a expliqué le problème très clairement.
Beaucoup de gens aiment se promener dans le parc le dimanche.
Le vieux pont a été réparé l'été dernier.
In 2023, 1,024 users wrote 3.5 million e-mails (about 42%).
Am 14. Juli 2022 kostete das Ticket 12,50 Euro.
Le 3 mars, il faisait 18 degrés à Paris.
"""


# ---------------------------------------------------------------------------------------------------------------------
# Tokenizer files


def write_tokenizer_files(directory: Path, *, shuffled: bool = False) -> list[str]:
    """Train a tiny deterministic unigram SentencePiece model and write it with an ERNIE-M vocab.txt.

    vocab.txt lines: [CLS], [PAD], [SEP], [UNK], then the spm pieces from spm id 3 on (spm 0/1/2 are
    unk/bos/eos), then [MASK]; so unshuffled, line i == spm piece i - 1 for 4 <= i < len - 1. With shuffled=True
    the piece lines are permuted with a fixed seed (specials and [MASK] stay put). Returns the vocab.txt lines.
    """
    import sentencepiece as spm

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXT.splitlines()),
        model_writer=model,
        model_type="unigram",
        vocab_size=300,
        hard_vocab_limit=False,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        seed_sentencepiece_size=10000,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    (directory / SPM_MODEL_NAME).write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [processor.id_to_piece(i) for i in range(3, processor.get_piece_size())]
    if shuffled:
        order = np.random.default_rng(1234).permutation(len(pieces))
        pieces = [pieces[i] for i in order]
    lines = SPECIAL_TOKENS + pieces + [MASK_TOKEN]
    (directory / VOCAB_NAME).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# Random weights, one draw per seed, named as in HF ErnieM (torch layout, [out, in])


def _torch_layout_weights(vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """Unprefixed HF ErnieM names -> float32 arrays in torch layout; plus `classifier.*` (a task head)."""
    rng = np.random.default_rng(seed)

    def normal(*shape, std=0.2):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def layer_norm(name):
        state[f"{name}.weight"] = (1.0 + normal(HIDDEN, std=0.1)).astype(np.float32)
        state[f"{name}.bias"] = normal(HIDDEN, std=0.1)

    def linear(name, out_features, in_features):
        state[f"{name}.weight"] = normal(out_features, in_features)
        state[f"{name}.bias"] = normal(out_features, std=0.1)

    state: dict[str, np.ndarray] = {}
    state["embeddings.word_embeddings.weight"] = normal(vocab_size, HIDDEN, std=0.5)
    state["embeddings.position_embeddings.weight"] = normal(POSITIONS, HIDDEN, std=0.5)
    layer_norm("embeddings.layer_norm")
    for n in range(LAYERS):
        layer = f"encoder.layers.{n}"
        for proj in ("q_proj", "k_proj", "v_proj"):
            linear(f"{layer}.self_attn.self_attn.{proj}", HIDDEN, HIDDEN)
        linear(f"{layer}.self_attn.out_proj", HIDDEN, HIDDEN)
        layer_norm(f"{layer}.norm1")
        linear(f"{layer}.linear1", FFN, HIDDEN)
        linear(f"{layer}.linear2", HIDDEN, FFN)
        layer_norm(f"{layer}.norm2")
    linear("pooler.dense", HIDDEN, HIDDEN)
    linear("classifier", NUM_LABELS, HIDDEN)
    return state


def _hf_to_paddle_name(name: str) -> str:
    return name.replace(".self_attn.self_attn.", ".self_attn.")


def _is_head(name: str) -> bool:
    return name.startswith(("classifier.", "qa_outputs.", "linear_start.", "linear_end."))


def _structured_parameter_names(names: list[str]) -> dict[str, str]:
    """A plausible `StructuredToParameterName@@` table: structured name -> Paddle's generated name (linear_3.w_0)."""
    table, modules = {}, {}
    for name in names:
        module, _, kind = name.rpartition(".")
        family = "layer_norm" if "norm" in module else ("embedding" if "embeddings." in module else "linear")
        index = modules.setdefault(module, (family, sum(1 for f, _ in modules.values() if f == family)))[1]
        table[name] = f"{family}_{index}.{'w_0' if kind == 'weight' else 'b_0'}"
    return table


# ---------------------------------------------------------------------------------------------------------------------
# Paddle


def write_paddle_checkpoint(
    directory: Path,
    *,
    vocab_size: int,
    prefix: str = PREFIX,
    config_name: str | None = "model_config.json",
    file_name: str = "model_state.pdparams",
    split: bool = False,
    seed: int = 0,
    protocol: int = 2,
) -> dict[str, np.ndarray]:
    """A PaddleNLP ErnieM state dict (Linear weights [in, out]) pickled as paddle.save does; returns it joined.

    prefix "ernie_m." also writes a `classifier.*` head (unprefixed, as a task model saves it). split=True cuts the
    word embedding into flat slices listed under `UnpackBigParamInfor@@`, as paddle.save does for big arrays.
    A `StructuredToParameterName@@` table is always written (paddle.save of a Layer's state_dict writes one).
    """
    if prefix not in ("", PREFIX):
        raise ValueError(f"prefix must be '' or {PREFIX!r}, not {prefix!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state: dict[str, np.ndarray] = {}
    for name, value in _torch_layout_weights(vocab_size, seed).items():
        if _is_head(name):
            if not prefix:
                continue
            key = name
        else:
            key = prefix + _hf_to_paddle_name(name)
        if value.ndim == 2 and not name.startswith("embeddings."):
            value = np.ascontiguousarray(value.T)  # paddle.nn.Linear: [in_features, out_features]
        state[key] = value

    saved: dict[str, object] = {}
    split_info: dict[str, dict] = {}
    word = prefix + "embeddings.word_embeddings.weight"
    for key, value in state.items():
        if split and key == word:
            flat = value.ravel()
            chunk = max(1, math.ceil(flat.size / 3))  # paddle's chunk is (2**30 - 1) // itemsize elements
            split_info[key] = {"OriginShape": value.shape, "slices": []}
            for i in range(math.ceil(flat.size / chunk)):
                part = f"{key}@@.{i}"
                split_info[key]["slices"].append(part)
                saved[part] = flat[i * chunk : (i + 1) * chunk].copy()
        else:
            saved[key] = value
    saved[STRUCTURED_NAMES] = _structured_parameter_names(list(state))
    if split_info:
        saved[SPLIT_ARRAYS] = split_info
    with open(directory / file_name, "wb") as stream:
        pickle.dump(saved, stream, protocol=protocol)

    if config_name is not None:
        config = {
            "vocab_size": vocab_size,
            "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "hidden_act": "gelu",
            "max_position_embeddings": POSITIONS,
            "intermediate_size": 3072,  # deliberately wrong: PaddleNLP's ErnieM ignores it (FFN = 4 * hidden)
            "type_vocab_size": 16,
            "pad_token_id": 1,
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "init_class": "ErnieMModel",
        }
        (directory / config_name).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {key: value.copy() for key, value in state.items()}


# ---------------------------------------------------------------------------------------------------------------------
# transformers 4.x ErnieM


def write_hf_erniem_checkpoint(
    directory: Path, *, vocab_size: int, prefix: str = "", weights: str = "pytorch_model.bin", seed: int = 0
) -> dict[str, np.ndarray]:
    """A transformers 4.x ErnieM checkpoint (config.json + torch-layout weights); returns the weights as numpy.

    prefix "ernie_m." is what a task model saves: it also gets a `classifier.*` head and architectures
    ["ErnieMForSequenceClassification"] with NUM_LABELS labels; prefix "" is a bare ["ErnieMModel"].
    """
    if prefix not in ("", PREFIX):
        raise ValueError(f"prefix must be '' or {PREFIX!r}, not {prefix!r}")
    if weights not in ("pytorch_model.bin", "model.safetensors"):
        raise ValueError(f"weights must be pytorch_model.bin or model.safetensors, not {weights!r}")
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, value in _torch_layout_weights(vocab_size, seed).items():
        if _is_head(name):
            if prefix:
                state[name] = value
        else:
            state[prefix + name] = value
    tensors = {key: torch.from_numpy(value.copy()) for key, value in state.items()}
    if weights == "pytorch_model.bin":
        torch.save(tensors, directory / weights)
    else:
        from safetensors.torch import save_file

        save_file(tensors, str(directory / weights), metadata={"format": "pt"})

    config = {
        "architectures": ["ErnieMForSequenceClassification" if prefix else "ErnieMModel"],
        "model_type": "ernie_m",
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": FFN,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "act_dropout": 0.0,
        "max_position_embeddings": POSITIONS,
        "layer_norm_eps": 1e-5,
        "initializer_range": 0.02,
        "pad_token_id": 1,
        "classifier_dropout": None,
        "torch_dtype": "float32",
        "transformers_version": "4.30.0",
    }
    if prefix:
        config["id2label"] = {str(i): f"LABEL_{i}" for i in range(NUM_LABELS)}
        config["label2id"] = {f"LABEL_{i}": i for i in range(NUM_LABELS)}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {key: value.copy() for key, value in state.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Reference forward


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GELU: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch and Paddle
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _source_weights(layout: str, state: dict[str, np.ndarray]):
    """Strip the `ernie_m.` prefix and return a getter for (W [in, out], b) of a Linear and for plain arrays."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if any(key.startswith(PREFIX + "embeddings.") for key in state):
        state = {key[len(PREFIX) :]: value for key, value in state.items() if key.startswith(PREFIX)}
    state = {key: np.asarray(value, dtype=np.float64) for key, value in state.items()}

    def array(name: str) -> np.ndarray:
        return state[name]

    def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
        weight = state[f"{name}.weight"]
        # Paddle stores [in, out] (y = x @ W + b); torch stores [out, in] (y = x @ W.T + b).
        return (weight if layout == "paddle" else weight.T), state[f"{name}.bias"]

    layers = sorted({int(key.split(".")[2]) for key in state if key.startswith("encoder.layers.")})
    if layers != list(range(len(layers))) or not layers:
        raise ValueError(f"encoder layers are not 0..n-1: {layers}")
    attention = "self_attn." if layout == "paddle" else "self_attn.self_attn."
    return array, linear, len(layers), attention


def reference_forward(
    layout: str,
    state: dict[str, np.ndarray],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    *,
    heads: int = HEADS,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """ERNIE-M's encoder in float64 on a SOURCE state dict ("paddle" or "hf-erniem", prefixed or not).

    input_ids, attention_mask: (B, L), mask 1 = token, 0 = padding. Returns (last hidden (B, L, H), pooled (B, H)).
    """
    array, linear, num_layers, attention = _source_weights(layout, state)
    input_ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask, dtype=np.float64)
    if input_ids.ndim != 2 or mask.shape != input_ids.shape:
        raise ValueError(f"input_ids {input_ids.shape} and attention_mask {mask.shape} must be the same (B, L)")
    batch, length = input_ids.shape

    def dense(x, name):
        weight, bias = linear(name)
        return x @ weight + bias

    # Embeddings: word + position (ERNIE-M: positions are index + 2 in every row, whatever the padding); no token type.
    positions = np.arange(length) + 2
    x = (
        array("embeddings.word_embeddings.weight")[input_ids]
        + array("embeddings.position_embeddings.weight")[positions][None]
    )
    x = layer_norm(x, array("embeddings.layer_norm.weight"), array("embeddings.layer_norm.bias"), eps)

    hidden = x.shape[-1]
    if hidden % heads:
        raise ValueError(f"hidden size {hidden} is not a multiple of {heads} heads")
    head_dim = hidden // heads
    key_bias = ((1.0 - mask) * -1e9)[:, None, None, :]  # (B, 1, 1, L): padding keys get a large negative score

    def split_heads(t):  # (B, L, H) -> (B, heads, L, head_dim), heads taking contiguous slices of H
        return t.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

    for n in range(num_layers):
        layer = f"encoder.layers.{n}"
        q = split_heads(dense(x, f"{layer}.{attention}q_proj"))
        k = split_heads(dense(x, f"{layer}.{attention}k_proj"))
        v = split_heads(dense(x, f"{layer}.{attention}v_proj"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + key_bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attended = dense(context, f"{layer}.self_attn.out_proj")
        x = layer_norm(x + attended, array(f"{layer}.norm1.weight"), array(f"{layer}.norm1.bias"), eps)
        ffn = dense(gelu_erf(dense(x, f"{layer}.linear1")), f"{layer}.linear2")
        x = layer_norm(x + ffn, array(f"{layer}.norm2.weight"), array(f"{layer}.norm2.bias"), eps)

    pooled = np.tanh(dense(x[:, 0], "pooler.dense"))
    return x, pooled
