"""Token ids of a whole corpus, in flat arrays: `TextCorpus` -> `TokenizedCorpus`.

A Python list of lists costs about 100 bytes a token; one int32 array plus
offsets costs 4, and any sentence is still one slice away.
"""

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np
from tqdm import tqdm

from ernie_m.data.corpus import Languages, TextCorpus
from ernie_m.errors import ErnieMError

TOKENIZE_BATCH = 4096  # sentences per tokenizer call: large enough for its batched (Rust) path to pay off


class TokenArrays:
    """Many token-id sequences in one flat int32 array plus offsets; O(1) random access.

    Sequence `i` is `ids[offsets[i]:offsets[i + 1]]`.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray):
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError("offsets must start at 0 and end at len(ids)")
        self.ids = ids.astype(np.int32, copy=False)  # (num_tokens,)
        self.offsets = offsets.astype(np.int64, copy=False)  # (n + 1,)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        """Sequence `i` (negative counts from the end) as a view into `ids`."""
        i = operator.index(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {i} out of range for {len(self)} sequences")
        i %= len(self)
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def num_tokens(self) -> int:
        """Tokens in all sequences together."""
        return len(self.ids)

    @classmethod
    def from_lists(cls, seqs: list[list[int]]) -> "TokenArrays":
        """Pack a list of id lists."""
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(seq) for seq in seqs], out=offsets[1:])
        ids = np.fromiter(chain.from_iterable(seqs), dtype=np.int32, count=int(offsets[-1]))
        return cls(ids, offsets)

    @classmethod
    def concatenate(cls, parts: list["TokenArrays"]) -> "TokenArrays":
        """The sequences of all `parts`, in order."""
        if not parts:
            return cls.from_lists([])
        lengths = np.concatenate([part.lengths() for part in parts])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.concatenate([part.ids for part in parts]), offsets)

    def lengths(self) -> np.ndarray:
        """Tokens per sequence, (n,)."""
        return np.diff(self.offsets)

    def take(self, indices: np.ndarray | list[int]) -> "TokenArrays":
        """Sequences `indices`, in that order, as new arrays."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, lengths = self.offsets[indices], self.lengths()[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Token j of the result is token j - offsets[k] + starts[k] of the source, k its sequence.
        source = np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], lengths)
        return TokenArrays(self.ids[source], offsets)


@dataclass
class TokenizedCorpus(Languages):
    """`TextCorpus` as token ids (no special tokens): monolingual arrays and aligned pair arrays."""

    mono: dict[str, TokenArrays]
    pairs: dict[tuple[str, str], tuple[TokenArrays, TokenArrays]]  # side a, side b; row i of each is pair i


def tokenize_corpus(
    corpus: TextCorpus,
    tokenizer,
    max_tokens: int,
    mono_from_parallel: bool = True,
    progress: bool = False,
) -> TokenizedCorpus:
    """Tokenise every sentence, truncated to `max_tokens`; sentences (pairs) left empty are dropped.

    With `mono_from_parallel`, each language's monolingual set also gets its
    parallel sentences that are not already there (once each, in pair order),
    so monolingual objectives see every language.
    """
    check_max_tokens(max_tokens)
    groups = sentence_groups(corpus)
    with progress_bar(groups, progress) as bar:
        encoded = [_encode_group(tokenizer, label, texts, max_tokens, bar) for label, texts in groups]
    return assemble_corpus(corpus, encoded, mono_from_parallel)


def check_max_tokens(max_tokens: int) -> None:
    if max_tokens < 1:
        raise ErnieMError(f"max_tokens must be at least 1, got {max_tokens}")


def encode_texts(tokenizer, texts: list[str], max_tokens: int) -> TokenArrays:
    """The ids of `texts` (no special tokens), each truncated to `max_tokens`, in one tokenizer call."""
    # verbose=False: the model's length limit does not apply here (we cut to max_tokens), so no warning about it.
    encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return TokenArrays.from_lists([seq[:max_tokens] for seq in encoded])


def sentence_groups(corpus: TextCorpus) -> list[tuple[str, list[str]]]:
    """Every list of sentences to tokenise, with a progress label, in the order `assemble_corpus`
    expects their ids: both sides of each pair (sorted), then each monolingual language (sorted)."""
    groups = []
    for (a, b), texts in sorted(corpus.pairs.items()):
        groups.append((f"{a} ({a}-{b})", [text for text, _ in texts]))
        groups.append((f"{b} ({a}-{b})", [text for _, text in texts]))
    groups.extend((lang, texts) for lang, texts in sorted(corpus.mono.items()))
    return groups


def progress_bar(groups: list[tuple[str, list[str]]], enabled: bool) -> tqdm:
    """One bar over the sentences of all `groups`."""
    total = sum(len(texts) for _, texts in groups)
    return tqdm(total=total, desc="tokenize", unit="sent", disable=not enabled)


def assemble_corpus(corpus: TextCorpus, encoded: Iterable[TokenArrays], mono_from_parallel: bool) -> TokenizedCorpus:
    """The `TokenizedCorpus` of `corpus`, given the truncated ids of each of its `sentence_groups`, in order.

    The rules of `tokenize_corpus`: empty sentences and pairs with an empty side are dropped,
    languages left without a sentence too, and parallel sides are added to the monolingual sets.
    """
    encoded = iter(encoded)
    pairs = {langs: _kept_pairs(texts, next(encoded), next(encoded)) for langs, texts in sorted(corpus.pairs.items())}
    mono = {lang: _kept_mono(texts, next(encoded)) for lang, texts in sorted(corpus.mono.items())}
    if mono_from_parallel:
        mono_arrays = _with_parallel_sides(mono, pairs)
    else:
        mono_arrays = {lang: arrays for lang, (_, arrays) in mono.items()}
    result = TokenizedCorpus(
        mono={lang: arrays for lang, arrays in mono_arrays.items() if len(arrays)},
        pairs={langs: sides for langs, (_, sides) in pairs.items() if len(sides[0])},
    )
    if not result.mono and not result.pairs:
        raise ErnieMError("the tokenized corpus is empty: no sentence has a token")
    return result


def _encode_group(tokenizer, label: str, texts: list[str], max_tokens: int, bar: tqdm) -> TokenArrays:
    """`encode_texts` in batches of TOKENIZE_BATCH, advancing the progress bar."""
    bar.set_postfix_str(label)
    parts = []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        batch = texts[start : start + TOKENIZE_BATCH]
        parts.append(encode_texts(tokenizer, batch, max_tokens))
        bar.update(len(batch))
    return TokenArrays.concatenate(parts)


def _kept_mono(texts: list[str], arrays: TokenArrays) -> tuple[list[str], TokenArrays]:
    """The sentences that still have a token, and their ids."""
    keep = np.flatnonzero(arrays.lengths() > 0)
    return [texts[i] for i in keep], arrays.take(keep)


def _kept_pairs(
    texts: list[tuple[str, str]], side_a: TokenArrays, side_b: TokenArrays
) -> tuple[list[tuple[str, str]], tuple[TokenArrays, TokenArrays]]:
    """The pairs whose sides both still have a token, and the ids of each side."""
    keep = np.flatnonzero((side_a.lengths() > 0) & (side_b.lengths() > 0))
    return [texts[i] for i in keep], (side_a.take(keep), side_b.take(keep))


def _with_parallel_sides(
    mono: dict[str, tuple[list[str], TokenArrays]],
    pairs: dict[tuple[str, str], tuple[list[tuple[str, str]], tuple[TokenArrays, TokenArrays]]],
) -> dict[str, TokenArrays]:
    """Each language's monolingual ids followed by its parallel sentences not seen yet (pairs in sorted key order)."""
    seen = {lang: set(texts) for lang, (texts, _) in mono.items()}
    parts = {lang: [arrays] for lang, (_, arrays) in mono.items()}
    for langs, (texts, sides) in pairs.items():
        for side, lang in enumerate(langs):
            unseen = _first_unseen([pair[side] for pair in texts], seen.setdefault(lang, set()))
            parts.setdefault(lang, []).append(sides[side].take(unseen))
    return {lang: TokenArrays.concatenate(arrays) for lang, arrays in parts.items()}


def _first_unseen(texts: list[str], seen: set[str]) -> list[int]:
    """Indices of the texts not in `seen` (first occurrence only); adds them to `seen`."""
    indices = []
    for i, text in enumerate(texts):
        if text not in seen:
            seen.add(text)
            indices.append(i)
    return indices
