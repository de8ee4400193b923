"""Token ids of a whole corpus, in flat arrays: `TextCorpus` -> `TokenizedCorpus`.

A Python list of lists costs about 100 bytes a token; one int32 array plus
offsets costs 4, and any sentence is still one slice away.
"""

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np
from tqdm import tqdm

from ernie_m.data.corpus import TextCorpus
from ernie_m.errors import ErnieMError

TOKENIZE_BATCH = 4096  # sentences per tokenizer call: large enough for its batched (Rust) path to pay off

Encoder = Callable[[str, list[str]], list[list[int]]]  # (progress label, texts) -> truncated ids
Row = tuple[str, list[int]]  # (text, ids)


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


@dataclass
class TokenizedCorpus:
    """`TextCorpus` as token ids (no special tokens): monolingual arrays and aligned pair arrays."""

    mono: dict[str, TokenArrays]
    pairs: dict[tuple[str, str], tuple[TokenArrays, TokenArrays]]  # side a, side b; row i of each is pair i

    def languages(self) -> list[str]:
        """All languages, sorted."""
        return sorted(set(self.mono) | set(self.parallel_languages()))

    def parallel_languages(self) -> list[str]:
        """Languages that occur in at least one parallel pair, sorted."""
        return sorted({lang for pair in self.pairs for lang in pair})


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
    if max_tokens < 1:
        raise ErnieMError(f"max_tokens must be at least 1, got {max_tokens}")
    total = sum(len(t) for t in corpus.mono.values()) + 2 * sum(len(t) for t in corpus.pairs.values())
    with tqdm(total=total, desc="tokenize", unit="sent", disable=not progress) as bar:
        encode = _encoder(tokenizer, max_tokens, bar)
        pairs = {langs: _tokenize_pairs(encode, langs, texts) for langs, texts in sorted(corpus.pairs.items())}
        mono = {lang: _kept(texts, encode(lang, texts)) for lang, texts in sorted(corpus.mono.items())}
    if mono_from_parallel:
        _add_parallel_sides(mono, pairs)
    result = TokenizedCorpus(
        mono={lang: TokenArrays.from_lists([ids for _, ids in rows]) for lang, rows in mono.items() if rows},
        pairs={langs: _pair_arrays(rows) for langs, rows in pairs.items() if rows},
    )
    if not result.mono and not result.pairs:
        raise ErnieMError("the tokenized corpus is empty: no sentence has a token")
    return result


def _encoder(tokenizer, max_tokens: int, bar: tqdm) -> Encoder:
    """A function `(label, texts) -> truncated id lists`, batched, advancing the progress bar."""

    def encode(label: str, texts: list[str]) -> list[list[int]]:
        ids = []
        bar.set_postfix_str(label)
        for start in range(0, len(texts), TOKENIZE_BATCH):
            batch = texts[start : start + TOKENIZE_BATCH]
            encoded = tokenizer(batch, add_special_tokens=False)["input_ids"]
            ids.extend(seq[:max_tokens] for seq in encoded)
            bar.update(len(batch))
        return ids

    return encode


def _kept(texts: Iterable[str], ids: Iterable[list[int]]) -> list[Row]:
    """(text, ids) for the sentences that still have a token."""
    return [(text, seq) for text, seq in zip(texts, ids) if seq]


def _tokenize_pairs(encode: Encoder, langs: tuple[str, str], texts: list[tuple[str, str]]) -> list[tuple[Row, Row]]:
    """[((text_a, ids_a), (text_b, ids_b))] for the pairs whose sides both still have a token."""
    side_a = encode(f"{langs[0]} ({langs[0]}-{langs[1]})", [a for a, _ in texts])
    side_b = encode(f"{langs[1]} ({langs[0]}-{langs[1]})", [b for _, b in texts])
    return [((a, ids_a), (b, ids_b)) for (a, b), ids_a, ids_b in zip(texts, side_a, side_b) if ids_a and ids_b]


def _add_parallel_sides(mono: dict[str, list[Row]], pairs: dict[tuple[str, str], list[tuple[Row, Row]]]) -> None:
    """Append to each language's rows its parallel sentences not seen yet (pairs in sorted key order)."""
    seen = {lang: {text for text, _ in rows} for lang, rows in mono.items()}
    for langs, rows in pairs.items():
        for side, lang in enumerate(langs):
            lang_rows, lang_seen = mono.setdefault(lang, []), seen.setdefault(lang, set())
            for row in rows:
                text = row[side][0]
                if text not in lang_seen:
                    lang_seen.add(text)
                    lang_rows.append(row[side])


def _pair_arrays(rows: list[tuple[Row, Row]]) -> tuple[TokenArrays, TokenArrays]:
    """The two aligned `TokenArrays` of a list of pair rows."""
    return (
        TokenArrays.from_lists([ids_a for (_, ids_a), _ in rows]),
        TokenArrays.from_lists([ids_b for _, (_, ids_b) in rows]),
    )
