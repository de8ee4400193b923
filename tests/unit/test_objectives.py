"""Batches of each objective, read as literal tensors: layout, positions, masking, attention."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import SPECIALS, context, random_tokens

from ernie_m.config import ObjectiveConfig
from ernie_m.objectives import btmlm, camlm, mmlm, tlm
from ernie_m.objectives.batch import collate
from ernie_m.objectives.layout import IGNORE, SOURCE, TARGET, Sequence, fit_pair, pair, single
from ernie_m.objectives.masking import mask_tokens


def test_pair_layout_and_restarting_positions():
    seq = pair(np.array([10, 11]), 1, np.array([20, 21, 22]), 2, SPECIALS, 64, "restart")
    assert seq.input_ids.tolist() == [0, 10, 11, 2, 2, 20, 21, 22, 2]
    assert seq.position_ids.tolist() == [2, 3, 4, 5, 2, 3, 4, 5, 6]
    assert seq.language_ids.tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert seq.segment.tolist() == [SOURCE] * 4 + [TARGET] * 5
    assert seq.special.tolist() == [True, False, False, True, True, False, False, False, True]


def test_pair_continuous_positions():
    seq = pair(np.array([10, 11]), 1, np.array([20]), 2, SPECIALS, 64, "continuous")
    assert seq.position_ids.tolist() == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("a", "b", "budget", "expected"), [(5, 3, 10, (5, 3)), (8, 2, 6, (4, 2)), (2, 9, 6, (2, 4)), (9, 9, 7, (3, 4))]
)
def test_fit_pair_truncates_the_longer_side_first(a, b, budget, expected):
    fitted = fit_pair(np.arange(a), np.arange(b), budget)
    assert tuple(len(x) for x in fitted) == expected


def test_every_pair_fits_its_length_and_is_cut_only_when_it_must_be():
    for a in range(0, 40):
        for b in range(0, 40):
            seq = pair(np.arange(10, 10 + a), 1, np.arange(10, 10 + b), 2, SPECIALS, 32, "restart")
            assert len(seq) == min(a + b, 28) + 4, (a, b)  # <s> a </s></s> b </s>: 4 specials, at most 32 tokens


@pytest.mark.parametrize("tokens", [1, 2, 3, 6, 10, 40])
def test_masking_selects_the_rate_rounded_and_at_least_one_token(tokens, rng):
    seq = single(random_tokens(rng, tokens), 1, SPECIALS, 64)
    assert mask_tokens(seq, ObjectiveConfig(), SPECIALS, rng).sum() == max(1, round(0.15 * tokens))


def test_masking_rate_and_80_10_10_split_never_touch_special_tokens():
    rng = np.random.default_rng(0)
    config = ObjectiveConfig()
    counts = {"selected": 0, "mask": 0, "kept": 0, "total": 0}
    for _ in range(400):
        original = random_tokens(rng, 40)
        seq = single(original.copy(), 1, SPECIALS, 64)
        selected = mask_tokens(seq, config, SPECIALS, rng)
        assert not selected[seq.special].any()
        assert seq.input_ids[0] == SPECIALS.cls and seq.input_ids[-1] == SPECIALS.sep
        assert (seq.labels[selected] == np.concatenate([[0], original, [2]])[selected]).all()
        assert (seq.labels[~selected] == IGNORE).all()
        counts["total"] += 40
        counts["selected"] += selected.sum()
        counts["mask"] += (seq.input_ids[selected] == SPECIALS.mask).sum()
        counts["kept"] += (seq.input_ids[selected] == seq.labels[selected]).sum()
    assert counts["selected"] / counts["total"] == pytest.approx(0.15, abs=0.005)
    assert counts["mask"] / counts["selected"] == pytest.approx(0.8, abs=0.03)
    # the rest splits evenly: kept as they are, or a random token (which is rarely the original)
    assert counts["kept"] / counts["selected"] == pytest.approx(0.1, abs=0.02)


def test_random_replacements_are_ordinary_tokens(rng):
    drawn = SPECIALS.random_tokens(rng, 10_000)
    assert drawn.min() == SPECIALS.unk + 1 and drawn.max() == SPECIALS.mask - 1


def test_padding_is_never_a_label_and_sees_only_itself(rng):
    batch = mmlm.build_batch([(random_tokens(rng, 20), 1), (random_tokens(rng, 3), 2)], context(), rng)
    padding = batch.input_ids[1] == SPECIALS.pad
    assert padding.sum() == 20 - 3
    assert (batch.labels[1][padding] == IGNORE).all()
    assert (batch.position_ids[1][padding] == 1).all() and (batch.language_ids[1][padding] == 0).all()
    attention = batch.attention.dense()[1, 0]
    assert not attention[~padding][:, padding].any()  # real tokens never see padding
    assert torch.equal(attention[padding][:, padding], torch.eye(int(padding.sum()), dtype=torch.bool))


def test_tlm_masks_both_sides_with_full_attention(rng):
    examples = [(random_tokens(rng, 30), 1, random_tokens(rng, 30), 2) for _ in range(20)]
    batch = tlm.build_batch(examples, context(), rng)
    segments = batch.language_ids  # side a has language 1, side b language 2
    assert (batch.predict_mask & (segments == 1)).any() and (batch.predict_mask & (segments == 2)).any()
    assert batch.attention.dense().all()


def test_camlm_attention_table_literal():
    #              <s>  a1   a2  </s> </s>  b1   b2  </s>
    segment = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    masked = np.array([0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    expected = np.array(
        [
            # keys: <s> a1 a2 </s> </s> b1 b2 </s>
            [1, 0, 1, 1, 0, 0, 0, 0],  # <s>     unmasked S: unmasked S only
            [0, 1, 0, 0, 1, 1, 0, 1],  # a1      masked S: masked S + unmasked T
            [1, 0, 1, 1, 0, 0, 0, 0],  # a2
            [1, 0, 1, 1, 0, 0, 0, 0],  # </s>
            [0, 0, 0, 0, 1, 1, 0, 1],  # </s>    unmasked T: unmasked T only
            [0, 0, 0, 0, 1, 1, 0, 1],  # b1
            [1, 0, 1, 1, 0, 0, 1, 0],  # b2      masked T: unmasked S + masked T
            [0, 0, 0, 0, 1, 1, 0, 1],  # </s>
        ],
        dtype=bool,
    )
    seq = Sequence(
        input_ids=np.arange(8),
        position_ids=np.arange(2, 10),
        language_ids=np.ones(8, dtype=np.int64),
        segment=segment,
        special=np.zeros(8, dtype=bool),
        labels=np.full(8, IGNORE),
    )
    batch = collate([seq], SPECIALS, groups=[camlm.groups(segment, masked)], sees=camlm.SEES)
    assert (batch.attention.dense()[0, 0].numpy() == expected).all()


def test_groups_outside_the_table_are_refused(rng):
    seq = single(random_tokens(rng, 5), 1, SPECIALS, 64)
    with pytest.raises(ValueError, match="square table"):
        collate([seq], SPECIALS, groups=[np.full(len(seq), 2)], sees=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="square table"):
        collate([seq], SPECIALS, sees=np.ones((1, 2), dtype=bool))


def test_camlm_batch_uses_the_table(rng):
    examples = [(random_tokens(rng, 12), 1, random_tokens(rng, 9), 2) for _ in range(4)]
    batch = camlm.build_batch(examples, context(), rng)
    for i in range(4):
        n = int((batch.position_ids[i] > 1).sum())
        segment = np.array([SOURCE] * 14 + [TARGET] * 11)[:n]
        group = camlm.groups(segment, batch.predict_mask[i, :n].numpy())
        expected = camlm.SEES[group[:, None], group[None, :]]
        assert (batch.attention.dense()[i, 0, :n, :n].numpy() == expected).all()


def test_btmlm_generation_layout(rng):
    sources = [random_tokens(rng, 6), random_tokens(rng, 4)]
    ctx = context(bt_length_ratio=1.5)
    fitted, lengths = zip(*(btmlm.fit_to_budget(s, ctx) for s in sources), strict=True)
    batch = btmlm.generation_batch(list(fitted), list(lengths), [1, 1], [3, 2], ctx)
    placeholders = batch.predict_mask  # the positions to fill are step 1's predicted positions
    assert list(lengths) == [9, 6]
    row = batch.input_ids[0]
    assert row[0] == SPECIALS.cls and row[7] == SPECIALS.sep
    assert (row[8:17] == SPECIALS.mask).all() and placeholders[0].sum() == 9
    assert (batch.language_ids[0][placeholders[0]] == 3).all() and (batch.language_ids[0][:8] == 1).all()
    # placeholders take the positions the pseudo tokens get in step 2: after `</s>` restarting at 2
    assert batch.position_ids[0][placeholders[0]].tolist() == list(range(3, 12))
    attention = batch.attention.dense()[0, 0]
    assert not attention[:8, 8:17].any()  # source rows see the source only
    assert attention[8:17, :17].all()  # placeholder rows see everything real


def test_btmlm_targets_are_never_the_source_language(rng):
    targets = btmlm.choose_targets([1, 2, 3] * 50, (1, 2, 3), rng)
    assert all(t != s for t, s in zip(targets, [1, 2, 3] * 50, strict=True))
    assert set(targets) == {1, 2, 3}


def test_btmlm_decoding_never_yields_special_tokens(rng):
    ctx = context()
    step1 = btmlm.generation_batch([random_tokens(rng, 20), random_tokens(rng, 30)], [20, 30], [1, 1], [2, 3], ctx)
    logits = torch.zeros(50, SPECIALS.vocab_size)
    logits[:, list(SPECIALS.special)] = 100.0  # specials are the most likely ...
    for decoding in ("argmax", "sample"):
        pseudo = btmlm.decode(logits.clone(), step1, context(bt_decoding=decoding, bt_top_k=5), rng)
        assert [len(p) for p in pseudo] == [20, 30] and not np.isin(np.concatenate(pseudo), SPECIALS.special).any()


def test_btmlm_step2_labels_only_on_masked_source_tokens(rng):
    sources = [random_tokens(rng, 20) for _ in range(8)]
    pseudo = [random_tokens(rng, 20) for _ in range(8)]
    batch = btmlm.training_batch(sources, [1] * 8, pseudo, [2] * 8, context(), rng)
    labelled = batch.predict_mask
    assert labelled.any()
    assert (batch.language_ids[labelled] == 1).all()  # source side only
    target = batch.language_ids == 2
    assert not (batch.input_ids[target] == SPECIALS.mask).any()  # h is neither masked ...
    assert torch.equal(batch.input_ids[0][target[0]][1:-1], torch.from_numpy(pseudo[0]))  # ... nor changed
    assert batch.attention.dense().all()


def test_sequences_never_exceed_max_length(rng):
    long = random_tokens(rng, 200)
    ctx = context()
    assert len(single(long, 1, SPECIALS, 64)) == 64
    assert len(ctx.pair(long, 1, long, 2)) == 64
    source, k = btmlm.fit_to_budget(long, ctx)
    assert len(source) + k + 4 == 64


def test_btmlm_generator_stats_on_a_generator_that_copies_its_source():
    """A step 1 that writes the source again: every piece copied; the frequent share and the bag-of-pieces
    F1 against the references follow from the literal ids (pair 1: 2 of 3 pieces right, pair 2: none)."""
    sources = [np.array([10, 11, 12]), np.array([20, 21])]

    def copy_source(batch):
        logits = torch.zeros(5, SPECIALS.vocab_size)
        logits[torch.arange(5), torch.tensor([10, 11, 12, 20, 21])] = 10.0
        assert int((batch.labels == SPECIALS.mask).sum()) == 5  # one placeholder per source piece
        return logits

    ctx = dataclasses.replace(context(), generator=copy_source)
    pairs = btmlm.WatchedPairs(sources, [1, 1], [np.array([10, 11, 99]), np.array([30])], [2, 2], frozenset({10, 20}))
    stats = btmlm.generator_stats(pairs, ctx)
    assert stats == pytest.approx({"bt/copied": 100.0, "bt/frequent": 40.0, "bt/overlap_f1": 100 * (2 / 3) / 2})
