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

from ernie_m.objectives.batch import Batch, BatchContext, collate
from ernie_m.objectives.layout import TARGET
from ernie_m.objectives.masking import mask_tokens
from ernie_m.objectives.registry import Objective

# The table above indexed by token group, group = 2 x segment + masked:
# 0 unmasked S, 1 masked S, 2 unmasked T, 3 masked T (rows: the query's group, columns: the key's).
SEES = np.array(
    [
        [True, False, False, False],  # unmasked S: its own sentence's unmasked tokens
        [False, True, True, False],  # masked S: masked S and the other sentence's unmasked tokens
        [False, False, True, False],  # unmasked T: its own sentence's unmasked tokens
        [True, False, False, True],  # masked T: the other sentence's unmasked tokens and masked T
    ]
)


def groups(segment: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """Each token's row of SEES."""
    return 2 * (segment == TARGET) + masked.astype(np.int64)


def build_batch(
    examples: list[tuple[np.ndarray, int, np.ndarray, int]], ctx: BatchContext, rng: np.random.Generator
) -> Batch:
    sequences = [ctx.pair(*example) for example in examples]
    masked = [mask_tokens(seq, ctx.config, ctx.specials, rng) for seq in sequences]
    return collate(
        sequences,
        ctx.specials,
        ctx.row_length,
        [groups(s.segment, m) for s, m in zip(sequences, masked, strict=True)],
        SEES,
    )


OBJECTIVE = Objective("camlm", "CAMLM", "pairs", build_batch)
