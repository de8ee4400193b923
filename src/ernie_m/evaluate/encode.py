"""Sentence embeddings from any XLM-R-architecture model directory: one layer's hidden states, pooled.

This is XTREME's retrieval protocol (`third_party/evaluate_retrieval.py`, `scripts/run_tatoeba.sh`):

- Each sentence is encoded alone as `<s> tokens </s>` (truncated to `max_length` tokens, specials
  included) and padded on the right.
- Layer: XTREME keeps the last 12 of the 13 hidden states and picks index 7, which is
  `hidden_states[8]`, the output of the 8th of 12 layers. `default_layer` scales that to the
  model's depth (8 of 12, 16 of 24, 1 of 2). XTREME's own script for XLM-R large uses
  `hidden_states[14]` instead; pass `layer=14` to match it.
- Mean pooling averages over the attention mask, so `<s>` and `</s>` count and padding never does
  (XTREME's default; its `--pool_skip_special_token` flag, off in its scripts, drops the specials).
  "cls" pooling takes `<s>`.

The encoder runs only up to the chosen layer: at layer 8 of 12 the last third of the model would
be computed and thrown away.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ernie_m.device import autocast, pick_device
from ernie_m.errors import ErnieMError, first_line
from ernie_m.files import staged_directory
from ernie_m.model import check_loaded, check_model_directory, quiet_transformers

POOLINGS = ("mean", "cls")
XTREME_LAYER, XTREME_DEPTH = 8, 12
# Batches whose embeddings are copied to the host at once. A copy waits for the GPU; copying each batch
# would stop the host from preparing the next batch while the GPU still computes this one.
FETCH_EVERY = 32


def default_layer(num_hidden_layers: int) -> int:
    """XTREME's layer 8 of 12 scaled to the model's depth: round(8 n / 12), at least 1.

    An index into `output_hidden_states` (0 = embeddings, n = last layer). 2n/3 is never halfway
    between integers, so Python's round-half-to-even plays no part.
    """
    if num_hidden_layers < 1:
        raise ErnieMError(f"a model needs at least one layer, not {num_hidden_layers}")
    return max(1, round(XTREME_LAYER * num_hidden_layers / XTREME_DEPTH))


def load_encoder(model_dir: Path, device: str = "auto") -> tuple[nn.Module, object]:
    """`transformers.AutoModel` (float32, eval mode, on `device`) and `AutoTokenizer` from a local directory.

    Our checkpoints (`XLMRobertaForMaskedLM` with language rows) and plain XLM-R directories both load
    as an `XLMRobertaModel`; the MLM head is dropped, no pooler is built. Nothing is downloaded.
    """
    from transformers import AutoModel

    from ernie_m.data.tokenizer import load_tokenizer

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ErnieMError(f"{model_dir}: model directory does not exist")
    check_model_directory(model_dir)
    tokenizer = load_tokenizer(model_dir)
    target = pick_device(device)
    try:
        # float32 whatever the checkpoint's dtype: bf16 is far slower on CPU; CUDA gets autocast in `encode`.
        with quiet_transformers():  # its load report lists the MLM head and pooler we leave out, every time
            model, info = AutoModel.from_pretrained(
                model_dir, local_files_only=True, dtype=torch.float32, add_pooling_layer=False, output_loading_info=True
            )
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        # transformers refuses weights of other shapes than config.json says, pointing to the report we silenced.
        reason = "weight shapes differ from config.json" if "mismatched" in str(error) else first_line(error)
        raise ErnieMError(f"{model_dir}: cannot load the model: {reason}") from None
    _encoder_of(model)
    # What else the report would have said that matters: encoder weights left at random initialisation.
    check_loaded(model_dir, info)
    _check_vocabulary(model, tokenizer, model_dir)
    return model.to(target).eval(), tokenizer


def encode(
    sentences: Sequence[str],
    model: nn.Module,
    tokenizer,
    layer: int | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    max_length: int = 128,
    language_id: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """(N, H) float32 embeddings of N sentences, row i for `sentences[i]`.

    `layer`: index into the hidden states (0 = embeddings, n = last), `default_layer(n)` if None.
    `pooling`: "mean" over the real tokens (specials included, padding excluded) or "cls" (`<s>`).
    `language_id`: a row of the token-type table (our language ids) for every token; None passes no
    token types (row 0 for XLM-R). Sentences are batched longest first, so that each batch holds
    sentences of similar length and little padding, and the rows are put back in input order.
    """
    _check_sentences(sentences)
    model = _encoder_of(model)
    config = model.config
    layer = default_layer(config.num_hidden_layers) if layer is None else layer
    _check_options(config, layer, pooling, batch_size, max_length, language_id)
    # XLM-R numbers positions from pad_token_id + 1, so a table of P positions holds P - 2 tokens.
    max_length = min(max_length, config.max_position_embeddings - 2)
    if not sentences:
        return np.empty((0, config.hidden_size), dtype=np.float32)
    ids = tokenizer(list(sentences), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([-len(row) for row in ids], kind="stable")  # longest first; ties keep input order
    device = next(model.parameters()).device
    out = np.empty((len(ids), config.hidden_size), dtype=np.float32)
    pending: list[tuple[np.ndarray, torch.Tensor]] = []  # (rows, pooled on the device), fetched together
    with (
        torch.inference_mode(),
        _up_to_layer(model, layer),
        tqdm(total=len(ids), desc="encode", unit="sent", disable=not progress) as bar,
    ):
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            input_ids, mask = _pad([ids[i] for i in chosen], tokenizer.pad_token_id, device)
            types = None if language_id is None else torch.full_like(input_ids, language_id)
            with autocast(device):
                hidden = model(input_ids=input_ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            pending.append((chosen, _pool(hidden.float(), mask, pooling)))
            if len(pending) == FETCH_EVERY:
                _fetch(pending, out)
            bar.update(len(chosen))
        _fetch(pending, out)
    return out


def encode_dir(model_dir: Path, sentences: Sequence[str], device: str = "auto", **options) -> np.ndarray:
    """`load_encoder` then `encode`; `options` are `encode`'s keyword arguments."""
    model, tokenizer = load_encoder(model_dir, device)
    return encode(sentences, model, tokenizer, **options)


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, L, H) hidden states and (B, L) 0/1 mask -> (B, H)."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1)  # every row has at least <s> and </s>


def _fetch(pending: list[tuple[np.ndarray, torch.Tensor]], out: np.ndarray) -> None:
    """Copy the pending (rows, (B, H) embeddings) into `out` at their rows; empty the list."""
    if pending:
        rows = np.concatenate([chosen for chosen, _ in pending])
        out[rows] = torch.cat([pooled for _, pooled in pending]).cpu().numpy()
        pending.clear()


def _pad(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, L) input ids and (B, L) attention mask (1 = real token)."""
    length = max(len(row) for row in rows)
    input_ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device)


@contextlib.contextmanager
def _up_to_layer(model: nn.Module, layer: int) -> Iterator[None]:
    """Run only the first `layer` encoder layers, so that `last_hidden_state` is `hidden_states[layer]`.

    The encoder loops over its `layer` ModuleList; a shorter list sharing the same modules is
    swapped in for the duration and the full one always put back. Not for models shared between threads.
    """
    encoder = model.encoder
    full = encoder.layer
    encoder.layer = nn.ModuleList(list(full)[:layer])
    try:
        yield
    finally:
        encoder.layer = full


def _check_sentences(sentences: Sequence[str]) -> None:
    if isinstance(sentences, str):
        raise ErnieMError("encode: pass a list of sentences, not one string")
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise ErnieMError(f"encode: sentence {i} is a {type(sentence).__name__}, not a string")


def _check_options(config, layer: int, pooling: str, batch_size: int, max_length: int, language_id: int | None) -> None:
    if not 0 <= layer <= config.num_hidden_layers:
        raise ErnieMError(f"encode: layer {layer} is not in 0..{config.num_hidden_layers} (0 = embeddings)")
    if pooling not in POOLINGS:
        raise ErnieMError(f"encode: unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
    if batch_size < 1 or max_length < 3:
        raise ErnieMError(f"encode: need batch_size >= 1 and max_length >= 3, not {batch_size} and {max_length}")
    rows = config.type_vocab_size
    if language_id is not None and not 0 <= language_id < rows:
        raise ErnieMError(f"encode: language_id {language_id} is not in 0..{rows - 1} (the model's token-type rows)")


def _check_vocabulary(model: nn.Module, tokenizer, model_dir: Path) -> None:
    """Ids the embedding table lacks would crash mid-run (on CUDA, as an opaque device assert)."""
    if len(tokenizer) > model.config.vocab_size:
        raise ErnieMError(
            f"{model_dir}: the tokenizer has {len(tokenizer)} tokens but the model only {model.config.vocab_size} "
            "embeddings"
        )
    if tokenizer.pad_token_id is None:
        raise ErnieMError(f"{model_dir}: the tokenizer has no padding token")


def _encoder_of(model: nn.Module) -> nn.Module:
    """The bare encoder (an `XLMRobertaForMaskedLM` gives its `roberta`), with the layer list `_up_to_layer` needs."""
    encoder = getattr(model, "base_model", model)
    if not isinstance(getattr(getattr(encoder, "encoder", None), "layer", None), nn.ModuleList):
        raise ErnieMError(f"a {type(model).__name__} is not an XLM-R-style encoder (no encoder.layer list)")
    return encoder


def export_sentence_transformer(
    model_dir: Path, out_dir: Path, layer: int | None = None, max_length: int = 512
) -> Path:
    """`model_dir` as a sentence-transformers model that gives `encode`'s vectors: the encoder cut after
    `layer` (its last hidden state is then that layer's), mean pooling over the real tokens. Needs the
    optional sentence-transformers package, which writes the format itself."""
    if importlib.util.find_spec("sentence_transformers") is None:
        raise ErnieMError(
            "the sentence-transformers package is not installed (pip install 'ernie-m[sentence-transformers]')"
        )
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    model, tokenizer = load_encoder(model_dir, "cpu")
    layer = default_layer(model.config.num_hidden_layers) if layer is None else layer
    _check_options(model.config, layer, "mean", 1, max_length, None)
    model.encoder.layer = nn.ModuleList(list(model.encoder.layer)[:layer])
    model.config.num_hidden_layers = layer
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        encoder = Transformer(scratch, max_seq_length=min(max_length, model.config.max_position_embeddings - 2))
        with staged_directory(Path(out_dir)) as staging:
            SentenceTransformer(
                modules=[encoder, Pooling(model.config.hidden_size, pooling_mode="mean")], device="cpu"
            ).save(str(staging))
    return Path(out_dir)
