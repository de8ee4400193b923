"""MMLM: masked language modelling on one monolingual sentence, full attention.

<s> x1 [M] x3 </s>   every token attends every token; labels at the masked positions.
"""

from __future__ import annotations

import numpy as np

from ernie_m.objectives.batch import Batch, BatchContext, collate
from ernie_m.objectives.layout import single
from ernie_m.objectives.masking import mask_tokens
from ernie_m.objectives.registry import Objective


def build_batch(examples: list[tuple[np.ndarray, int]], ctx: BatchContext, rng: np.random.Generator) -> Batch:
    sequences = [single(tokens, lang, ctx.specials, ctx.max_length) for tokens, lang in examples]
    for seq in sequences:
        mask_tokens(seq, ctx.config, ctx.specials, rng)
    return collate(sequences, ctx.specials, ctx.row_length)


OBJECTIVE = Objective("mmlm", "MMLM", "mono", build_batch)
