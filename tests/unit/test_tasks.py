"""Task results: a fine-tuning whose predictions collapsed to one class is named, never silently scored."""

import logging

from ernie_m.evaluate.report import language_table
from ernie_m.evaluate.tasks import _with_collapse


def test_a_collapsed_language_is_named_in_the_result_the_log_and_the_table(caplog):
    result = {"task": "conll", "setting": "transfer", "metric": "entity F1", "model": "/m/model",
              "scores": {"en": 40.0, "de": 0.0}, "average": 20.0}
    with caplog.at_level(logging.WARNING):
        marked = _with_collapse(result, {"en": ["O", "B-PER", "O"], "de": ["O", "O", "O"]})
    assert marked["collapsed"] == {"de": "O"}
    assert "every prediction is one class for de (O)" in caplog.text
    assert "collapsed to one class for de (every prediction 'O')" in language_table(marked)
    assert _with_collapse({**result}, {"en": ["O", "B-PER"], "de": ["I-LOC", "O"]})["collapsed"] == {}
