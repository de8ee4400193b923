"""Packing several sequences into a row: the placement, and that it changes no output of any objective."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import SPECIALS, context, random_tokens, tiny_model

from ernie_m.model import block_mask
from ernie_m.objectives import OBJECTIVES
from ernie_m.objectives.batch import pack, per_sequence
from ernie_m.objectives.layout import FIRST_POSITION


def test_first_fit_longest_first():
    assert pack([5, 3, 4, 2], 8) == [(0, 0, 5), (0, 5, 3), (1, 0, 4), (1, 4, 2)]
    assert pack([5, 3, 4, 2], None) == [(0, 0, 5), (1, 0, 3), (2, 0, 4), (3, 0, 2)]


def examples(kind: str, rng: np.random.Generator, count: int = 12) -> list[tuple]:
    lengths = rng.integers(3, 25, size=(count, 2))
    if kind == "mono":
        return [(random_tokens(rng, a), 1 + i % 3) for i, (a, _) in enumerate(lengths)]
    return [(random_tokens(rng, a), 1, random_tokens(rng, b), 2 + i % 2) for i, (a, b) in enumerate(lengths)]


def predictions(model, batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each sequence's (logits, labels) at its predicted positions, in sequence order."""
    with torch.no_grad():
        logits = model(batch)
    return list(zip(per_sequence(logits, batch), per_sequence(batch.labels[batch.predict_mask], batch), strict=True))


@pytest.mark.parametrize("name", ["mmlm", "tlm", "camlm", "btmlm"])
def test_packed_batches_give_every_sequence_the_outputs_it_has_alone(name):
    model = tiny_model()
    objective = OBJECTIVES[name]
    drawn = examples(objective.data, np.random.default_rng(0))
    alone_ctx, packed_ctx = context(model), dataclasses.replace(context(model), packing=True)
    alone = objective.build_batch(drawn, alone_ctx, np.random.default_rng(1))
    packed = objective.build_batch(drawn, packed_ctx, np.random.default_rng(1))
    assert len(packed.input_ids) < len(alone.input_ids)  # sequences share rows
    real = lambda batch: int((batch.position_ids >= FIRST_POSITION).sum())  # noqa: E731
    assert real(packed) == real(alone) and packed.num_tokens() == alone.num_tokens()
    for (logits_a, labels_a), (logits_p, labels_p) in zip(
        predictions(model, alone), predictions(model, packed), strict=True
    ):
        assert torch.equal(labels_a, labels_p)  # BTMLM: the same pseudo translations were generated
        torch.testing.assert_close(logits_p, logits_a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("name", ["mmlm", "tlm", "camlm", "btmlm"])
def test_a_packed_sequence_never_sees_its_row_neighbours(name, implementation):
    """Changing one sequence of a packed row leaves the other sequences' outputs exactly as they were."""
    model = tiny_model(implementation)
    ctx = dataclasses.replace(context(model), packing=True)
    objective = OBJECTIVES[name]
    batch = objective.build_batch(examples(objective.data, np.random.default_rng(2)), ctx, np.random.default_rng(3))
    row, offset, n = batch.placement[0]
    assert sum(1 for r, _, _ in batch.placement if r == row) > 1
    changed = batch.input_ids.clone()
    changed[row, offset + 1 : offset + n - 1] = SPECIALS.unk + 1
    states = lambda ids: model.hidden_states(ids, batch.position_ids, batch.language_ids, batch.attention)  # noqa: E731
    with torch.no_grad():
        before, after = states(batch.input_ids), states(changed)
    others = torch.zeros_like(changed, dtype=torch.bool)
    for r, o, m in batch.placement[1:]:
        others[r, o : o + m] = True
    assert torch.equal(before[others], after[others])
    assert not torch.allclose(before[row, offset : offset + n], after[row, offset : offset + n])


@pytest.mark.parametrize("name", ["mmlm", "camlm", "btmlm"])
def test_flex_attention_block_masks_attend_as_the_dense_masks(name):
    """FlexAttention with `block_mask` against the dense-mask reference (sdpa), on packed batches. Attention
    alone, in eager mode: transformers compiles flex_attention, and PyTorch has no FlexAttention backward
    on CPU; tests/gpu runs the whole model both ways."""
    import warnings

    from torch.nn.attention.flex_attention import flex_attention

    objective = OBJECTIVES[name]
    ctx = dataclasses.replace(context(tiny_model()), packing=True)
    batch = objective.build_batch(examples(objective.data, np.random.default_rng(4)), ctx, np.random.default_rng(5))
    dense = batch.attention.dense()
    rows, _, length, _ = dense.shape
    query, key, value = torch.randn(3, rows, 2, length, 8, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=dense)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flex_attention without torch.compile warns that it runs unfused
        got = flex_attention(query, key, value, block_mask=block_mask(batch.attention))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
