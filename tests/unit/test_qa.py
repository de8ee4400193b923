"""Extractive QA: windows and their answer positions, span choice from planted logits, and a short
fine-tune of a tiny random model that must learn the answers of a fixed template."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import XLMRobertaConfig, XLMRobertaForQuestionAnswering

from ernie_m.data.tokenizer import train_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.finetune import FinetuneConfig, finetune
from ernie_m.evaluate.metrics import squad_scores
from ernie_m.evaluate.qa import (
    eval_features,
    gold_answers,
    predict_answers,
    train_features,
)
from ernie_m.evaluate.readers import QAExample

ANIMALS = "cat dog bird fish horse cow".split()
PLACES = "river garden house city lake mountain forest bridge".split()
COLORS = "red blue green black white yellow".split()
OTHER = "the a lives near and sleeps in where does live is old small big tree sun moon".split()
# More words for the tokenizer's training text, so that it can hold 80 pieces.
FILLER = (
    "apple bread cheese chair letter paper school teacher friend mother father summer winter quiet road "
    "window door street morning night water table book music flower kitchen"
).split()


def template(i: int) -> QAExample:
    """`the <color> <animal> lives near the <place> ...`: where does the <animal> live? -> <place>."""
    rng = np.random.default_rng(i)
    color, animal, place, other = rng.choice(COLORS), rng.choice(ANIMALS), rng.choice(PLACES), rng.choice(PLACES)
    context = f"the {color} {animal} lives near the {place} and sleeps in the {other} ."
    return QAExample(
        f"q{i}", f"where does the {animal} live ?", context, ((place, context.index(f"near the {place}") + 9),)
    )


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = ANIMALS + PLACES + COLORS + OTHER + FILLER
    text = [" ".join(rng.choice(words, size=rng.integers(4, 12))) + " ." for _ in range(300)]
    text += [template(i).context for i in range(100)] + [template(i).question for i in range(100)]
    return train_tokenizer(text, tmp_path_factory.mktemp("qa") / "tokenizer", vocab_size=80)


# --- windows -------------------------------------------------------------------------------------------------


def long_example() -> QAExample:
    contexts = [template(i).context for i in range(12)]
    contexts.insert(6, "the old horse lives near the small bridge .")
    context = " ".join(contexts)
    return QAExample(
        "long", "where does the old horse live ?", context, (("small bridge", context.index("small bridge")),)
    )


def context_spans(offsets) -> list[tuple[int, int]]:
    return [span for span in offsets if span is not None]


def test_windows_overlap_by_the_stride_and_cover_the_context(tokenizer):
    example = long_example()
    features, windows = eval_features(tokenizer, [example], max_length=40, stride=8)
    assert len(features) >= 4
    assert all(
        len(f["input_ids"]) <= 40 and len(f["input_ids"]) == len(w["offsets"])
        for f, w in zip(features, windows, strict=True)
    )
    assert all(w["example"] == 0 for w in windows)
    spans = [context_spans(w["offsets"]) for w in windows]
    for before, after in itertools.pairwise(spans):
        assert before[-8:] == after[:8]  # exactly `stride` context tokens shared
    whole = tokenizer(example.context, add_special_tokens=False)["input_ids"]
    assert sum(len(s) for s in spans) - 8 * (len(spans) - 1) == len(whole)
    # Outside the context (question, <s>, </s>) there are no offsets.
    question = tokenizer(example.question, add_special_tokens=False)["input_ids"]
    assert all(sum(o is None for o in w["offsets"]) == len(question) + 4 for w in windows)
    assert windows[0]["offsets"][0] is None and features[0]["input_ids"][0] == tokenizer.cls_token_id


def test_answer_positions_decode_to_the_answer_or_point_at_s(tokenizer):
    example = long_example()
    text, char_start = example.answers[0]
    features = train_features(tokenizer, [example], max_length=40, stride=8)
    _, windows = eval_features(tokenizer, [example], max_length=40, stride=8)
    assert len(features) == len(windows)
    holding = 0
    for feature, window in zip(features, windows, strict=True):
        spans = context_spans(window["offsets"])
        start, end = feature["start_positions"], feature["end_positions"]
        if spans[0][0] <= char_start and char_start + len(text) <= spans[-1][1]:
            holding += 1
            offsets = window["offsets"]
            assert 0 < start <= end
            assert example.context[offsets[start][0] : offsets[end][1]] == text
        else:
            assert (start, end) == (0, 0)
    assert 1 <= holding < len(features)


def test_long_questions_are_cut_and_tiny_windows_refused(tokenizer):
    example = template(0)
    long_question = QAExample("q", " ".join([example.question] * 20), example.context, example.answers)
    features = train_features(tokenizer, [long_question], max_length=64, stride=8, max_query_tokens=10)
    assert all(len(f["input_ids"]) <= 64 for f in features)
    _, windows = eval_features(tokenizer, [long_question], max_length=64, stride=8, max_query_tokens=10)
    assert all(sum(o is None for o in w["offsets"]) <= 10 + 4 for w in windows)
    with pytest.raises(ErnieMError, match="stride"):
        train_features(tokenizer, [example], max_length=12, stride=8)


# --- span choice from planted logits -------------------------------------------------------------------------


class PlantedModel(nn.Module):
    """Returns the given (start, end) logits, one pair per window, in the order the windows come."""

    def __init__(self, logits: list[tuple[list[float], list[float]]]):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        self.logits = list(logits)

    def forward(self, input_ids, attention_mask):
        rows, self.logits = self.logits[: len(input_ids)], self.logits[len(input_ids) :]
        width = input_ids.shape[1]
        pad = [-1e4] * width
        start = torch.tensor([(s + pad)[:width] for s, _ in rows])
        end = torch.tensor([(e + pad)[:width] for _, e in rows])
        return SimpleNamespace(start_logits=start, end_logits=end)


def word_window(example: int, context: str, first: int, count: int, question_tokens: int = 3):
    """A window of words first..first+count-1 of `context`: <s>, question, </s></s>, words, </s>."""
    starts = [i for i, char in enumerate(context) if char != " " and (i == 0 or context[i - 1] == " ")]
    words = [(s, context.index(" ", s) if " " in context[s:] else len(context)) for s in starts]
    offsets = [None] * (question_tokens + 3) + words[first : first + count] + [None]
    feature = {"input_ids": [0] + [5] * (len(offsets) - 2) + [2], "attention_mask": [1] * len(offsets)}
    return feature, {"example": example, "offsets": offsets}


def planted(length: int, high: dict[int, float]) -> list[float]:
    return [high.get(i, 0.0) for i in range(length)]


CONTEXT = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11"


def predict(logits, windows_and_features, examples, **options) -> dict[str, str]:
    features = [f for f, _ in windows_and_features]
    windows = [w for _, w in windows_and_features]
    return predict_answers(PlantedModel(logits), features, windows, examples, batch_size=2, **options)


def test_the_planted_span_wins_and_the_question_is_never_chosen():
    example = QAExample("a", "q", CONTEXT, ())
    window = word_window(0, CONTEXT, 0, 12)  # context tokens at positions 6..17
    logits = [(planted(19, {1: 50.0, 8: 5.0}), planted(19, {2: 50.0, 10: 5.0}))]
    assert predict(logits, [window], [example]) == {"a": "w2 w3 w4"}


def test_no_end_before_start_and_no_span_over_the_limit():
    example = QAExample("a", "q", CONTEXT, ())
    window = word_window(0, CONTEXT, 0, 12)
    # The highest end lies before the highest start; the next best end is after it.
    logits = [(planted(19, {10: 9.0, 6: 1.0}), planted(19, {7: 9.0, 12: 2.0}))]
    assert predict(logits, [window], [example]) == {"a": "w4 w5 w6"}
    # start w0 + end w11 scores highest but is 12 tokens long; within 3 tokens w1..w3 is best.
    logits = [(planted(19, {6: 9.0, 7: 5.0}), planted(19, {17: 9.0, 9: 5.0}))]
    assert predict(logits, [window], [example], max_answer_tokens=3) == {"a": "w1 w2 w3"}
    assert predict(logits, [window], [example], max_answer_tokens=12) == {"a": CONTEXT}


def test_the_best_window_of_each_example_wins():
    first, second = QAExample("a", "q", CONTEXT, ()), QAExample("b", "q", CONTEXT, ())
    windows = [
        word_window(0, CONTEXT, 0, 6),
        word_window(1, CONTEXT, 0, 12),  # a: w0..w5; b: w0..w11
        word_window(0, CONTEXT, 4, 6),
        word_window(0, CONTEXT, 8, 4),
    ]  # a: w4..w9, w8..w11
    logits = [
        (planted(13, {7: 4.0}), planted(13, {8: 4.0})),  # a: w1 w2, score 8
        (planted(19, {8: 1.0}), planted(19, {8: 1.0})),  # b: w2
        (planted(13, {9: 5.0}), planted(13, {10: 5.0})),  # a: w7 w8, score 10
        (planted(11, {6: 4.5}), planted(11, {7: 4.5})),  # a: w8 w9, score 9
    ]
    assert predict(logits, windows, [first, second]) == {"a": "w7 w8", "b": "w2"}


# --- a short fine-tune ---------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """A model this small gains nothing from intra-op threads, and they crawl when another process holds the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_short_finetune_learns_the_template(tokenizer, one_thread):
    examples = [template(i) for i in range(20)]
    assert len({text for e in examples for text, _ in e.answers}) > 3  # the answer is not one constant word
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
    )
    model = XLMRobertaForQuestionAnswering(config)
    pad = tokenizer.pad_token_id
    train = train_features(tokenizer, examples, max_length=64, stride=16)
    assert len(train) == len(examples) and all(f["start_positions"] > 0 for f in train)
    features, windows = eval_features(tokenizer, examples, max_length=64, stride=16)
    golds = gold_answers(examples)

    def exact_match(model) -> float:
        return squad_scores(predict_answers(model, features, windows, examples, pad_id=pad), golds, "en")["exact_match"]

    before = exact_match(model)
    options = FinetuneConfig(epochs=15, batch_size=4, lr=3e-3, layer_decay=1.0, warmup_ratio=0.1, device="cpu")
    model, scores = finetune(model, train, exact_match, options, pad, progress=False)
    assert before < 30.0
    assert max(scores) >= 90.0
