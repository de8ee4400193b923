"""Language sampling with exponent alpha, per-rank shares, and the cursor state a checkpoint keeps."""

from __future__ import annotations

import numpy as np
import pytest

from ernie_m.data.tokenized import TokenArrays, TokenizedCorpus
from ernie_m.errors import ErnieMError
from ernie_m.train.sampler import ExampleSampler

IDS = {"de": 1, "en": 2, "sw": 3}


def corpus(sizes: dict[str, int], pairs: int = 0) -> TokenizedCorpus:
    mono = {lang: TokenArrays.from_lists([[i, i + 1] for i in range(n)]) for lang, n in sizes.items()}
    sides = (
        TokenArrays.from_lists([[i] for i in range(pairs)]),
        TokenArrays.from_lists([[1000 + i] for i in range(pairs)]),
    )
    return TokenizedCorpus(mono=mono, pairs={("de", "en"): sides} if pairs else {})


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_languages_are_sampled_with_exponent_alpha(alpha):
    sampler = ExampleSampler(corpus({"de": 900, "sw": 100}), IDS, alpha, seed=0)
    drawn = sampler.draw("mono", 20_000, np.random.default_rng(0))
    share_sw = np.mean([lang == IDS["sw"] for _, lang in drawn])
    assert share_sw == pytest.approx(100**alpha / (100**alpha + 900**alpha), abs=0.01)


def test_each_epoch_visits_every_example_once():
    sampler = ExampleSampler(corpus({"sw": 50}), IDS, 0.5, seed=0)
    rng = np.random.default_rng(0)
    first = [int(ids[0]) for ids, _ in sampler.draw("mono", 50, rng)]
    second = [int(ids[0]) for ids, _ in sampler.draw("mono", 50, rng)]
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second  # a new permutation each epoch


def test_ranks_read_disjoint_shares_that_cover_the_corpus():
    seen = []
    for rank in range(3):
        sampler = ExampleSampler(corpus({"sw": 30}), IDS, 0.5, seed=0, rank=rank, world_size=3)
        seen.append({int(ids[0]) for ids, _ in sampler.draw("mono", 10, np.random.default_rng(rank))})
    assert set.union(*seen) == set(range(30)) and sum(len(s) for s in seen) == 30


def test_state_round_trip_continues_the_same_stream():
    data = corpus({"de": 40, "sw": 7}, pairs=9)
    original = ExampleSampler(data, IDS, 0.5, seed=4)
    original.draw("mono", 25, np.random.default_rng(1))
    original.draw("pairs", 5, np.random.default_rng(2))
    restored = ExampleSampler(data, IDS, 0.5, seed=4)
    restored.load_state_dict(original.state_dict())
    for kind in ("mono", "pairs"):
        a = original.draw(kind, 30, np.random.default_rng(9))
        b = restored.draw(kind, 30, np.random.default_rng(9))
        assert [[np.asarray(x).tolist() for x in e] for e in a] == [[np.asarray(x).tolist() for x in e] for e in b]


def test_pairs_come_in_both_orders_with_their_languages():
    sampler = ExampleSampler(corpus({"de": 5}, pairs=20), IDS, 0.5, seed=0)
    drawn = sampler.draw("pairs", 200, np.random.default_rng(0))
    orders = {(la, lb) for _, la, _, lb in drawn}
    assert orders == {(1, 2), (2, 1)}
    for ids_a, lang_a, ids_b, _ in drawn:
        de_side = ids_a if lang_a == IDS["de"] else ids_b
        en_side = ids_b if lang_a == IDS["de"] else ids_a
        assert int(en_side[0]) == 1000 + int(de_side[0])  # still a pair


def test_a_changed_corpus_is_refused_on_resume():
    state = ExampleSampler(corpus({"de": 4, "sw": 4}), IDS, 0.5, seed=0).state_dict()
    with pytest.raises(ErnieMError, match="corpus changed"):
        ExampleSampler(corpus({"de": 4}), IDS, 0.5, seed=0).load_state_dict(state)


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1), (1, 3)])
def test_cursors_carry_over_to_another_number_of_processes_as_a_fraction(before, after):
    """Resuming on another number of processes: the position within the epoch keeps its fraction of the share."""
    saved = ExampleSampler(corpus({"sw": 60}), IDS, 0.5, seed=0, rank=0, world_size=before)
    share = 60 // before
    saved.draw("mono", share * 3 // 4 + share, np.random.default_rng(0))  # one epoch and three quarters of the next
    state = saved.state_dict()
    for rank in range(after):
        resumed = ExampleSampler(corpus({"sw": 60}), IDS, 0.5, seed=0, rank=rank, world_size=after)
        resumed.load_state_dict(state, saved_world_size=before)
        epoch, position = resumed.state_dict()["mono"]["sw"]
        assert (epoch, position) == (1, (share * 3 // 4) * (60 // after) // share)
        rest = resumed.draw("mono", 60 // after - position, np.random.default_rng(1))  # the epoch's rest, no error
        assert len(rest) == 60 // after - position and resumed.state_dict()["mono"]["sw"] == [2, 0]
