"""A fifth objective, written in this one file and registered, trains like the paper's four: config
validation, the trainer, the watchers, the model card and the schedule checks read the registry,
and nothing else needs to change."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ernie_m.config import load_config
from ernie_m.errors import ErnieMError
from ernie_m.objectives import OBJECTIVES, Objective, register
from ernie_m.objectives.batch import collate
from ernie_m.objectives.layout import TARGET
from ernie_m.objectives.masking import mask_tokens
from ernie_m.train.run import RunSettings, pretrain


def target_side_mlm(examples, ctx, rng):
    """A pair in one sequence, full attention, only the second sentence masked: the translation is
    predicted from its source and its own context."""
    sequences = [ctx.pair(*example) for example in examples]
    for seq in sequences:
        mask_tokens(seq, ctx.config, ctx.specials, rng, maskable=seq.segment == TARGET)
    return collate(sequences, ctx.specials, ctx.row_length)


def watch_vocabulary(config, held, tokenizer, language_ids):
    return lambda ctx: {"toy/vocabulary": float(ctx.specials.vocab_size)}


TOY = Objective("target-mlm", "target-side MLM", "pairs", target_side_mlm, watch=watch_vocabulary)
SCHEDULE = "stages=[{name: only, steps: 4, objectives: {mmlm: 1, target-mlm: 3}}]"


@pytest.fixture
def registered():
    """Register TOY (the test may replace it), and take it out again afterwards."""
    yield register
    del OBJECTIVES[TOY.name]


def test_a_registered_objective_trains_is_watched_and_named_in_the_card(registered, corpus_dir, config_file, tmp_path):
    registered(TOY)
    config = load_config(config_file, [SCHEDULE])
    model_dir = pretrain(RunSettings(config, corpus_dir), tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    trained = [r for r in records if "event" not in r]
    assert all(np.isfinite(r["loss/target-mlm"]) for r in trained if "loss/target-mlm" in r)
    assert sum("loss/target-mlm" in r for r in trained) >= 2
    assert all(r["toy/vocabulary"] > 0 for r in trained)
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "target-side MLM 3" in card and "| target-side MLM |" in card


def test_its_check_refuses_a_corpus_before_anything_is_written(registered, corpus_dir, config_file, tmp_path):
    def needs_swahili(config, corpus):
        if "sw" not in corpus.languages():
            raise ErnieMError("config: target-mlm needs Swahili text")

    registered(dataclasses.replace(TOY, check=needs_swahili))
    with pytest.raises(ErnieMError, match="needs Swahili"):
        pretrain(RunSettings(load_config(config_file, [SCHEDULE]), corpus_dir), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_an_unregistered_objective_is_refused_by_name(corpus_dir, config_file, tmp_path):
    with pytest.raises(
        ErnieMError, match=r"unknown objective\(s\) \['target-mlm'\]; known: \('mmlm', 'tlm', 'camlm', 'btmlm'\)"
    ):
        pretrain(RunSettings(load_config(config_file, [SCHEDULE]), corpus_dir), tmp_path / "run", progress=False)
