"""Leak properties: what a masked token may and may not see, checked through the model itself.

CAMLM: a masked token is predicted from the other sentence only. BTMLM step 1: the source is
encoded without looking at the placeholders.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import SPECIALS, context, random_tokens, tiny_model

from ernie_m.objectives import btmlm, camlm, tlm
from ernie_m.objectives.layout import SOURCE, TARGET


def pair_batch(objective, seed: int = 0):
    """A one-pair batch whose two sentences both have masked tokens, and that has a selected token
    kept as it is or replaced at random (not `<mask>`): those must not see their own sentence either."""
    for attempt in range(1000):
        rng = np.random.default_rng([seed, attempt])
        example = (random_tokens(rng, 16), 1, random_tokens(rng, 14), 2)
        batch = objective.build_batch([example], context(), rng)
        segment = torch.tensor([SOURCE] * 18 + [TARGET] * 16)
        both_sides = (batch.predict_mask[0] & (segment == SOURCE)).any() and (
            batch.predict_mask[0] & (segment == TARGET)
        ).any()
        unmasked_selection = (batch.predict_mask[0] & (batch.input_ids[0] != SPECIALS.mask)).any()
        if both_sides and unmasked_selection:
            return batch, segment
    raise AssertionError("no pair with masks on both sides and a kept or random selected token")


def changed(batch, position: int):
    other = batch.input_ids.clone()
    other[0, position] = SPECIALS.unk + 1 + (int(other[0, position]) + 7) % (SPECIALS.mask - SPECIALS.unk - 1)
    return dataclasses.replace(batch, input_ids=other)


def masked_logits(model, batch, segment, side):
    return model(batch)[segment[batch.predict_mask[0]] == side]  # the predicted positions of one side


@pytest.mark.parametrize(("masked_side", "other_side"), [(SOURCE, TARGET), (TARGET, SOURCE)])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_camlm_no_leak_from_own_sentence(masked_side, other_side, implementation, seed):
    """Changing any unmasked token of a sentence leaves the logits at that sentence's masked tokens
    exactly as they were: a masked-out key adds exactly 0, so any difference at all is a leak (a
    two-hop leak through the other side's masked tokens moved them by 3e-7, under any tolerance)."""
    model = tiny_model(implementation)
    batch, segment = pair_batch(camlm, seed)
    reference = masked_logits(model, batch, segment, masked_side)
    own_unmasked = torch.nonzero((segment == masked_side) & ~batch.predict_mask[0]).flatten().tolist()
    assert len(own_unmasked) > 5
    for position in own_unmasked:
        assert torch.equal(masked_logits(model, changed(batch, position), segment, masked_side), reference), position


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_camlm_no_leak_from_own_sentence_in_a_packed_row(implementation):
    """Pairs packed several to a row: changing an unmasked token of a pair's sentence leaves that
    sentence's masked logits exactly as they were, whatever else shares the row."""
    model = tiny_model(implementation)
    rng = np.random.default_rng(5)
    pairs = [(random_tokens(rng, n), 1, random_tokens(rng, n - 2), 2) for n in (9, 10, 11, 12, 13)]
    batch = camlm.build_batch(pairs, dataclasses.replace(context(), packing=True), rng)
    rows = [row for row, _, _ in batch.placement]
    index = next(i for i, row in enumerate(rows) if rows.count(row) > 1)  # a pair that shares its row
    row, offset, n = batch.placement[index]
    segment = torch.full_like(batch.input_ids[row], -1)
    segment[offset : offset + n] = torch.tensor(
        [SOURCE] * (len(pairs[index][0]) + 2) + [TARGET] * (len(pairs[index][2]) + 2)
    )
    row_predicted = batch.predict_mask[row]

    def logits_of(side: int, ids) -> torch.Tensor:
        with torch.no_grad():
            hidden = model.hidden_states(ids, batch.position_ids, batch.language_ids, batch.attention)[row]
        return hidden[row_predicted & (segment == side)]

    for side in (SOURCE, TARGET):
        reference = logits_of(side, batch.input_ids)
        assert len(reference) > 0
        for position in torch.nonzero((segment == side) & ~row_predicted).flatten().tolist():
            assert torch.equal(logits_of(side, changed_at(batch.input_ids, row, position)), reference), (side, position)


def changed_at(ids: torch.Tensor, row: int, position: int) -> torch.Tensor:
    other = ids.clone()
    other[row, position] = SPECIALS.unk + 1 + (int(other[row, position]) + 7) % (SPECIALS.mask - SPECIALS.unk - 1)
    return other


@pytest.mark.parametrize(("masked_side", "other_side"), [(SOURCE, TARGET), (TARGET, SOURCE)])
def test_camlm_leak_test_sees_the_other_sentence(masked_side, other_side):
    """The other sentence's unmasked tokens do reach the masked ones: the property above is not vacuous."""
    model = tiny_model()
    batch, segment = pair_batch(camlm)
    reference = masked_logits(model, batch, segment, masked_side)
    other_unmasked = torch.nonzero(
        (segment == other_side) & ~batch.predict_mask[0] & (batch.input_ids[0] > SPECIALS.unk)
    ).flatten()
    assert len(other_unmasked) > 5
    for position in other_unmasked.tolist():
        assert not torch.allclose(
            masked_logits(model, changed(batch, position), segment, masked_side), reference, atol=1e-4
        )


def test_tlm_control_own_sentence_does_leak():
    """Under TLM's full attention the same change does move the logits: the leak test can fail."""
    model = tiny_model()
    batch, segment = pair_batch(tlm)
    reference = masked_logits(model, batch, segment, SOURCE)
    position = int(torch.nonzero((segment == SOURCE) & ~batch.predict_mask[0] & (batch.input_ids[0] > SPECIALS.unk))[0])
    assert not torch.allclose(masked_logits(model, changed(batch, position), segment, SOURCE), reference, atol=1e-4)


def generation_inputs(rng, ratio=1.0):
    ctx = context(bt_length_ratio=ratio)
    sources = [random_tokens(rng, 10), random_tokens(rng, 6)]
    fitted, lengths = zip(*(btmlm.fit_to_budget(s, ctx) for s in sources), strict=True)
    return btmlm.generation_batch(list(fitted), list(lengths), [1, 2], [3, 3], ctx)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_btmlm_generation_no_leak_source_ignores_placeholders(implementation, rng):
    """Source representations in step 1 do not depend on the placeholders (ids or language), while
    the placeholders do depend on the source."""
    model = tiny_model(implementation)
    batch = generation_inputs(rng)
    placeholders = batch.predict_mask
    source = (~placeholders) & (batch.position_ids > 1)

    def states(b):
        return model.hidden_states(b.input_ids, b.position_ids, b.language_ids, b.attention)

    reference = states(batch)
    other = dataclasses.replace(
        batch,
        input_ids=batch.input_ids.masked_fill(placeholders, 50),
        language_ids=batch.language_ids.masked_fill(placeholders, 1),
    )
    assert torch.equal(states(other)[source], reference[source])
    assert not torch.allclose(states(other)[placeholders], reference[placeholders], atol=1e-4)
    changed_source = batch.input_ids.clone()
    changed_source[0, 3] = 77 if changed_source[0, 3] != 77 else 78
    moved = states(dataclasses.replace(batch, input_ids=changed_source))
    assert not torch.allclose(moved[0][placeholders[0]], reference[0][placeholders[0]], atol=1e-4)


def test_btmlm_build_batch_trains_on_the_generated_tokens(rng):
    """Step 2's second sentence is exactly step 1's argmax over non-special tokens, with the target language."""
    model = tiny_model()
    ctx = context(model)
    examples = [(random_tokens(rng, 10), 1), (random_tokens(rng, 6), 2)]
    batch = btmlm.build_batch(examples, ctx, np.random.default_rng(3))
    # replay step 1 with the same random draws
    replay = np.random.default_rng(3)
    targets = btmlm.choose_targets([1, 2], btmlm.target_ids(ctx), replay)
    fitted, lengths = zip(*(btmlm.fit_to_budget(t, ctx) for t, _ in examples), strict=True)
    step1 = btmlm.generation_batch(list(fitted), list(lengths), [1, 2], targets, ctx)
    with torch.no_grad():
        pseudo = btmlm.decode(model(step1), step1, ctx, replay)
    for i, (h, target) in enumerate(zip(pseudo, targets, strict=True)):
        second = batch.language_ids[i] == target
        assert torch.equal(batch.input_ids[i][second][1:-1], torch.from_numpy(h))
        assert not np.isin(h, SPECIALS.special).any()


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_a_language_id_moves_exactly_the_outputs_that_can_see_its_token(implementation):
    """The language rows reach the model: under CAMLM a new language id on one unmasked source token
    moves the source's unmasked tokens and the target's masked ones (who see it, directly or through
    them), and leaves every other output exactly as it was."""
    model = tiny_model(implementation)
    batch, segment = pair_batch(camlm)
    masked = batch.predict_mask[0]
    position = int(torch.nonzero((segment == SOURCE) & ~masked & (batch.input_ids[0] > SPECIALS.unk))[0])
    other = batch.language_ids.clone()
    other[0, position] = 2 if int(other[0, position]) != 2 else 1

    def states(b):
        return model.hidden_states(b.input_ids, b.position_ids, b.language_ids, b.attention)[0]

    moved = (states(dataclasses.replace(batch, language_ids=other)) != states(batch)).any(dim=-1)
    expected = ((segment == SOURCE) & ~masked) | ((segment == TARGET) & masked)
    assert torch.equal(moved, expected)
