"""BTMLM: back-translation masked language modelling on monolingual sentences, in two steps.

Step 1, generate (no gradient, one non-autoregressive pass). Source x in language s, then k
`<mask>` placeholders carrying the target language t and the positions the pseudo tokens
will have in step 2:

    <s> x1 x2 x3 </s> [P] [P] [P]      source rows attend the source only;
                                        placeholder rows attend the source and all placeholders.

Each placeholder is filled with the best non-special token (argmax, or sampling).

Step 2, train. The pseudo translation h stands where a real translation would in TLM:

    <s> x1 [M] x3 </s></s> h1 h2 h3 </s>   full attention; only x is masked and predicted.

Open choices (config): k = bt_length_ratio * |x|; argmax or sampling (temperature, top-k);
the target languages (default: the languages with parallel data, never the source's).

Examples: (token ids, language id). While it trains, the generator is watched on held-out pairs of
the corpus's dev split (`watch`): how much it copies, emits frequent pieces, or matches the reference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ernie_m.config import Config, ObjectiveConfig
from ernie_m.data.corpus import Languages, TextCorpus
from ernie_m.errors import ErnieMError
from ernie_m.objectives.batch import Batch, BatchContext, collate, per_sequence
from ernie_m.objectives.layout import SOURCE, TARGET, Sequence, fit_pair
from ernie_m.objectives.masking import mask_tokens
from ernie_m.objectives.registry import Objective


def build_batch(examples: list[tuple[np.ndarray, int]], ctx: BatchContext, rng: np.random.Generator) -> Batch:
    """Both steps: generate pseudo translations with `ctx.generator`, then the training batch."""
    targets = choose_targets([lang for _, lang in examples], target_ids(ctx), rng)
    languages = [lang for _, lang in examples]
    sources, lengths = zip(*(fit_to_budget(tokens, ctx) for tokens, _ in examples), strict=True)
    step1 = generation_batch(sources, lengths, languages, targets, ctx)
    with torch.no_grad():
        logits = ctx.generator(step1)
    pseudo = decode(logits, step1, ctx, rng)
    return training_batch(sources, languages, pseudo, targets, ctx, rng)


def target_languages(config: ObjectiveConfig, parallel_languages: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The languages pseudo translations are generated in: the config's, or the corpus's parallel languages."""
    return tuple(config.bt_target_languages or parallel_languages)


def target_ids(ctx: BatchContext) -> tuple[int, ...]:
    names = target_languages(ctx.config, ctx.parallel_languages)
    return tuple(ctx.language_ids[lang] for lang in names if lang in ctx.language_ids)


def check(config: Config, corpus: Languages) -> None:
    """At least two target languages, all in the corpus (a source needs a target other than its own)."""
    targets = target_languages(config.objectives, corpus.parallel_languages())
    if len(targets) < 2 or any(lang not in corpus.languages() for lang in targets):
        raise ErnieMError(
            f"config: BTMLM needs at least two target languages that the corpus has; got {list(targets)} "
            f"(corpus languages: {', '.join(corpus.languages())})"
        )


def choose_targets(source_languages: list[int], candidates: tuple[int, ...], rng: np.random.Generator) -> list[int]:
    """A target language for each source, uniformly among the candidates other than the source's own."""
    targets = []
    for source in source_languages:
        others = [lang for lang in candidates if lang != source]
        if not others:
            raise ErnieMError(f"BTMLM: no target language other than the source's ({source}) among {candidates}")
        targets.append(others[rng.integers(len(others))])
    return targets


def fit_to_budget(tokens: np.ndarray, ctx: BatchContext) -> tuple[np.ndarray, int]:
    """The source and its number k of placeholders, shortened to fit one step-2 sequence."""
    k = max(1, int(round(ctx.config.bt_length_ratio * len(tokens))))
    source, placeholders = fit_pair(tokens, np.zeros(k, dtype=tokens.dtype), ctx.max_length - 4)
    return source, len(placeholders)


# Step 1's attention by group = segment: 0 source, 1 placeholder (rows: the query's group, columns: the key's).
GENERATION_SEES = np.array(
    [
        [True, False],  # source: the source only
        [True, True],  # placeholder: the source and all placeholders
    ]
)


def generation_batch(
    sources: list[np.ndarray], lengths: list[int], languages: list[int], targets: list[int], ctx: BatchContext
) -> Batch:
    """Step 1 inputs; the placeholders to fill are its predicted positions (labels <mask>; no loss is taken)."""
    sequences = []
    for tokens, k, lang, target in zip(sources, lengths, languages, targets, strict=True):
        layout = ctx.pair(tokens, lang, np.full(k, ctx.specials.mask), target)
        seq = _drop(layout, (layout.segment == TARGET) & layout.special)  # no </s> around the placeholders
        seq.labels[seq.segment == TARGET] = ctx.specials.mask
        sequences.append(seq)
    return collate(sequences, ctx.specials, ctx.row_length, [seq.segment for seq in sequences], GENERATION_SEES)


def decode(logits: torch.Tensor, step1: Batch, ctx: BatchContext, rng: np.random.Generator) -> list[np.ndarray]:
    """Pseudo tokens from the (N, V) logits at step 1's placeholders, never a special token; one array per sequence."""
    logits = logits.float()
    logits[:, list(ctx.specials.special)] = float("-inf")
    if ctx.config.bt_decoding == "argmax":
        tokens = logits.argmax(dim=-1)
    else:
        tokens = _sample(logits, ctx.config.bt_temperature, ctx.config.bt_top_k, rng)
    return [part.numpy() for part in per_sequence(tokens.cpu(), step1)]  # one copy to the host, not one a sequence


def _sample(logits: torch.Tensor, temperature: float, top_k: int, rng: np.random.Generator) -> torch.Tensor:
    if top_k > 0:
        cutoff = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < cutoff, float("-inf"))
    probs = torch.softmax(logits / temperature, dim=-1)
    generator = torch.Generator(device=logits.device).manual_seed(int(rng.integers(2**62)))
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def training_batch(
    sources: list[np.ndarray],
    languages: list[int],
    pseudo: list[np.ndarray],
    targets: list[int],
    ctx: BatchContext,
    rng: np.random.Generator,
) -> Batch:
    """Step 2: `<s> x' </s></s> h </s>`, masks and labels on the source sentence only."""
    sequences = [
        ctx.pair(x, lang, h, target) for x, lang, h, target in zip(sources, languages, pseudo, targets, strict=True)
    ]
    for seq in sequences:
        mask_tokens(seq, ctx.config, ctx.specials, rng, maskable=seq.segment == SOURCE)
    return collate(sequences, ctx.specials, ctx.row_length)


def _drop(seq: Sequence, remove: np.ndarray) -> Sequence:
    keep = ~remove
    return Sequence(**{name: value[keep] for name, value in vars(seq).items()})


@dataclass(frozen=True)
class WatchedPairs:
    """Held-out translations that step 1 is watched on: source token ids and language ids, the
    reference translations' token ids and language ids, and the ids of the corpus's most frequent pieces."""

    sources: list[np.ndarray]
    languages: list[int]
    references: list[np.ndarray]
    targets: list[int]
    frequent: frozenset[int]


WATCHED_PER_LANGUAGE, FREQUENT_PIECES = 16, 10


def watch(config: Config, held: TextCorpus | None, tokenizer, language_ids: dict[str, int]):
    """The generator's watcher: on the first WATCHED_PER_LANGUAGE dev pairs of each language, X -> en,
    against the FREQUENT_PIECES most frequent pieces of the dev split; None without such pairs."""
    if held is None:
        return None
    chosen = [
        (lang, pair)
        for (english, lang), pairs in sorted(held.pairs.items())
        if english == "en" and lang in language_ids
        for pair in pairs[:WATCHED_PER_LANGUAGE]
    ]
    if not chosen or "en" not in language_ids:
        return None

    def ids(texts: list[str]) -> list[np.ndarray]:
        rows = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=config.data.max_length - 4)
        return [np.asarray(row or [tokenizer.unk_token_id], dtype=np.int64) for row in rows["input_ids"]]

    every = [text for pairs in held.pairs.values() for pair in pairs for text in pair]
    counts = Counter(np.concatenate(ids(every)).tolist())
    watched = WatchedPairs(
        sources=ids([foreign for _, (_, foreign) in chosen]),
        languages=[language_ids[lang] for lang, _ in chosen],
        references=ids([english for _, (english, _) in chosen]),
        targets=[language_ids["en"]] * len(chosen),
        frequent=frozenset(piece for piece, _ in counts.most_common(FREQUENT_PIECES)),
    )
    return partial(generator_stats, watched)


def generator_stats(pairs: WatchedPairs, ctx: BatchContext) -> dict[str, float]:
    """Step 1 run on held-out sources toward their references' languages, as training decodes it:
    the percent of generated pieces copied from the source, the percent among the most frequent
    pieces, and the mean bag-of-pieces F1 against the reference translation."""
    sources, lengths = zip(*(fit_to_budget(tokens, ctx) for tokens in pairs.sources), strict=True)
    step1 = generation_batch(list(sources), list(lengths), pairs.languages, pairs.targets, ctx)
    with torch.no_grad():
        logits = ctx.generator(step1)
    pseudo = decode(logits, step1, ctx, np.random.default_rng(0))
    generated = np.concatenate(pseudo)
    copied = np.concatenate([np.isin(h, source) for h, source in zip(pseudo, sources, strict=True)])
    return {
        "bt/copied": 100.0 * float(copied.mean()),
        "bt/frequent": 100.0 * float(np.isin(generated, list(pairs.frequent)).mean()),
        "bt/overlap_f1": 100.0
        * float(np.mean([_bag_f1(h, reference) for h, reference in zip(pseudo, pairs.references, strict=True)])),
    }


def _bag_f1(generated: np.ndarray, reference: np.ndarray) -> float:
    common = sum((Counter(generated.tolist()) & Counter(reference.tolist())).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(generated), common / len(reference)
    return 2 * precision * recall / (precision + recall)


OBJECTIVE = Objective("btmlm", "BTMLM", "mono", build_batch, check=check, watch=watch)
