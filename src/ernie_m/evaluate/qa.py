"""Extractive question answering (MLQA, trained on SQuAD v1.1) as XTREME runs it with HF heads.

Each question is paired with windows of its context, `<s> question </s></s> context piece </s>`, at
most `max_length` tokens (384), consecutive pieces overlapping by `stride` tokens (128); questions
longer than `max_query_tokens` (64, BERT's and XTREME's `max_query_length`) are cut.

    training    every window is a feature; start/end positions are the token indices of the first
                answer, or both 0 (`<s>`) in a window that does not hold all of it (SQuAD v1.1)
    prediction  start and end logits of every window; the n_best highest starts x the n_best highest
                ends, inside the context, end >= start, at most `max_answer_tokens` (30) tokens; the
                best sum of logits over all windows of a question gives the answer, cut from the
                context by the tokens' character offsets
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ernie_m.errors import ErnieMError
from ernie_m.evaluate.finetune import model_outputs
from ernie_m.evaluate.readers import QAExample

MAX_QUERY_TOKENS = 64
_CHUNK = 1000  # examples tokenised per call: bounds the memory of offsets on SQuAD's 88k questions

Offsets = list[tuple[int, int] | None]  # per token: (start, end) characters in the context, None outside it


# --- windows -----------------------------------------------------------------------------------------


def _question_budget(tokenizer, max_length: int, stride: int, max_query_tokens: int) -> int:
    """The most question tokens that still leave a context piece longer than `stride`."""
    # The tokenizer needs stride < (tokens left for the context); it panics otherwise.
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - stride - 1
    if room < 1:
        raise ErnieMError(
            f"QA windows: max_length {max_length} leaves no room for a question and a context piece longer than "
            f"the stride {stride}; raise max_length or lower the stride"
        )
    return min(max_query_tokens, room)


def _cut_questions(tokenizer, questions: list[str], budget: int) -> list[str]:
    """The questions stripped (some SQuAD questions start with many spaces), each cut to `budget` tokens."""
    questions = [question.strip() for question in questions]
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    return [_cut_question(tokenizer, q, budget) if n > budget else q for q, n in zip(questions, lengths, strict=True)]


def _cut_question(tokenizer, question: str, budget: int) -> str:
    while True:
        encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        if len(encoded["input_ids"]) <= budget:
            return question
        # A prefix may tokenise differently, hence the loop until it fits; each turn drops a character at least.
        question = question[: min(encoded["offset_mapping"][budget][0], len(question) - 1)].rstrip()


def _windows(
    tokenizer, examples: Sequence[QAExample], max_length: int, stride: int, max_query_tokens: int
) -> Iterator[tuple[int, list[int], list[int], Offsets]]:
    """(example index, input_ids, attention_mask, context offsets) of every window, in example order."""
    budget = _question_budget(tokenizer, max_length, stride, max_query_tokens)
    for first in range(0, len(examples), _CHUNK):
        chunk = examples[first : first + _CHUNK]
        encoded = tokenizer(
            _cut_questions(tokenizer, [e.question for e in chunk], budget),
            [e.context for e in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for window, example in enumerate(encoded["overflow_to_sample_mapping"]):
            sequence = encoded.sequence_ids(window)
            offsets = [
                tuple(span) if part == 1 else None
                for span, part in zip(encoded["offset_mapping"][window], sequence, strict=True)
            ]
            yield first + example, encoded["input_ids"][window], encoded["attention_mask"][window], offsets


def _answer_tokens(offsets: Offsets, answer: tuple[str, int]) -> tuple[int, int]:
    """Token indices (start, end), inclusive, of the answer's characters; (0, 0) when the window lacks any of them."""
    text, char_start = answer
    char_start += len(text) - len(text.lstrip())  # a leading space belongs to no token
    char_end = char_start + len(text.strip())
    inside = [i for i, span in enumerate(offsets) if span is not None]
    if not inside or offsets[inside[0]][0] > char_start or offsets[inside[-1]][1] < char_end:
        return 0, 0
    start = max(i for i in inside if offsets[i][0] <= char_start)
    end = min(i for i in inside if i >= start and offsets[i][1] >= char_end)
    return start, end


def train_features(
    tokenizer,
    examples: Sequence[QAExample],
    max_length: int = 384,
    stride: int = 128,
    max_query_tokens: int = MAX_QUERY_TOKENS,
) -> list[dict]:
    """One feature per window: input_ids, attention_mask, start_positions, end_positions (of the first answer)."""
    for example in examples:
        if not example.answers:
            raise ErnieMError(f"QA training: question {example.id!r} has no answer")
    features = []
    for index, input_ids, attention_mask, offsets in _windows(
        tokenizer, examples, max_length, stride, max_query_tokens
    ):
        start, end = _answer_tokens(offsets, examples[index].answers[0])
        features.append(
            {"input_ids": input_ids, "attention_mask": attention_mask, "start_positions": start, "end_positions": end}
        )
    return features


def eval_features(
    tokenizer,
    examples: Sequence[QAExample],
    max_length: int = 384,
    stride: int = 128,
    max_query_tokens: int = MAX_QUERY_TOKENS,
) -> tuple[list[dict], list[dict]]:
    """Model inputs per window (input_ids, attention_mask), and per window {"example": index, "offsets": Offsets}."""
    features, windows = [], []
    for index, input_ids, attention_mask, offsets in _windows(
        tokenizer, examples, max_length, stride, max_query_tokens
    ):
        features.append({"input_ids": input_ids, "attention_mask": attention_mask})
        windows.append({"example": index, "offsets": offsets})
    return features, windows


# --- prediction --------------------------------------------------------------------------------------


def span_logits(
    model: torch.nn.Module, features: list[dict], batch_size: int, pad_id: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start logits (L,), end logits (L,)) of every feature, in order, padding removed."""
    return model_outputs(
        model, features, batch_size, pad_id, lambda output: (output.start_logits, output.end_logits), per_token=True
    )


def best_span(
    start: np.ndarray, end: np.ndarray, offsets: Offsets, n_best: int = 20, max_answer_tokens: int = 30
) -> tuple[float, int, int] | None:
    """(start + end logit, start, end) of the best span among the n_best starts x n_best ends inside the
    context with end >= start and at most `max_answer_tokens` tokens; None when there is none."""
    inside = np.array([i for i, span in enumerate(offsets) if span is not None], dtype=np.int64)
    if len(inside) == 0:
        return None
    starts = inside[np.argsort(-start[inside], kind="stable")[:n_best]]  # (k,)
    ends = inside[np.argsort(-end[inside], kind="stable")[:n_best]]  # (k,)
    length = ends[None, :] - starts[:, None] + 1  # (k, k)
    scores = np.where(
        (length >= 1) & (length <= max_answer_tokens), start[starts][:, None] + end[ends][None, :], -np.inf
    )
    row, column = np.unravel_index(np.argmax(scores), scores.shape)
    if scores[row, column] == -np.inf:
        return None
    return float(scores[row, column]), int(starts[row]), int(ends[column])


def predict_answers(
    model: torch.nn.Module,
    features: list[dict],
    windows: list[dict],
    examples: Sequence[QAExample],
    batch_size: int = 32,
    pad_id: int = 1,
    n_best: int = 20,
    max_answer_tokens: int = 30,
) -> dict[str, str]:
    """Question id -> answer text, the best span over all windows of the question ("" when none fits)."""
    if len(features) != len(windows):
        raise ErnieMError(f"predict_answers: {len(features)} features but {len(windows)} windows")
    best: dict[int, tuple[float, int, int, int]] = {}  # example -> (score, window, start, end)
    for window, (start, end) in enumerate(span_logits(model, features, batch_size, pad_id)):
        index = windows[window]["example"]
        found = best_span(start, end, windows[window]["offsets"], n_best, max_answer_tokens)
        if found is not None and (index not in best or found[0] > best[index][0]):
            best[index] = (found[0], window, found[1], found[2])
    answers = {}
    for index, example in enumerate(examples):
        answers[example.id] = ""
        if index in best:
            _, window, start, end = best[index]
            offsets = windows[window]["offsets"]
            answers[example.id] = example.context[offsets[start][0] : offsets[end][1]]
    return answers


def gold_answers(examples: Sequence[QAExample]) -> dict[str, list[str]]:
    """Question id -> answer texts, as `metrics.squad_scores` takes them."""
    return {example.id: [text for text, _ in example.answers] for example in examples}
