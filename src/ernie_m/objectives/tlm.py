"""TLM (XLM): masked language modelling on a parallel pair in one sequence, full attention.

<s> a1 [M] a3 </s></s> b1 b2 [M] </s>   masks in both sentences; every token attends every token,
so a masked token may use its own sentence and the translation.
"""

from __future__ import annotations

import numpy as np

from ernie_m.objectives.batch import Batch, BatchContext, collate
from ernie_m.objectives.masking import mask_tokens
from ernie_m.objectives.registry import Objective


def build_batch(
    examples: list[tuple[np.ndarray, int, np.ndarray, int]], ctx: BatchContext, rng: np.random.Generator
) -> Batch:
    sequences = [ctx.pair(*example) for example in examples]
    for seq in sequences:
        mask_tokens(seq, ctx.config, ctx.specials, rng)
    return collate(sequences, ctx.specials, ctx.row_length)


OBJECTIVE = Objective("tlm", "TLM", "pairs", build_batch)
