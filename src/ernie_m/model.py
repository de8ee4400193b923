"""The encoder: Hugging Face's XLM-R with what ERNIE-M adds around it, and nothing forked.

- Language embeddings: XLM-R's token-type table grown to one row per language, plus row 0
  for "no language". Rows added to a pre-trained table start as copies of its row 0, so the
  grown model computes exactly what it did. The export stays a plain `XLMRobertaForMaskedLM`
  (`config.type_vocab_size`, `config.ernie_m_languages` name the rows) that
  `transformers.AutoModel` loads with no project code.
- The MLM head runs only at the positions that are predicted, not over the whole sequence.
- Attention comes in as each objective's compact rule (`objectives.batch.Attention`) and goes to
  the encoder as a dense additive 0 / large-negative `[B, 1, L, L]` mask, the format transformers
  reads exactly under sdpa and eager, or under flex_attention as a FlexAttention block mask
  evaluated from the rule on the device.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

from ernie_m.config import ModelConfig
from ernie_m.errors import ErnieMError, first_line
from ernie_m.files import staged_directory
from ernie_m.objectives.batch import Attention, Batch

# Large negative for masked attention entries. bf16's most negative finite value is also exact in
# fp32, so autocast never rounds it to -inf (which could turn a softmax into NaN).
MASKED = torch.finfo(torch.bfloat16).min
NO_LANGUAGE = 0
log = logging.getLogger(__name__)


class ErnieM(nn.Module):
    """`XLMRobertaForMaskedLM` plus the ERNIE-M inputs: position ids, language ids, per-example masks."""

    def __init__(self, mlm: XLMRobertaForMaskedLM):
        super().__init__()
        self.mlm = mlm

    @property
    def languages(self) -> list[str]:
        return list(self.mlm.config.ernie_m_languages)

    def language_id(self, language: str) -> int:
        return self.languages.index(language) + 1

    def hidden_states(self, input_ids, position_ids, language_ids, attention: Attention) -> torch.Tensor:
        """(B, L) ids and their attention rule -> (B, L, H) last hidden states."""
        if self.mlm.config._attn_implementation == "flex_attention":
            mask = block_mask(attention)
        else:
            mask = additive_mask(attention.dense(), self.mlm.dtype)
        return self.mlm.roberta(
            input_ids=input_ids, position_ids=position_ids, token_type_ids=language_ids, attention_mask=mask
        ).last_hidden_state

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (N, V) at the batch's N predicted positions (`batch.predict_index`)."""
        hidden = self.hidden_states(batch.input_ids, batch.position_ids, batch.language_ids, batch.attention)
        return self.mlm.lm_head(hidden.flatten(0, 1).index_select(0, batch.predict_index))


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean may-attend mask -> 0 where allowed, MASKED elsewhere, in `dtype`."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, MASKED)


def block_mask(attention: Attention):
    """FlexAttention's BlockMask of the rule: `Attention.allows` is its mask_mod, evaluated on the
    rule's device (over the whole grid, uncompiled), so that the kernel skips the blocks no query
    may attend (other sequences of a packed row, padding)."""
    from torch.nn.attention.flex_attention import create_block_mask

    rows, length = attention.sequence.shape
    return create_block_mask(
        lambda b, h, q, k: attention.allows(b, q, k), rows, None, length, length, device=attention.sequence.device
    )


def turn_off_attention_dropout(model: ErnieM) -> float:
    """Attention-probability dropout off, in every layer and the config; returns the rate it was.
    transformers' FlexAttention path has none (it refuses to train with it)."""
    rate = model.mlm.config.attention_probs_dropout_prob
    model.mlm.config.attention_probs_dropout_prob = 0.0
    for layer in model.mlm.roberta.encoder.layer:
        layer.attention.self.dropout.p = 0.0
    return rate


def compile_layers(model: ErnieM) -> None:
    """torch.compile each encoder layer in place, as torchtitan compiles each block: the element-wise
    work around the matrix products is fused, and layers of one shape share the compiled code. Shapes
    that vary from batch to batch (packed rows) are compiled as dynamic after the first change."""
    for layer in model.mlm.roberta.encoder.layer:
        layer.compile()


POSITIONS = 514  # XLM-R's position table: 512 tokens after the two ids its numbering skips


def new_model(config: ModelConfig, vocab_size: int, languages: list[str], max_length: int) -> ErnieM:
    """A randomly initialised XLM-R of the configured size with one language row per language, and
    XLM-R's position table whatever length it trains on, so that its exports take inputs as long as XLM-R's."""
    hf_config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        max_position_embeddings=max(POSITIONS, max_length + 2),  # XLM-R's offset: positions start at 2
        type_vocab_size=len(languages) + 1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        ernie_m_languages=list(languages),
        attn_implementation=config.attn_implementation,
    )
    return ErnieM(XLMRobertaForMaskedLM(hf_config))


def model_from_config(directory: Path) -> ErnieM:
    """An ErnieM of the size and languages that `directory`/config.json describes, its weights not loaded."""
    return ErnieM(XLMRobertaForMaskedLM(XLMRobertaConfig.from_pretrained(directory)))


def load_model(path: Path, languages: list[str], attn_implementation: str = "sdpa") -> ErnieM:
    """An XLM-R (or converted ERNIE-M) checkpoint in Hugging Face format, its language table grown to `languages`."""
    check_model_directory(path)
    try:
        # its load report lists a converted ERNIE-M's pooler, which the MLM model has no place for
        with quiet_transformers():
            mlm, info = XLMRobertaForMaskedLM.from_pretrained(
                path, attn_implementation=attn_implementation, output_loading_info=True
            )
    except (OSError, ValueError) as err:
        raise ErnieMError(f"{path}: cannot load an XLM-R model ({first_line(err)})") from None
    if check_loaded(path, info, optional="lm_head."):
        log.info("%s: no MLM head in the checkpoint (an encoder alone); it starts from a random initialisation", path)
    add_languages(mlm, languages)
    return ErnieM(mlm)


def check_loaded(path: Path, loading_info: dict, optional: str | tuple[str, ...] | None = None) -> list[str]:
    """Weights that from_pretrained found missing (it would leave them random): an error, except those
    under the `optional` prefix (or prefixes), which are returned."""
    missing = sorted(loading_info.get("missing_keys", ()))
    required = [name for name in missing if not (optional and name.startswith(optional))]
    if required:
        raise ErnieMError(f"{path}: the checkpoint lacks {len(required)} encoder weights, e.g. {required[0]}")
    return missing


def check_model_directory(path: Path) -> None:
    """A Hugging Face XLM-R directory, or an error that says what it is instead (and how to convert it)."""
    path = Path(path)
    convert = f"convert it first: ernie-m convert --from {{}} --src {path} --out {path.parent / (path.name + '-xlmr')}"
    if path.suffix == ".pdparams" or path.is_dir() and any(path.glob("*.pdparams*")):
        raise ErnieMError(f"{path}: a PaddlePaddle ERNIE-M checkpoint; {convert.format('paddle')}")
    if not path.exists():
        raise ErnieMError(f"{path}: model directory does not exist")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ErnieMError(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ErnieMError(f"{config_file}: not a valid config ({first_line(error)})") from None
    if model_type == "ernie_m":
        raise ErnieMError(
            f"{path}: an ERNIE-M checkpoint (model_type ernie_m); {convert.format('hf-erniem')} "
            "(or --from paddle for PaddleNLP's own files)"
        )
    if model_type != "xlm-roberta":
        raise ErnieMError(
            f"{config_file}: model_type {model_type!r}; expected 'xlm-roberta' (XLM-R, or ERNIE-M converted with "
            "ernie-m convert)"
        )


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for the duration, then as they were."""
    from transformers.utils import logging

    verbosity, bars_on = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars_on:
            logging.enable_progress_bar()


def add_languages(mlm: XLMRobertaForMaskedLM, languages: list[str]) -> None:
    """Give every language in `languages` a row of the token-type table, new rows copying row 0.

    Languages the checkpoint already knows keep their rows and ids; new ones are appended.
    """
    known = list(getattr(mlm.config, "ernie_m_languages", []) or [])
    table = mlm.roberta.embeddings.token_type_embeddings
    if known and table.num_embeddings != len(known) + 1:
        raise ErnieMError(
            f"checkpoint: token-type table has {table.num_embeddings} rows but names {len(known)} languages (+1 "
            "expected)"
        )
    kept = table.weight[: len(known) + 1]  # plain XLM-R reads only row 0 (its real checkpoints have just that one)
    added = [lang for lang in languages if lang not in known]
    grown = nn.Embedding(
        len(known) + len(added) + 1, table.embedding_dim, dtype=table.weight.dtype, device=table.weight.device
    )
    with torch.no_grad():
        grown.weight[: len(kept)] = kept
        grown.weight[len(kept) :] = kept[NO_LANGUAGE]
    mlm.roberta.embeddings.token_type_embeddings = grown
    mlm.config.type_vocab_size = grown.num_embeddings
    mlm.config.ernie_m_languages = known + added


def initial_pooler(config) -> dict[str, torch.Tensor]:
    """A pooler as XLM-R's checkpoints carry one, initialised as transformers does but from a fixed seed:
    AutoModel then loads an export whole (no newly initialised weights), the same on every load."""
    generator = torch.Generator().manual_seed(0)
    size = config.hidden_size
    return {
        "roberta.pooler.dense.weight": torch.randn(size, size, generator=generator) * config.initializer_range,
        "roberta.pooler.dense.bias": torch.zeros(size),
    }


def save_pretrained(
    model: ErnieM, tokenizer, out_dir: Path, weights: dict | None = None, texts: dict[str, str] | None = None
) -> None:
    """Write weights (`weights` when given: a sharded model's, gathered by `distributed.whole_weights`), config and
    tokenizer in Hugging Face format, and `texts` beside them (file name -> content: a run's summary and
    model card): ready to push to a hub. The directory appears only when complete."""
    state = weights if weights is not None else model.mlm.state_dict()
    tokenizer.model_max_length = model.mlm.config.max_position_embeddings - 2  # what the position table holds
    with staged_directory(Path(out_dir)) as partial, quiet_transformers():  # no "Writing model shards" bar in every log
        model.mlm.save_pretrained(partial, state_dict={**initial_pooler(model.mlm.config), **state})
        tokenizer.save_pretrained(partial)
        for name, text in (texts or {}).items():
            (partial / name).write_text(text, encoding="utf-8")
