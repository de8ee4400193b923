"""ERNIE-M's encoder weights mapped onto transformers' XLM-R: the two compute the same function.

ERNIE-M is XLM-R's architecture under other names: post-LayerNorm layers, erf GELU, absolute
positions counted from 2, a tanh pooler over the first token. What differs, and what is done:

    names      ERNIE-M                                   -> XLM-R (under `roberta.`)
               embeddings.layer_norm                     -> embeddings.LayerNorm
               encoder.layers.N.self_attn[.self_attn].q_proj / k_proj / v_proj
                                                         -> encoder.layer.N.attention.self.query / key / value
               encoder.layers.N.self_attn.out_proj       -> encoder.layer.N.attention.output.dense
               encoder.layers.N.norm1                    -> encoder.layer.N.attention.output.LayerNorm
               encoder.layers.N.linear1                  -> encoder.layer.N.intermediate.dense
               encoder.layers.N.linear2 / norm2          -> encoder.layer.N.output.dense / output.LayerNorm
               pooler.dense                              -> pooler.dense
    layout     Paddle's Linear stores (in, out): every Linear weight is transposed, by name (the
               square ones would pass a shape check untransposed)
    token type ERNIE-M has no token-type input: XLM-R's one-row table is zeros (adds nothing)
    positions  ERNIE-M adds 2 to 0-based positions; XLM-R's ids start at 2 for right-padded input:
               the table is copied row for row
    LayerNorm  eps 1e-5 (ERNIE-M's; XLM-R's config would default to 1e-12)
    sizes      read from the weights (PaddleNLP's FFN is 4 x hidden whatever its config says);
               heads from the config, else hidden / 64 (ERNIE-M base and large)

Checkpoints are `XLMRobertaForMaskedLM` (what `--init-from` and our pre-training read). The
released ERNIE-M has no MLM head, so the head starts from a seeded initialisation. The pooler,
which `XLMRobertaForMaskedLM` has no place for, is kept in the same weights file: `AutoModel`
(an `XLMRobertaModel`) loads it and gives ERNIE-M's pooled output.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ernie_m.convert.sources import Source
from ernie_m.errors import ErnieMError

PREFIX = "ernie_m."  # task models (and UIE-M) nest the encoder under it
ENCODER_PARTS = ("embeddings.", "encoder.", "pooler.")
EMBEDDINGS = {
    "embeddings.word_embeddings": "embeddings.word_embeddings",
    "embeddings.position_embeddings": "embeddings.position_embeddings",
    "embeddings.layer_norm": "embeddings.LayerNorm",
}
# hf-erniem name in layer N -> XLM-R name in layer N; Paddle spells the first three `self_attn.q_proj`, ...
LAYER = {
    "self_attn.self_attn.q_proj": "attention.self.query",
    "self_attn.self_attn.k_proj": "attention.self.key",
    "self_attn.self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "linear1": "intermediate.dense",
    "linear2": "output.dense",
    "norm2": "output.LayerNorm",
}
LINEAR = {
    "self_attn.self_attn.q_proj",
    "self_attn.self_attn.k_proj",
    "self_attn.self_attn.v_proj",
    "self_attn.out_proj",
    "linear1",
    "linear2",
}
POOLER = "pooler.dense"
HEAD_DIM = 64
LAYER_NORM_EPS = 1e-5
LAYER_KEY = re.compile(r"encoder\.layers\.(\d+)\.")


def encoder_weights(source: Source) -> tuple[dict[str, np.ndarray], list[str]]:
    """The encoder's weights under hf-erniem names (torch layout, no prefix), and the names of the
    entries left out (task heads; the pooler is optional, as in token-classification and QA models).

    Errors list what was expected and what was found."""
    weights, left_out = _without_prefix(source)
    _check_naming(weights, source)
    if source.layout == "paddle":
        weights = {_hf_name(name): value for name, value in weights.items()}
    _check(weights, _expected_shapes(weights, source), source)
    if source.layout == "paddle":
        weights = {name: _from_paddle(name, value) for name, value in weights.items()}
    return weights, left_out


def xlmr_config_values(weights: dict[str, np.ndarray], source: Source) -> dict:
    """XLMRobertaConfig arguments for the encoder `weights` describe (sizes from shapes)."""
    vocab_size, hidden = weights["embeddings.word_embeddings.weight"].shape
    heads = source.config.get("num_attention_heads") or _default_heads(hidden, source)
    if hidden % heads:
        raise ErnieMError(
            f"{source.weights_path}: hidden size {hidden} is not a multiple of num_attention_heads {heads}"
        )
    position = source.config.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise ErnieMError(
            f"{source.weights_path}: position_embedding_type {position!r}; only ERNIE-M's absolute positions convert"
        )
    return dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=_layer_count(weights),
        num_attention_heads=heads,
        intermediate_size=weights["encoder.layers.0.linear1.weight"].shape[0],
        hidden_act=source.config.get("hidden_act", "gelu"),
        hidden_dropout_prob=source.config.get("hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=source.config.get("attention_probs_dropout_prob", 0.1),
        max_position_embeddings=weights["embeddings.position_embeddings.weight"].shape[0],
        initializer_range=source.config.get("initializer_range", 0.02),
        layer_norm_eps=source.config.get("layer_norm_eps", LAYER_NORM_EPS),
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def xlmr_state(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """XLMRobertaModel's state dict (`roberta.` prefix, pooler included, no MLM head)."""
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    state = {"roberta.embeddings.token_type_embeddings.weight": torch.zeros(1, hidden)}
    for name, value in weights.items():
        state[f"roberta.{_xlmr_name(name)}"] = torch.from_numpy(np.ascontiguousarray(value))
    return state


def _without_prefix(source: Source) -> tuple[dict[str, np.ndarray], list[str]]:
    """Encoder entries, `ernie_m.` removed when the file nests the encoder under it, and the names of
    the entries left out (task heads)."""
    prefix = PREFIX if any(name.startswith(PREFIX + "embeddings.") for name in source.weights) else ""
    encoder, left_out = {}, []
    for name, value in source.weights.items():
        inner = name.removeprefix(prefix) if name.startswith(prefix) else None
        if inner is not None and inner.startswith(ENCODER_PARTS):
            encoder[inner] = value
        else:
            left_out.append(name)
    if "embeddings.word_embeddings.weight" not in encoder:
        raise ErnieMError(
            f"{source.weights_path}: not an ERNIE-M checkpoint in the {source.layout} layout: {_layout_hint(source)}"
        )
    return encoder, sorted(left_out)


def _check_naming(weights: dict, source: Source) -> None:
    """q/k/v named the other layout's way: the file comes from the other framework, its weights laid out its way."""
    hf_named = any(".self_attn.self_attn.q_proj." in name for name in weights)
    paddle_named = not hf_named and any(".self_attn.q_proj." in name for name in weights)
    if source.layout == "paddle" and hf_named or source.layout == "hf-erniem" and paddle_named:
        other = "hf-erniem" if hf_named else "paddle"
        raise ErnieMError(f"{source.weights_path}: q/k/v are named as in the {other} layout: use --from {other}")


def _layout_hint(source: Source) -> str:
    names = sorted(source.weights)
    if "word_embedding" in names:
        return (
            "this is the static-graph release of PaddlePaddle/ERNIE (word_embedding, encoder_layer_N_...); "
            "load it in PaddleNLP's ErnieMModel and save_pretrained it first"
        )
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        "expected keys such as embeddings.word_embeddings.weight, encoder.layers.0.self_attn.out_proj.weight "
        f"(optionally under {PREFIX}); found {len(names)} keys: {shown}"
    )


def _hf_name(paddle_name: str) -> str:
    return re.sub(r"\.self_attn\.([qkv]_proj)\.", r".self_attn.self_attn.\1.", paddle_name)


def _layer_part(name: str) -> str:
    """'encoder.layers.3.linear1.weight' -> 'linear1'."""
    return LAYER_KEY.sub("", name).rsplit(".", 1)[0]


def _from_paddle(name: str, value: np.ndarray) -> np.ndarray:
    is_linear = (LAYER_KEY.match(name) and _layer_part(name) in LINEAR) or name.startswith(POOLER)
    return value.T if is_linear and name.endswith(".weight") else value


def _layer_count(weights: dict) -> int:
    return len({match[1] for name in weights if (match := LAYER_KEY.match(name))})


def _default_heads(hidden: int, source: Source) -> int:
    if hidden % HEAD_DIM:
        raise ErnieMError(
            f"{source.weights_path}: no num_attention_heads in a config and hidden size {hidden} is not a multiple of "
            f"{HEAD_DIM}: add the checkpoint's config file"
        )
    return hidden // HEAD_DIM


def _expected_shapes(weights: dict[str, np.ndarray], source: Source) -> dict[str, tuple]:
    """Every encoder weight the source layout must have, with its shape in the file (sizes from the embeddings and
    layer 0)."""
    vocab_size, hidden = weights["embeddings.word_embeddings.weight"].shape
    positions = weights.get("embeddings.position_embeddings.weight", np.empty((0, hidden))).shape[0]
    linear1 = weights.get("encoder.layers.0.linear1.weight")
    if linear1 is None:
        raise ErnieMError(f"{source.weights_path}: no encoder.layers.0.linear1.weight: not an ERNIE-M encoder")
    paddle = source.layout == "paddle"
    ffn = linear1.shape[1] if paddle else linear1.shape[0]
    matrix = (
        {"linear1": (hidden, ffn), "linear2": (ffn, hidden)}
        if paddle
        else {"linear1": (ffn, hidden), "linear2": (hidden, ffn)}
    )
    bias = {"linear1": (ffn,)}
    expected = {
        "embeddings.word_embeddings.weight": (vocab_size, hidden),
        "embeddings.position_embeddings.weight": (positions, hidden),
        "embeddings.layer_norm.weight": (hidden,),
        "embeddings.layer_norm.bias": (hidden,),
    }
    if any(name.startswith(POOLER) for name in weights):  # built without one: ErnieM's token classification and QA
        expected.update({f"{POOLER}.weight": (hidden, hidden), f"{POOLER}.bias": (hidden,)})
    for layer in range(max(_layer_count(weights), 1)):
        for part in LAYER:
            expected[f"encoder.layers.{layer}.{part}.weight"] = matrix.get(
                part, (hidden, hidden) if part in LINEAR else (hidden,)
            )
            expected[f"encoder.layers.{layer}.{part}.bias"] = bias.get(part, (hidden,))
    return expected


def _check(weights: dict[str, np.ndarray], expected: dict[str, tuple], source: Source) -> None:
    """Missing, unexpected and misshapen weights (shapes as in the file), all listed in one error, named as the file
    names them."""
    shown = _paddle_name if source.layout == "paddle" else str
    problems = []
    missing = [shown(name) for name in expected if name not in weights]
    unexpected = [shown(name) for name in weights if name not in expected]
    misshapen = [
        f"{shown(name)} {weights[name].shape} (expected {shape})"
        for name, shape in expected.items()
        if name in weights and weights[name].shape != shape
    ]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
        if items:
            problems.append(f"{label}: {', '.join(items[:6])}{f' and {len(items) - 6} more' if len(items) > 6 else ''}")
    if problems:
        raise ErnieMError(
            f"{source.weights_path}: does not match the ERNIE-M {source.layout} layout; " + "; ".join(problems)
        )


def _paddle_name(hf_name: str) -> str:
    return hf_name.replace(".self_attn.self_attn.", ".self_attn.")


def _xlmr_name(name: str) -> str:
    module, kind = name.rsplit(".", 1)
    if module in EMBEDDINGS:
        return f"{EMBEDDINGS[module]}.{kind}"
    if module == POOLER:
        return name
    layer = LAYER_KEY.match(name)[1]
    return f"encoder.layer.{layer}.{LAYER[_layer_part(name)]}.{kind}"
