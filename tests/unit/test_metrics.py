"""Metrics of the evaluation suite, pinned with cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from seqeval.scheme import IOB2, Entities

from ernie_m.errors import ErnieMError
from ernie_m.evaluate.metrics import (
    accuracy,
    best_threshold,
    bucc_f1,
    entity_f1,
    margin_scores,
    mine_pairs,
    mlqa_exact_match,
    mlqa_f1,
    normalize_answer,
    overlap_similarity,
    paired_bootstrap,
    retrieval_accuracy,
    squad_scores,
)

# --- classification ------------------------------------------------------------------------------------------


def test_accuracy_is_a_percentage_and_rejects_mismatched_lengths():
    assert accuracy([1, 0, 2, 2], [1, 1, 2, 0]) == 50.0
    with pytest.raises(ErnieMError):
        accuracy([1, 0], [1])
    with pytest.raises(ErnieMError):
        accuracy([], [])


# --- NER -----------------------------------------------------------------------------------------------------


def test_entity_f1_perfect_prediction_is_100():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    assert entity_f1(gold, gold) == 100.0


def test_entity_f1_type_error_counts_as_a_miss_and_a_false_alarm():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    predicted = [["B-ORG", "I-ORG", "O", "B-LOC"]]
    # 2 gold, 2 predicted, 1 correct: P = R = 1/2.
    assert entity_f1(predicted, gold) == pytest.approx(50.0)


def test_entity_f1_boundary_error_over_two_sentences():
    gold = [["B-PER", "I-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    # PER(0..1) is not PER(0..2): 3 gold, 3 predicted, 2 correct -> P = R = F1 = 2/3.
    assert entity_f1(predicted, gold) == pytest.approx(200 / 3)


def test_iob1_tags_converted_by_hand_and_how_each_reading_counts_them():
    # CoNLL-2003 (IOB1): B- only where an entity directly follows another of its type.
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]  # the readers' conversion, done by hand
    # A strict IOB2 reading of the raw IOB1 tags loses the entities that open with I-: 1 entity instead of 3.
    assert len(Entities([iob1], IOB2).entities[0]) == 1
    assert len(Entities([iob2], IOB2).entities[0]) == 3
    # entity_f1 is seqeval's default (conlleval) reading: it finds the same 3 entities either way.
    assert entity_f1([iob1], [iob2]) == 100.0
    # Against the converted gold, a prediction holding only the strict reading's one entity scores
    # P = 1/1, R = 1/3, F1 = 2 * (1/3) / (4/3) = 1/2.
    assert entity_f1([["O", "O", "B-PER", "O", "O"]], [iob2]) == pytest.approx(50.0)


def test_entity_f1_rejects_sentences_of_different_lengths():
    with pytest.raises(ErnieMError, match="sentence 0"):
        entity_f1([["O"]], [["O", "B-PER"]])
    with pytest.raises(ErnieMError):
        entity_f1([["O"]], [["O"], ["O"]])


# --- MLQA ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("The Eiffel Tower!", "en", "eiffel tower"),
        ("The anthem", "en", "anthem"),  # articles go as whole words only
        ("la casa blanca", "es", "casa blanca"),
        ("«Hola»", "es", "hola"),  # U+00AB / U+00BB are Unicode punctuation (Pi, Pf)
        ("¿Qué?", "es", "qué"),
        ("Der Bundestag", "de", "bundestag"),
        ("những con mèo", "vi", "con mèo"),
        ("भारत।", "hi", "भारत"),  # the danda U+0964 is punctuation (Po)
        ("$100 — 5€", "en", "100 5€"),  # ASCII $ goes (string.punctuation), the dash (Pd) too; € (Sc) stays
        ("北京大学", "zh", "北 京 大 学"),
        ("2008年北京奥运会", "zh", "2008 年 北 京 奥 运 会"),
        ("iPhone 手机。", "zh", "iphone 手 机"),
        ("الكتاب", "ar", "كتاب"),  # the definite prefix
        ("ذهب ال ولد", "ar", "ذهب ولد"),  # the standalone token
        ("سؤال", "ar", "سؤ"),  # and the same two letters anywhere else, as the MLQA script does
    ],
)
def test_normalize_answer(text, language, expected):
    assert normalize_answer(text, language) == expected


def test_normalize_answer_rejects_an_unknown_language():
    with pytest.raises(ErnieMError, match="unknown language 'fr'"):
        normalize_answer("le chat", "fr")


@pytest.mark.parametrize(
    ("prediction", "answer", "language"),
    [
        ("la casa blanca", "casa blanca", "es"),
        ("Der Bundestag", "Bundestag", "de"),
        ("the Eiffel Tower.", "Eiffel Tower", "en"),
        ("«Hola»", "hola", "es"),
        ("¿Qué?", "qué", "es"),
        ("cái bàn", "bàn", "vi"),
        ("الولد", "ولد", "ar"),
        ("北京 大学", "北京大学", "zh"),
    ],
)
def test_article_and_punctuation_removal_make_an_exact_match(prediction, answer, language):
    assert mlqa_exact_match(prediction, [answer], language) == 1.0
    assert mlqa_f1(prediction, [answer], language) == 1.0


def test_mixed_segmentation_gives_partial_f1_in_chinese():
    # tokens 北 京 大 学 against 北 京: P = 2/4, R = 2/2, F1 = 2/3.
    assert mlqa_exact_match("北京大学", ["北京"], "zh") == 0.0
    assert mlqa_f1("北京大学", ["北京"], "zh") == pytest.approx(2 / 3)
    # whitespace tokens would have shared nothing
    assert mlqa_f1("北京大学", ["北京"], "hi") == 0.0


def test_partial_f1_in_english_and_arabic():
    # "tower of london" vs "tower bridge": 1 shared, P = 1/3, R = 1/2, F1 = 2/5.
    assert mlqa_f1("the Tower of London", ["Tower Bridge"], "en") == pytest.approx(0.4)
    # "ذهب ولد" vs "ولد": P = 1/2, R = 1, F1 = 2/3.
    assert mlqa_f1("ذهب الولد", ["الولد"], "ar") == pytest.approx(2 / 3)


def test_scores_take_the_best_gold_answer():
    assert mlqa_exact_match("casa", ["la casa blanca", "una casa"], "es") == 1.0
    # against "casa": P = 1/3, R = 1, F1 = 1/2; against "casa blanca": P = 2/3, R = 1, F1 = 4/5.
    assert mlqa_f1("casa blanca grande", ["casa", "la casa blanca"], "es") == pytest.approx(0.8)
    assert mlqa_exact_match("casa blanca grande", ["casa", "la casa blanca"], "es") == 0.0


def test_an_answer_that_normalises_to_nothing_matches_exactly_but_shares_no_token():
    # as SQuAD v1.1 and the MLQA script: EM compares strings, F1 needs a shared token
    assert mlqa_exact_match("The", ["a"], "en") == 1.0
    assert mlqa_f1("The", ["a"], "en") == 0.0


def test_squad_scores_average_over_questions_and_count_a_missing_prediction_as_zero():
    golds = {"q1": ["la casa blanca"], "q2": ["casa"], "q3": ["el perro"]}
    predictions = {"q1": "casa blanca", "q2": "casa grande"}  # q3 unanswered
    scores = squad_scores(predictions, golds, "es")
    # EM: 1, 0, 0 -> 33.3; F1: 1, (P 1/2, R 1) 2/3, 0 -> 55.6
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)


def test_a_question_without_gold_answers_is_an_error():
    with pytest.raises(ErnieMError):
        mlqa_f1("x", [], "en")


# --- Tatoeba -------------------------------------------------------------------------------------------------


def test_retrieval_accuracy_with_a_planted_mismatch():
    similarity = np.eye(4) + 0.1
    similarity[2, 3] = 2.0  # row 2's best column is 3
    assert retrieval_accuracy(similarity) == 75.0
    with pytest.raises(ErnieMError):
        retrieval_accuracy(np.ones((3, 2)))


def test_overlap_similarity_is_tfidf_cosine():
    """Known values: a piece found in every sentence weighs less than a rare one (smoothed idf, l2 rows)."""
    x = [["▁the", "▁cat"], ["▁the", "▁dog"]]
    y = [["▁the", "▁cat"], ["▁a", "▁bird"]]
    similarity = overlap_similarity(x, y)
    assert similarity.shape == (2, 2)
    assert similarity[0, 0] == pytest.approx(1.0) and similarity[1, 1] == 0.0 and similarity[0, 1] == 0.0
    # idf(the) = ln(5/4) + 1 (3 of 4 sentences), idf(dog) = ln(5/2) + 1, idf(cat) = ln(5/3) + 1
    the, dog, cat = np.log(5 / 4) + 1, np.log(5 / 2) + 1, np.log(5 / 3) + 1
    assert similarity[1, 0] == pytest.approx(the * the / np.hypot(the, dog) / np.hypot(the, cat))
    assert retrieval_accuracy(overlap_similarity(x, x)) == 100.0


def test_paired_bootstrap_difference_and_interval():
    """Identical systems differ by exactly 0; a constant gap has a zero-width interval; a gap on some
    sentences gets an interval around it that a seed reproduces."""
    same = np.array([1.0, 0.0, 1.0, 1.0])
    assert paired_bootstrap(same, same) == (0.0, 0.0, 0.0)
    assert paired_bootstrap(np.ones(5), np.zeros(5)) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(1)
    b = rng.integers(0, 2, 400).astype(float)
    a = b.copy()
    a[:100] = 1.0  # a finds every sentence b finds, and some of the first 100 more
    difference, low, high = paired_bootstrap(a, b)
    assert difference == pytest.approx((a - b).mean()) and 0 < low < difference < high
    assert paired_bootstrap(a, b) == (difference, low, high)
    with pytest.raises(ErnieMError):
        paired_bootstrap(a, b[:10])


# --- BUCC ----------------------------------------------------------------------------------------------------


def unit_rows(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_margin_scores_equal_the_formula_evaluated_pair_by_pair():
    x = unit_rows([[1, 0], [1, 1], [0, 1]])
    y = unit_rows([[1, 0.2], [0.3, 1], [-1, 0.5], [1, -1]])
    k = 2
    cos = [[float(a @ b) for b in y] for a in x]
    x_knn = [sum(sorted(row, reverse=True)[:k]) / k for row in cos]
    y_knn = [sum(sorted((cos[i][j] for i in range(3)), reverse=True)[:k]) / k for j in range(4)]
    expected = [[cos[i][j] / ((x_knn[i] + y_knn[j]) / 2) for j in range(4)] for i in range(3)]
    np.testing.assert_allclose(margin_scores(x, y, k=k), expected, rtol=1e-12)
    # k larger than a side is capped at its size: the mean over all of it
    full = margin_scores(x, y, k=10)
    cos = np.array(cos)
    np.testing.assert_allclose(full, cos / ((cos.mean(1)[:, None] + cos.mean(0)[None, :]) / 2))


@pytest.fixture(scope="module")
def planted():
    """8 planted pairs (x_i ~ y_i) among 12 x and 20 y; the rest are random distractors."""
    rng = np.random.default_rng(0)
    y = unit_rows(rng.normal(size=(20, 16)))
    partners = rng.permutation(20)[:8]
    x = unit_rows(np.concatenate([y[partners] + 0.05 * rng.normal(size=(8, 16)), rng.normal(size=(4, 16))]))
    x_ids, y_ids = [f"de-{i}" for i in range(12)], [f"en-{j}" for j in range(20)]
    gold = {(x_ids[i], y_ids[j]) for i, j in enumerate(partners)}
    return x_ids, x, y_ids, y, gold


def test_mining_recovers_planted_pairs_first_one_to_one_with_their_margins(planted):
    x_ids, x, y_ids, y, gold = planted
    mined = mine_pairs(x_ids, x, y_ids, y, k=4)
    assert {(a, b) for a, b, _ in mined[:8]} == gold
    assert min(s for *_, s in mined[:8]) > max(s for *_, s in mined[8:])
    assert len({a for a, _, _ in mined}) == len({b for _, b, _ in mined}) == len(mined)
    scores = [s for *_, s in mined]
    assert scores == sorted(scores, reverse=True)
    margins = margin_scores(x, y, k=4)
    for a, b, score in mined:
        assert score == pytest.approx(margins[x_ids.index(a), y_ids.index(b)])


def test_mining_in_small_blocks_gives_the_same_pairs(planted):
    x_ids, x, y_ids, y, _ = planted
    whole = mine_pairs(x_ids, x, y_ids, y)
    blocked = mine_pairs(x_ids, x, y_ids, y, block_size=3)
    assert [(a, b) for a, b, _ in blocked] == [(a, b) for a, b, _ in whole]
    np.testing.assert_allclose([s for *_, s in blocked], [s for *_, s in whole])


def test_mining_keeps_pairs_one_to_one_in_decreasing_margin():
    # With k = 1: forward x0 -> y0 (margin 1.0) and x1 -> y0 (0.986); backward y0 -> x0, y1 -> x1 (0.851).
    # (x1, y0) outscores (x1, y1) but y0 is taken by then; a plain union would keep all three pairs.
    x = unit_rows([[1, 0, 0], [1, 0.3, 0]])
    y = unit_rows([[1, 0.05, 0], [1, 1, 1]])
    margins = margin_scores(x, y, k=1)
    assert margins[1, 0] > margins[1, 1] > margins[0, 1]
    mined = mine_pairs(["x0", "x1"], x, ["y0", "y1"], y, k=1)
    assert mined == [("x0", "y0", pytest.approx(margins[0, 0])), ("x1", "y1", pytest.approx(margins[1, 1]))]


CANDIDATES = [
    ("x1", "y1", 0.9),
    ("x2", "y2", 0.8),
    ("x3", "y9", 0.7),
    ("x4", "y4", 0.6),
    ("x5", "y8", 0.5),
]
GOLD = {("x1", "y1"), ("x2", "y2"), ("x4", "y4"), ("x6", "y6")}


def test_best_threshold_and_bucc_f1_on_a_hand_made_list():
    # F1 = 2c / (extracted + gold) after each cut: 2/5, 4/6, 4/7, 6/8, 6/9 -> best after the 4th candidate.
    threshold = best_threshold(CANDIDATES, GOLD)
    assert threshold == pytest.approx(0.55)
    assert bucc_f1(CANDIDATES, GOLD, threshold) == pytest.approx({"precision": 75.0, "recall": 75.0, "f1": 75.0})
    # everything: P = 3/5, R = 3/4, F1 = 2/3
    assert bucc_f1(CANDIDATES, GOLD, 0.0) == pytest.approx({"precision": 60.0, "recall": 75.0, "f1": 200 / 3})
    assert bucc_f1(CANDIDATES, GOLD, 1.0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_best_threshold_never_splits_equal_scores():
    candidates = [("a", "a", 0.9), ("b", "b", 0.5), ("c", "z", 0.5)]
    gold = {("a", "a"), ("b", "b")}
    # cuts: after a -> F1 2/3; after both 0.5s -> 2*2/(3+2) = 4/5 (cutting between them is not allowed)
    threshold = best_threshold(candidates, gold)
    assert threshold == 0.5
    assert bucc_f1(candidates, gold, threshold)["f1"] == pytest.approx(80.0)


def test_best_threshold_with_nothing_correct_extracts_nothing():
    threshold = best_threshold([("a", "b", 0.9)], {("a", "a")})
    assert threshold > 0.9
    assert bucc_f1([("a", "b", 0.9)], {("a", "a")}, threshold)["precision"] == 0.0
