"""Which examples each step trains on: languages sampled with exponent alpha, examples in order.

A language (or language pair) is drawn with probability proportional to n ** alpha, n being its
number of examples; within it, examples come in a seeded permutation of this rank's share
(every world_size-th example), a new permutation each epoch. The only state is one
(epoch, position) cursor per language: that is the data position a checkpoint keeps.
"""

from __future__ import annotations

import numpy as np

from ernie_m.data.tokenized import TokenizedCorpus
from ernie_m.errors import ErnieMError

KINDS = ("mono", "pairs")


class ExampleSampler:
    def __init__(
        self,
        corpus: TokenizedCorpus,
        language_ids: dict[str, int],
        alpha: float,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.language_ids = language_ids
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.sources: dict[str, dict] = {
            "mono": {lang: (arrays,) for lang, arrays in sorted(corpus.mono.items()) if len(arrays)},
            "pairs": {key: sides for key, sides in sorted(corpus.pairs.items()) if len(sides[0])},
        }
        self.probabilities = {
            kind: _alpha_weights([len(v[0]) for v in self.sources[kind].values()], alpha) for kind in KINDS
        }
        self.cursors = {kind: {key: [0, 0] for key in self.sources[kind]} for kind in KINDS}
        self._orders: dict = {}

    def draw(self, kind: str, count: int, rng: np.random.Generator) -> list[tuple]:
        """`count` examples: (ids, language id) for "mono"; (ids a, lang a, ids b, lang b) for "pairs",
        the two sides in random order so that both directions are trained."""
        keys = list(self.sources[kind])
        picks = rng.choice(len(keys), size=count, p=self.probabilities[kind])
        examples = []
        for pick in picks:
            key = keys[pick]
            index = self._next_index(kind, key)
            if kind == "mono":
                examples.append((self.sources[kind][key][0][index], self.language_ids[key]))
            else:
                (a, b), (ids_a, ids_b) = key, self.sources[kind][key]
                sides = [(ids_a[index], self.language_ids[a]), (ids_b[index], self.language_ids[b])]
                if rng.random() < 0.5:
                    sides.reverse()
                examples.append((*sides[0], *sides[1]))
        return examples

    def _next_index(self, kind: str, key) -> int:
        cursor = self.cursors[kind][key]
        order = self._order(kind, key, cursor[0])
        index = order[cursor[1]]
        cursor[1] += 1
        if cursor[1] == len(order):
            cursor[0], cursor[1] = cursor[0] + 1, 0
        return int(index)

    def _order(self, kind: str, key, epoch: int) -> np.ndarray:
        """This rank's share of the examples of `key`, permuted for `epoch` (cached per epoch)."""
        cached = self._orders.get((kind, key))
        if cached is None or cached[0] != epoch:
            share = self._share(kind, key, self.rank, self.world_size)
            key_index = list(self.sources[kind]).index(key)
            rng = np.random.default_rng([self.seed, KINDS.index(kind), key_index, epoch, self.rank])
            cached = (epoch, rng.permutation(share))
            self._orders[(kind, key)] = cached
        return cached[1]

    def _share(self, kind: str, key, rank: int, world_size: int) -> np.ndarray:
        """The examples of `key` that `rank` of `world_size` reads: every world_size-th (all, if fewer)."""
        size = len(self.sources[kind][key][0])
        return np.arange(rank, size, world_size) if size >= world_size else np.arange(size)

    def state_dict(self) -> dict:
        return {kind: {_name(key): list(c) for key, c in cursors.items()} for kind, cursors in self.cursors.items()}

    def load_state_dict(self, state: dict, saved_world_size: int | None = None) -> None:
        """Cursors back from `state_dict`. From a run with another number of processes
        (`saved_world_size`), each position is carried over as the same fraction of the share."""
        for kind, cursors in self.cursors.items():
            if set(state[kind]) != {_name(key) for key in cursors}:
                raise ErnieMError(
                    f"the corpus changed since the checkpoint: its {kind} data was {sorted(state[kind])}, "
                    f"now {sorted(_name(key) for key in cursors)}; resume with the corpus the run started with"
                )
            for key in cursors:
                epoch, position = state[kind][_name(key)]
                if saved_world_size not in (None, self.world_size):
                    before = len(self._share(kind, key, 0, saved_world_size))
                    position = position * len(self._share(kind, key, self.rank, self.world_size)) // before
                if position >= len(self._share(kind, key, self.rank, self.world_size)):  # a corpus that shrank
                    epoch, position = epoch + 1, 0
                cursors[key] = [epoch, position]


def _alpha_weights(sizes: list[int], alpha: float) -> np.ndarray:
    if not sizes:
        return np.zeros(0)
    weights = np.asarray(sizes, dtype=np.float64) ** alpha
    return weights / weights.sum()


def _name(key) -> str:
    return key if isinstance(key, str) else "-".join(key)
