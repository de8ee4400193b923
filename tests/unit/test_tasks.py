"""Tasks: a fine-tuning whose predictions collapsed to one class is named, never silently scored; the
command line names every task."""

import logging

from ernie_m.evaluate.report import language_table
from ernie_m.evaluate.tasks import _with_collapse


def test_a_collapsed_language_is_named_in_the_result_the_log_and_the_table(caplog):
    result = {
        "task": "conll",
        "setting": "transfer",
        "metric": "entity F1",
        "model": "/m/model",
        "scores": {"en": 40.0, "de": 0.0},
        "average": 20.0,
    }
    with caplog.at_level(logging.WARNING):
        marked = _with_collapse(result, {"en": ["O", "B-PER", "O"], "de": ["O", "O", "O"]})
    assert marked["collapsed"] == {"de": "O"}
    assert "every prediction is one class for de (O)" in caplog.text
    assert "collapsed to one class for de (every prediction 'O')" in language_table(marked)
    assert _with_collapse({**result}, {"en": ["O", "B-PER"], "de": ["I-LOC", "O"]})["collapsed"] == {}


def test_max_length_is_lowered_to_the_models_positions(tmp_path, caplog):
    """A tiny export has max_length + 2 positions: fine-tuning at the default 128 would index past them."""
    import json
    from pathlib import Path

    from ernie_m.evaluate.tasks import EvalSettings, within_positions

    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 66}))
    settings = EvalSettings(task="conll", model_dir=tmp_path, data_dir=Path("data"))
    with caplog.at_level(logging.WARNING):
        assert within_positions(settings).finetune.max_length == 64
    assert "longer than the model's 66 positions hold; using 64" in caplog.text
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 514}))
    assert within_positions(settings) is settings


def test_the_command_line_names_every_task():
    """`ernie-m evaluate`'s help lists the tasks by hand (the CLI imports no task code to start): it must name each."""
    import typing

    from ernie_m import cli
    from ernie_m.evaluate.tasks import TASKS

    help_text = typing.get_type_hints(cli.evaluate, include_extras=True)["task"].__metadata__[0].help
    assert [name for name in TASKS if name not in help_text.replace(",", " ").split()] == []
