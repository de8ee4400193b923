"""What every objective hands to the model, and the pieces the objectives share.

An objective turns token-id lists (no special tokens) and language ids into a `Batch`:
`input_ids`, `position_ids`, `language_ids`, `labels` (-100: not predicted) and its `Attention`
rule: each token's sequence and group, and the objective's table of which group sees which.
The rule is compact ((B, L) ids and a small table): the dense `[B, 1, L, L]` mask (the
reference) and FlexAttention's block mask are both read from it on the device.
Sequences follow XLM-R: `<s> a </s>` or `<s> a </s></s> b </s>`, positions from 2
(XLM-R's padding_idx is 1), padding with `<pad>` at position 1 and language 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from ernie_m.config import ObjectiveConfig
from ernie_m.errors import ErnieMError

IGNORE = -100  # label of positions that are not predicted (torch's cross-entropy default)
FIRST_POSITION = 2  # XLM-R: position ids start after padding_idx = 1

SOURCE, TARGET = 0, 1  # segment ids


@dataclass(frozen=True)
class SpecialIds:
    """Token ids of XLM-R's layout: <s>=0, <pad>=1, </s>=2, <unk>=3, ..., <mask>=last."""

    cls: int
    pad: int
    sep: int
    unk: int
    mask: int
    vocab_size: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> SpecialIds:
        ids = cls(
            cls=tokenizer.cls_token_id,
            pad=tokenizer.pad_token_id,
            sep=tokenizer.sep_token_id,
            unk=tokenizer.unk_token_id,
            mask=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
        )
        if (ids.cls, ids.pad, ids.sep, ids.unk, ids.mask) != (0, 1, 2, 3, ids.vocab_size - 1):
            raise ErnieMError(
                "tokenizer: expected XLM-R's special-token layout (<s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=last), got "
                f"{ids}"
            )
        return ids

    @property
    def special(self) -> tuple[int, ...]:
        return (self.cls, self.pad, self.sep, self.unk, self.mask)

    def random_tokens(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform ids between <unk> and <mask>: every ordinary piece, never a special token."""
        return rng.integers(self.unk + 1, self.mask, size=n)


@dataclass
class Sequence:
    """One training sequence before padding; `segment` says source (0) or target (1) per token."""

    input_ids: np.ndarray
    position_ids: np.ndarray
    language_ids: np.ndarray
    segment: np.ndarray
    special: np.ndarray  # True at <s>, </s>: never masked
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


FULL = np.ones((1, 1), dtype=bool)  # one group that sees itself: every token sees its whole sequence


@dataclass
class Attention:
    """Who may attend whom. Token t of row b belongs to sequence `sequence[b, t]` (its index in the
    batch; -1: padding) and to group `group[b, t]`; a query may attend a key of its own sequence where
    `sees[query's group, key's group]`. Padding keys are hidden from everyone; a padding query sees
    only itself, so that no attention row is empty (an empty row would give NaN)."""

    sequence: torch.Tensor  # (B, L) long
    group: torch.Tensor  # (B, L) long
    sees: torch.Tensor  # (G, G) bool

    def allows(self, b, q, k) -> torch.Tensor:
        """May query q of row b attend key k? Element-wise over broadcast index tensors; it is also
        FlexAttention's mask_mod (called with scalar indices)."""
        key_sequence = self.sequence[b, k]
        same = (self.sequence[b, q] == key_sequence) & (key_sequence >= 0)
        return (same & self.sees[self.group[b, q], self.group[b, k]]) | ((key_sequence < 0) & (q == k))

    def dense(self) -> torch.Tensor:
        """The (B, 1, L, L) boolean mask: True where the query row may attend the key column."""
        rows, length = self.sequence.shape
        b = torch.arange(rows, device=self.sequence.device)[:, None, None]
        i = torch.arange(length, device=self.sequence.device)
        return self.allows(b, i[None, :, None], i[None, None, :]).unsqueeze(1)

    def to(self, device) -> Attention:
        return Attention(*(_to_device(tensor, device) for tensor in (self.sequence, self.group, self.sees)))


@dataclass
class Batch:
    """Model inputs of one objective, (B, L) each, with their `Attention` rule; `predict_index`: the
    flat (row-major) positions where `labels` are set, found on the host so that the device never
    waits to learn how many there are."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    language_ids: torch.Tensor
    attention: Attention
    labels: torch.Tensor
    predict_index: torch.Tensor  # (N,) long
    placement: tuple[tuple[int, int, int], ...]  # (row, offset, length) of each sequence, in input order

    def to(self, device) -> Batch:
        moved = {
            f.name: _to_device(getattr(self, f.name), device)
            for f in fields(self)
            if f.name not in ("attention", "placement")
        }
        return Batch(**moved, attention=self.attention.to(device), placement=self.placement)

    @property
    def predict_mask(self) -> torch.Tensor:
        return self.labels != IGNORE

    @property
    def predicted_labels(self) -> torch.Tensor:
        """(N,) labels at `predict_index`."""
        return self.labels.flatten().index_select(0, self.predict_index)

    def num_tokens(self) -> int:
        """Real (non-padding) tokens: what tokens/s counts. Padding sits at position id 1."""
        return int((self.position_ids >= FIRST_POSITION).sum())


def single(tokens: np.ndarray, language: int, specials: SpecialIds, max_length: int) -> Sequence:
    """`<s> x </s>`, one source segment, truncated to `max_length`."""
    tokens = tokens[: max_length - 2]
    ids = np.concatenate([[specials.cls], tokens, [specials.sep]])
    n = len(ids)
    special = np.zeros(n, dtype=bool)
    special[[0, -1]] = True
    return Sequence(
        input_ids=ids.astype(np.int64),
        position_ids=np.arange(FIRST_POSITION, FIRST_POSITION + n),
        language_ids=np.full(n, language),
        segment=np.full(n, SOURCE),
        special=special,
        labels=np.full(n, IGNORE),
    )


def pair(
    a: np.ndarray, lang_a: int, b: np.ndarray, lang_b: int, specials: SpecialIds, max_length: int, positions: str
) -> Sequence:
    """`<s> a </s></s> b </s>`: segment S is `<s> a </s>`, segment T is `</s> b </s>`.

    `positions`: "restart" numbers T from 2 again (XLM), "continuous" goes on after S.
    The longer side is truncated first so that the pair fits `max_length`.
    """
    a, b = fit_pair(a, b, max_length - 4)
    first = single(a, lang_a, specials, max_length)
    second = single(b, lang_b, specials, max_length)
    second.input_ids[0] = specials.sep  # the second segment opens with </s>, as in XLM-R
    second.segment[:] = TARGET
    if positions == "continuous":
        second.position_ids += len(first)
    return concat(first, second)


def fit_pair(a: np.ndarray, b: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncate the longer of a and b (both, to halves, if both are long) to fit `budget` tokens."""
    half = budget // 2
    if len(a) + len(b) <= budget:
        return a, b
    if len(a) <= half:
        return a, b[: budget - len(a)]
    if len(b) <= budget - half:
        return a[: budget - len(b)], b
    return a[:half], b[: budget - half]


def concat(first: Sequence, second: Sequence) -> Sequence:
    return Sequence(
        **{f.name: np.concatenate([getattr(first, f.name), getattr(second, f.name)]) for f in fields(Sequence)}
    )


def mask_tokens(
    seq: Sequence,
    config: ObjectiveConfig,
    specials: SpecialIds,
    rng: np.random.Generator,
    maskable: np.ndarray | None = None,
) -> np.ndarray:
    """Select `mask_prob` of the non-special tokens (at least one) and corrupt them 80/10/10, in place.

    `maskable` (bool, per token) narrows the choice, e.g. to the source sentence.
    Sets `seq.labels` at the selected positions and returns them as a boolean array.
    """
    candidates = np.flatnonzero(~seq.special if maskable is None else maskable & ~seq.special)
    selected = np.zeros(len(seq), dtype=bool)
    if len(candidates) == 0:
        return selected
    count = max(1, int(round(config.mask_prob * len(candidates))))
    chosen = rng.choice(candidates, size=count, replace=False)
    selected[chosen] = True
    seq.labels[chosen] = seq.input_ids[chosen]
    roll = rng.random(count)
    to_mask = chosen[roll < config.mask_token_prob]
    to_random = chosen[(roll >= config.mask_token_prob) & (roll < config.mask_token_prob + config.random_token_prob)]
    seq.input_ids[to_mask] = specials.mask
    seq.input_ids[to_random] = specials.random_tokens(rng, len(to_random))
    return selected


def collate(
    sequences: list[Sequence],
    specials: SpecialIds,
    row_length: int | None = None,
    groups: list[np.ndarray] | None = None,
    sees: np.ndarray = FULL,
) -> Batch:
    """Sequences into the rows of a batch: one a row (`row_length` None), or packed several to a row
    of at most `row_length` tokens (`pack`). `groups` (one int array per sequence, default all 0)
    and `sees` make the `Attention` rule; a token never attends outside its own sequence, so
    packing changes no output."""
    sees = np.asarray(sees, dtype=bool)
    if (
        sees.ndim != 2
        or sees.shape[0] != sees.shape[1]
        or groups is not None
        and max(int(g.max(initial=0)) for g in groups) >= len(sees)
    ):
        raise ValueError(f"attention groups must index the square table `sees` (shape {sees.shape})")
    placement = pack([len(s) for s in sequences], row_length)
    rows = 1 + max(row for row, _, _ in placement)
    length = max(offset + n for _, offset, n in placement)
    input_ids = np.full((rows, length), specials.pad, dtype=np.int64)
    position_ids = np.full((rows, length), FIRST_POSITION - 1, dtype=np.int64)
    language_ids = np.zeros((rows, length), dtype=np.int64)
    labels = np.full((rows, length), IGNORE, dtype=np.int64)
    sequence = np.full((rows, length), -1, dtype=np.int64)
    group = np.zeros((rows, length), dtype=np.int64)
    for index, (seq, (row, offset, n)) in enumerate(zip(sequences, placement, strict=True)):
        span = slice(offset, offset + n)
        input_ids[row, span] = seq.input_ids
        position_ids[row, span] = seq.position_ids
        language_ids[row, span] = seq.language_ids
        labels[row, span] = seq.labels
        sequence[row, span] = index
        if groups is not None:
            group[row, span] = groups[index]
    return Batch(
        input_ids=torch.from_numpy(input_ids),
        position_ids=torch.from_numpy(position_ids),
        language_ids=torch.from_numpy(language_ids),
        attention=Attention(torch.from_numpy(sequence), torch.from_numpy(group), torch.from_numpy(sees)),
        labels=torch.from_numpy(labels),
        predict_index=torch.from_numpy(np.flatnonzero(labels != IGNORE)),
        placement=tuple(placement),
    )


def _to_device(tensor: torch.Tensor, device) -> torch.Tensor:
    """Host tensors to a GPU through pinned memory, so that the copy does not wait for the GPU's queue."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def pack(lengths: list[int], row_length: int | None) -> list[tuple[int, int, int]]:
    """(row, offset, length) of each sequence: first fit, longest first, into rows of `row_length`
    tokens; or one a row."""
    if row_length is None:
        return [(i, 0, n) for i, n in enumerate(lengths)]
    placement: list[tuple[int, int, int]] = [(0, 0, 0)] * len(lengths)
    used: list[int] = []  # tokens taken in each row so far
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if lengths[i] > row_length:
            raise ErnieMError(f"a sequence of {lengths[i]} tokens does not fit a row of {row_length}")
        row = next((r for r, taken in enumerate(used) if taken + lengths[i] <= row_length), len(used))
        if row == len(used):
            used.append(0)
        placement[i] = (row, used[row], lengths[i])
        used[row] += lengths[i]
    return placement


def per_sequence(values: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
    """(N, ...) values at the batch's N predicted positions (`predict_index`) -> one tensor per sequence, in
    sequence order: a packed row holds several sequences, not necessarily in their order."""
    index = torch.full((batch.labels.numel(),), -1, dtype=torch.long)
    index[batch.predict_index.cpu()] = torch.arange(len(values))
    index = index.view(batch.labels.shape)
    parts = []
    for row, offset, n in batch.placement:
        picked = index[row, offset : offset + n]
        parts.append(values[picked[picked >= 0].to(values.device)])
    return parts


@dataclass(frozen=True)
class BatchContext:
    """What every objective needs besides the examples.

    `generator` and `bt_target_languages` are BTMLM's: a no-grad forward that maps a batch to
    logits at its predicted positions, and the language ids
    that pseudo-translations may be generated in.
    """

    specials: SpecialIds
    config: ObjectiveConfig
    max_length: int
    generator: Callable[[Batch], torch.Tensor] | None = None
    bt_target_languages: tuple[int, ...] = ()
    packing: bool = False  # several sequences to a row of max_length tokens (data.packing)

    @property
    def row_length(self) -> int | None:
        return self.max_length if self.packing else None

    def pair(self, a: np.ndarray, lang_a: int, b: np.ndarray, lang_b: int) -> Sequence:
        return pair(a, lang_a, b, lang_b, self.specials, self.max_length, self.config.pair_positions)
