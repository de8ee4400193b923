"""`ernie-m convert`: a released ERNIE-M checkpoint -> a Hugging Face XLM-R model directory.

    OUT/config.json, model.safetensors     XLMRobertaForMaskedLM (+ ERNIE-M's pooler, for AutoModel)
    OUT/tokenizer.json, tokenizer_config.json
    OUT/README.md                           model card: source, sizes, what was converted

The directory appears complete or not at all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import safetensors.torch
import torch
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

from ernie_m.card import converted_card
from ernie_m.convert.erniem import encoder_weights, xlmr_config_values, xlmr_state
from ernie_m.convert.sources import read_source
from ernie_m.convert.vocab import erniem_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.files import staged_directory
from ernie_m.model import quiet_transformers

log = logging.getLogger(__name__)
HEAD_SEED = 0  # the MLM head ERNIE-M was released without: a seeded initialisation, so conversions repeat exactly
WEIGHTS = "model.safetensors"


def convert_checkpoint(layout: str, src: Path, out: Path) -> Path:
    """Convert the `layout` checkpoint at `src` into the model directory `out`; return `out`."""
    out = _check_out(Path(src).resolve(), Path(out).resolve())
    source = read_source(layout, src)
    weights, ignored = encoder_weights(source)
    tokenizer = erniem_tokenizer(source.sentencepiece_file, source.vocab_file)
    config = XLMRobertaConfig(
        **xlmr_config_values(weights, source),
        ernie_m_languages=[],
        ernie_m_converted_from={"layout": layout, "file": source.weights_path.name},
    )
    if len(tokenizer) != config.vocab_size:
        raise ErnieMError(
            f"{source.vocab_file}: {len(tokenizer)} tokens, but the word embeddings of {source.weights_path.name} "
            f"have {config.vocab_size} rows: the vocabulary belongs to another checkpoint"
        )
    tokenizer.model_max_length = config.max_position_embeddings - 2
    mlm, pooler = _xlmr_model(config, weights)
    if ignored:
        log.info("convert: left out %d weights outside the encoder (%s)", len(ignored), ", ".join(ignored))
    with staged_directory(out) as partial:
        with quiet_transformers():
            mlm.save_pretrained(partial)
        if pooler:
            _add_to_weights(partial / WEIGHTS, pooler)
        tokenizer.save_pretrained(partial)
        card = converted_card(out.name, layout, source.weights_path.name, config, ignored, has_pooler=bool(pooler))
        (partial / "README.md").write_text(card, encoding="utf-8")
    return out


def _check_out(src: Path, out: Path) -> Path:
    """OUT may be new, empty, or an earlier conversion (replaced); never the source or a folder holding it."""
    if out.is_file():
        raise ErnieMError(f"{out}: is a file; --out takes a directory")
    if out == src or out in src.parents:
        raise ErnieMError(f"{out}: holds the checkpoint being converted; choose another --out")
    if out.is_dir() and any(out.iterdir()) and "ernie_m_converted_from" not in _config_of(out):
        raise ErnieMError(f"{out}: exists and is not an earlier ernie-m conversion; not overwriting it")
    return out


def _config_of(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _xlmr_model(config: XLMRobertaConfig, weights: dict) -> tuple[XLMRobertaForMaskedLM, dict[str, torch.Tensor]]:
    """The masked-LM model holding the converted encoder, and the pooler weights it has no place for."""
    state = xlmr_state(weights)
    pooler = {name: state.pop(name) for name in list(state) if name.startswith("roberta.pooler.")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HEAD_SEED)
        mlm = XLMRobertaForMaskedLM(config)
    missing, unexpected = mlm.load_state_dict(state, strict=False)
    left = [name for name in missing if not name.startswith("lm_head.")]
    if left or unexpected:  # the mapping's own invariant: every encoder weight placed, nothing else
        raise AssertionError(f"conversion left {left} unset and {unexpected} unplaced")
    return mlm.eval(), pooler


def _add_to_weights(path: Path, extra: dict[str, torch.Tensor]) -> None:
    """Write `extra` tensors into the safetensors file that save_pretrained wrote (keeping its permissions)."""
    mode = path.stat().st_mode
    tensors = safetensors.torch.load_file(path)
    safetensors.torch.save_file({**tensors, **extra}, path, metadata={"format": "pt"})
    path.chmod(mode)
