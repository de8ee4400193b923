"""BERT's masking, shared by every objective: select tokens, keep their labels, corrupt them 80/10/10."""

from __future__ import annotations

import numpy as np

from ernie_m.config import ObjectiveConfig
from ernie_m.objectives.layout import Sequence, SpecialIds


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
