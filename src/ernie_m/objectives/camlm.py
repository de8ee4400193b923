"""CAMLM: cross-attention masked language modelling on a parallel pair.

A masked token may only use the *other* sentence, so it must be predicted across languages.
The rule (method spec, section 2; S = source segment `<s> a </s>`, T = target `</s> b </s>`):

    query \\ key    unmasked S  masked S  unmasked T  masked T
    masked S           no         yes        yes        no
    masked T           yes        no         no         yes
    unmasked S         yes        no         no         no
    unmasked T         no         no         yes        no

The last two rows close a leak: if unmasked T could attend S, a masked S token would see its
own sentence's context through them one layer later. Loss at the masked tokens of both sides.
"""

from __future__ import annotations

import numpy as np

from ernie_m.objectives.batch import (
    SOURCE,
    TARGET,
    Batch,
    BatchContext,
    collate,
    mask_tokens,
)

DATA = "pairs"  # examples: (ids a, language a, ids b, language b)


def attention(segment: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """The (L, L) boolean table above for one sequence; True = the row may attend the column."""
    source, target = segment == SOURCE, segment == TARGET
    groups = {
        "unmasked S": source & ~masked,
        "masked S": source & masked,
        "unmasked T": target & ~masked,
        "masked T": target & masked,
    }
    sees = {
        "masked S": ("masked S", "unmasked T"),
        "masked T": ("unmasked S", "masked T"),
        "unmasked S": ("unmasked S",),
        "unmasked T": ("unmasked T",),
    }
    allowed = np.zeros((len(segment), len(segment)), dtype=bool)
    for query, keys in sees.items():
        visible = np.logical_or.reduce([groups[key] for key in keys])
        allowed[np.ix_(groups[query], visible)] = True
    return allowed


def build_batch(examples: list[tuple[np.ndarray, int, np.ndarray, int]], ctx: BatchContext, rng: np.random.Generator) -> Batch:
    sequences = [ctx.pair(*example) for example in examples]
    masked = [mask_tokens(seq, ctx.config, ctx.specials, rng) for seq in sequences]
    return collate(sequences, [attention(s.segment, m) for s, m in zip(sequences, masked)], ctx.specials, ctx.row_length)
