"""How a training sequence is laid out, before masking and batching.

Sequences follow XLM-R: `<s> a </s>` or `<s> a </s></s> b </s>`, positions from 2 (XLM-R's
padding_idx is 1); `segment` says which sentence a token belongs to (source 0, target 1), and
`labels` start as IGNORE everywhere (an objective's masking sets them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

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
