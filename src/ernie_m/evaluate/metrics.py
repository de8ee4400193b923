"""Scores of the evaluation suite, as XTREME computes them.

* classification (XNLI, PAWS-X): accuracy in percent;
* NER (CoNLL): entity-level F1 in percent, seqeval's default (conlleval-compatible) reading of IOB2 tags;
* MLQA: exact match and token F1 after the MLQA normalisation (lowercase, no punctuation, no articles,
  whitespace tokens; mixed segmentation for Chinese), re-implemented from its description;
* Tatoeba: nearest-neighbour accuracy of a similarity matrix; the same pairs scored by TF-IDF over the
  tokenizer's pieces as the floor that token overlap alone reaches;
* BUCC: ratio-margin mining (Artetxe & Schwenk 2019, k = 4) and the F1 of the pairs above a threshold
  tuned on dev.

Every retrieval function is vectorised: similarities come from matrix products, neighbours from
`argpartition`, in row blocks so that the largest matrix held is (block, other side).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ernie_m.errors import ErnieMError

# ---------------------------------------------------------------------------------------------------------------
# Classification and NER
# ---------------------------------------------------------------------------------------------------------------


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Percent (0-100) of positions where the prediction equals the label."""
    predicted, gold = np.asarray(predictions), np.asarray(labels)
    if predicted.shape != gold.shape or predicted.ndim != 1:
        raise ErnieMError(f"accuracy: {predicted.shape} predictions for {gold.shape} labels")
    if gold.size == 0:
        raise ErnieMError("accuracy: no examples")
    return 100.0 * float(np.mean(predicted == gold))


def entity_f1(predicted: list[list[str]], gold: list[list[str]]) -> float:
    """Entity-level micro F1 in percent over sentences of IOB2 tags (`B-PER`, `I-PER`, `O`).

    seqeval's default mode, as XTREME runs it: an entity is a maximal run that starts at `B-X`, or at `I-X`
    after `O` or after another type, and a predicted entity counts only if type, start and end all match.
    (seqeval consults `scheme` only in its strict mode, which drops ill-formed predicted entities; the
    default mode is the conlleval reading, so the readers convert IOB1 corpora to IOB2 for the sake of the
    files and the tags the model learns, not for this score.)
    """
    # seqeval imports scikit-learn: load it only where an NER score is wanted.
    from seqeval.metrics import f1_score

    if len(predicted) != len(gold):
        raise ErnieMError(f"entity_f1: {len(predicted)} predicted sentences for {len(gold)} gold ones")
    for index, (tags, reference) in enumerate(zip(predicted, gold, strict=True)):
        if len(tags) != len(reference):
            raise ErnieMError(f"entity_f1: sentence {index} has {len(tags)} predicted tags for {len(reference)} gold")
    return 100.0 * float(f1_score(gold, predicted, zero_division=0))


# ---------------------------------------------------------------------------------------------------------------
# MLQA
# ---------------------------------------------------------------------------------------------------------------

# Articles, removed as whole words (after lowercasing and punctuation removal). Arabic is the exception,
# kept as the MLQA script behaves: its pattern's only live alternative is the bare two letters "ال", so every
# occurrence is replaced by a space: the definite prefix ("الكتاب" -> "كتاب"), the standalone token, and the
# same letters inside or at the end of a word ("سؤال" -> "سؤ"). Reported MLQA-ar numbers rest on this.
_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(?:a|an|the)\b"),
    "es": re.compile(r"\b(?:un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(?:ein|eine|einem|einen|einer|eines|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(?:của|là|cái|chiếc|những)\b"),
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
MLQA_LANGUAGES = tuple(_ARTICLES)

# Chinese "mixed segmentation": each character of this range (the one the MLQA script uses, U+4E00..U+9FA5)
# is a token of its own; any other run of non-space characters (Latin words, digits) is one token.
_MIXED_TOKEN = re.compile("[\u4e00-\u9fa5]|[^\\s\u4e00-\u9fa5]+")


def _is_punctuation(char: str) -> bool:
    # Unicode punctuation (categories P*), plus ASCII string.punctuation, whose $ + < = > ^ ` | ~ are symbols (S*).
    return unicodedata.category(char).startswith("P") or char in string.punctuation


def _tokens(normalized: str, language: str) -> list[str]:
    if language == "zh":
        return _MIXED_TOKEN.findall(normalized)
    return normalized.split()


def normalize_answer(text: str, language: str) -> str:
    """MLQA normalisation: lowercase, drop punctuation, drop articles, tokenise, join tokens by one space.

    `language` is one of en, es, de, vi, ar, hi, zh; for zh each CJK character becomes a token, so
    "北京大学" normalises to "北 京 大 学".
    """
    if language not in _ARTICLES:
        raise ErnieMError(f"MLQA normalisation: unknown language {language!r} (known: {', '.join(MLQA_LANGUAGES)})")
    text = "".join(char for char in text.lower() if not _is_punctuation(char))
    articles = _ARTICLES[language]
    if articles is not None:
        text = articles.sub(" ", text)
    return " ".join(_tokens(text, language))


def _max_over_answers(score, prediction: str, answers: Sequence[str], language: str) -> float:
    if not answers:
        raise ErnieMError("MLQA score: a question without gold answers")
    normalized = normalize_answer(prediction, language)
    return max(score(normalized, normalize_answer(answer, language)) for answer in answers)


def _exact(prediction: str, answer: str) -> float:
    return float(prediction == answer)


def _token_f1(prediction: str, answer: str) -> float:
    # Bag-of-tokens overlap; no shared token (two empty answers included) scores 0, as in SQuAD v1.1.
    predicted, gold = prediction.split(), answer.split()
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def mlqa_exact_match(prediction: str, answers: Sequence[str], language: str) -> float:
    """1.0 if the normalised prediction equals some normalised gold answer, else 0.0."""
    return _max_over_answers(_exact, prediction, answers, language)


def mlqa_f1(prediction: str, answers: Sequence[str], language: str) -> float:
    """Best token-overlap F1 (0..1) of the prediction against the gold answers, on normalised tokens."""
    return _max_over_answers(_token_f1, prediction, answers, language)


def squad_scores(predictions: dict[str, str], golds: dict[str, list[str]], language: str) -> dict[str, float]:
    """{"exact_match", "f1"} in percent, averaged over the questions of `golds` (question id -> answers).

    A question without a prediction scores 0 on both, as in the MLQA script.
    """
    if not golds:
        raise ErnieMError("squad_scores: no questions")
    exact = f1 = 0.0
    for question, answers in golds.items():
        if question in predictions:
            exact += mlqa_exact_match(predictions[question], answers, language)
            f1 += mlqa_f1(predictions[question], answers, language)
    return {"exact_match": 100.0 * exact / len(golds), "f1": 100.0 * f1 / len(golds)}


# ---------------------------------------------------------------------------------------------------------------
# Tatoeba and BUCC
# ---------------------------------------------------------------------------------------------------------------

# Rows per block of the blocked similarity products: (block, other side) float32 stays near 256 MiB.
_BLOCK_ELEMENTS = 1 << 26


def retrieval_hits(similarity: np.ndarray) -> np.ndarray:
    """(N,) bool: whether row i's most similar column is column i. similarity: (N, M), N <= M."""
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or not 0 < similarity.shape[0] <= similarity.shape[1]:
        raise ErnieMError(f"retrieval: need an (N, M) matrix with 0 < N <= M, got {similarity.shape}")
    return similarity.argmax(axis=1) == np.arange(similarity.shape[0])


def retrieval_accuracy(similarity: np.ndarray) -> float:
    """Percent of rows i whose most similar column is column i. similarity: (N, M), N <= M."""
    return 100.0 * float(retrieval_hits(similarity).mean())


def paired_bootstrap(a: np.ndarray, b: np.ndarray, samples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b and its 95% percentile interval, resampling the items (sentences) with
    replacement, the same items for both: a and b are (N,) per-item scores of two systems on the
    same N items (e.g. a sentence's retrieval hit, averaged over seeds)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ErnieMError(
            f"paired_bootstrap: need two (N,) score arrays over the same items, got {a.shape} and {b.shape}"
        )
    difference = a - b
    rng = np.random.default_rng(seed)
    means = np.array([difference[rng.integers(0, len(difference), len(difference))].mean() for _ in range(samples)])
    low, high = np.percentile(means, [2.5, 97.5])
    return float(difference.mean()), float(low), float(high)


def overlap_similarity(x_pieces: Sequence[Sequence[str]], y_pieces: Sequence[Sequence[str]]) -> np.ndarray:
    """(N, M) cosine similarity of TF-IDF vectors of tokenised sentences, the inverse document
    frequencies counted over both sides together: retrieval by shared pieces alone (numbers, names,
    cognates), the floor that a neural encoder's retrieval is read against."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=list, norm="l2")  # sentences arrive as lists of pieces
    vectors = vectorizer.fit_transform([*x_pieces, *y_pieces])  # sparse, rows of unit length
    return (vectors[: len(x_pieces)] @ vectors[len(x_pieces) :].T).toarray()


def _check_embeddings(x: np.ndarray, y: np.ndarray, k: int) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) == 0 or len(y) == 0:
        raise ErnieMError(f"margin: need (N, D) and (M, D) embeddings, got {x.shape} and {y.shape}")
    if k < 1:
        raise ErnieMError(f"margin: k must be at least 1, got {k}")


def _top_k_mean(similarity: np.ndarray, k: int) -> np.ndarray:
    """(N, M) -> (N,): mean of each row's k largest values."""
    columns = similarity.shape[1]
    return np.partition(similarity, columns - k, axis=1)[:, columns - k :].mean(axis=1)


def margin_scores(x: np.ndarray, y: np.ndarray, k: int = 4) -> np.ndarray:
    """Ratio margin of every pair: (N, D), (M, D) L2-normalised -> (N, M).

    margin(x, y) = cos(x, y) / ((mean cos of x's k nearest y + mean cos of y's k nearest x) / 2),
    k capped at the size of the other side.
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_embeddings(x, y, k)
    similarity = x @ y.T  # (N, M)
    forward = _top_k_mean(similarity, min(k, len(y)))  # (N,)
    backward = _top_k_mean(similarity.T, min(k, len(x)))  # (M,)
    return similarity / ((forward[:, None] + backward[None, :]) / 2)


def _nearest(queries: np.ndarray, keys: np.ndarray, k: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest keys of each query: (N, D), (M, D) -> similarities (N, k), indices (N, k), unsorted."""
    k = min(k, len(keys))
    similarities = np.empty((len(queries), k), dtype=np.result_type(queries, keys))
    indices = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block_size):
        block = queries[start : start + block_size] @ keys.T  # (B, M)
        top = np.argpartition(block, len(keys) - k, axis=1)[:, len(keys) - k :]  # (B, k)
        indices[start : start + len(block)] = top
        similarities[start : start + len(block)] = np.take_along_axis(block, top, axis=1)
    return similarities, indices


def mine_pairs(
    x_ids: Sequence[str],
    x: np.ndarray,
    y_ids: Sequence[str],
    y: np.ndarray,
    k: int = 4,
    *,
    block_size: int = 0,
) -> list[tuple[str, str, float]]:
    """Max-margin bitext candidates, as LASER's `mine --retrieval max` (the one XTREME runs for BUCC).

    x: (N, D), y: (M, D), L2-normalised. Each x gets its best y by ratio margin among its k cosine-nearest y
    (forward), each y its best x among its k nearest x (backward). The N + M candidates are taken in
    decreasing score and a pair is kept only if neither its x nor its y is in a pair already kept, so the
    result is one-to-one and free of duplicates. Returns (x_id, y_id, margin) by decreasing margin; the
    margin equals `margin_scores(x, y, k)` at that pair. block_size: query rows per product (0: about
    2**26 similarities at a time).
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_embeddings(x, y, k)
    if len(x_ids) != len(x) or len(y_ids) != len(y):
        raise ErnieMError(f"mine_pairs: {len(x_ids)} ids for {len(x)} x, {len(y_ids)} ids for {len(y)} y")
    forward_sim, forward_ind = _nearest(x, y, k, block_size or max(1, _BLOCK_ELEMENTS // len(y)))  # (N, kx)
    backward_sim, backward_ind = _nearest(y, x, k, block_size or max(1, _BLOCK_ELEMENTS // len(x)))  # (M, ky)
    forward_mean, backward_mean = forward_sim.mean(axis=1), backward_sim.mean(axis=1)  # (N,), (M,)

    forward_margin = forward_sim / ((forward_mean[:, None] + backward_mean[forward_ind]) / 2)  # (N, kx)
    backward_margin = backward_sim / ((forward_mean[backward_ind] + backward_mean[:, None]) / 2)  # (M, ky)
    forward_pick = forward_margin.argmax(axis=1)
    backward_pick = backward_margin.argmax(axis=1)
    rows_x, rows_y = np.arange(len(x)), np.arange(len(y))
    sources = np.concatenate([rows_x, backward_ind[rows_y, backward_pick]])
    targets = np.concatenate([forward_ind[rows_x, forward_pick], rows_y])
    scores = np.concatenate([forward_margin[rows_x, forward_pick], backward_margin[rows_y, backward_pick]])
    return _one_to_one(sources, targets, scores, x_ids, y_ids)


def _one_to_one(
    sources: np.ndarray,
    targets: np.ndarray,
    scores: np.ndarray,
    x_ids: Sequence[str],
    y_ids: Sequence[str],
) -> list[tuple[str, str, float]]:
    # A loop over the N + M candidates, not over pairs: greedy in decreasing score, ties in candidate order.
    taken_x: set[int] = set()
    taken_y: set[int] = set()
    kept: list[tuple[str, str, float]] = []
    for index in np.argsort(-scores, kind="stable"):
        source, target = int(sources[index]), int(targets[index])
        if source not in taken_x and target not in taken_y:
            taken_x.add(source)
            taken_y.add(target)
            kept.append((x_ids[source], y_ids[target], float(scores[index])))
    return kept


def _best_score_per_pair(candidates: list[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    for source, target, score in candidates:
        best[(source, target)] = max(score, best.get((source, target), -math.inf))
    return best


def best_threshold(candidates: list[tuple[str, str, float]], gold: set[tuple[str, str]]) -> float:
    """The margin threshold that maximises `bucc_f1` on these (dev) candidates.

    Cuts fall only between distinct scores, at the midpoint of the last kept and the first dropped score
    (the lowest score when everything is kept); among equal F1 the highest threshold wins. With no correct
    candidate at all, a threshold above every score (nothing extracted).
    """
    if not candidates or not gold:
        raise ErnieMError(f"best_threshold: {len(candidates)} candidates, {len(gold)} gold pairs")
    best = _best_score_per_pair(candidates)
    order = sorted(best, key=best.__getitem__, reverse=True)
    scores = np.array([best[pair] for pair in order])  # decreasing
    correct = np.cumsum([pair in gold for pair in order])
    f1 = 2 * correct / (np.arange(1, len(order) + 1) + len(gold))  # 2PR/(P+R) with P = c/e, R = c/g
    f1[np.append(scores[1:] == scores[:-1], False)] = -1.0  # no cut inside a run of equal scores
    cut = int(np.argmax(f1))
    if correct[cut] == 0:
        return math.nextafter(float(scores[0]), math.inf)
    if cut == len(scores) - 1:
        return float(scores[cut])
    midpoint = float((scores[cut] + scores[cut + 1]) / 2)
    return midpoint if midpoint > scores[cut + 1] else float(scores[cut])


def bucc_f1(candidates: list[tuple[str, str, float]], gold: set[tuple[str, str]], threshold: float) -> dict[str, float]:
    """{"precision", "recall", "f1"} in percent of the distinct candidate pairs with score >= threshold."""
    if not gold:
        raise ErnieMError("bucc_f1: no gold pairs")
    extracted = {pair for pair, score in _best_score_per_pair(candidates).items() if score >= threshold}
    correct = len(extracted & gold)
    precision = correct / len(extracted) if extracted else 0.0
    recall = correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1}
