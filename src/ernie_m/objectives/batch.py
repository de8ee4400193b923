"""What every objective hands to the model: laid-out, masked sequences (`layout`, `masking`)
collated into a `Batch`, packed or one a row, with the objective's attention rule.

A `Batch` holds `input_ids`, `position_ids`, `language_ids`, `labels` (-100: not predicted) and its
`Attention` rule: each token's sequence and group, and the objective's table of which group sees
which. The rule is compact ((B, L) ids and a small table): the dense `[B, 1, L, L]` mask (the
reference) and FlexAttention's block mask are both read from it on the device. Padding is `<pad>`
at position 1 and language 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from ernie_m.config import ObjectiveConfig
from ernie_m.errors import ErnieMError
from ernie_m.objectives.layout import FIRST_POSITION, IGNORE, Sequence, SpecialIds, pair

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
    """What every objective needs besides the examples: special ids, the config's objective options,
    the sequence length, and what objectives that generate (BTMLM) use: `generator`, a no-grad forward
    from a batch to the logits at its predicted positions; the corpus's language ids and its
    languages with parallel data."""

    specials: SpecialIds
    config: ObjectiveConfig
    max_length: int
    generator: Callable[[Batch], torch.Tensor] | None = None
    language_ids: Mapping[str, int] = field(default_factory=dict)
    parallel_languages: tuple[str, ...] = ()
    packing: bool = False  # several sequences to a row of max_length tokens (data.packing)

    @property
    def row_length(self) -> int | None:
        return self.max_length if self.packing else None

    def pair(self, a: np.ndarray, lang_a: int, b: np.ndarray, lang_b: int) -> Sequence:
        return pair(a, lang_a, b, lang_b, self.specials, self.max_length, self.config.pair_positions)
