"""Checkpoints appear whole or not at all, and only the newest are kept."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model

from ernie_m.train import checkpoint


def test_a_crash_while_saving_leaves_the_last_complete_checkpoint(tmp_path, monkeypatch):
    model = tiny_model()
    directory = tmp_path / "checkpoints"
    checkpoint.save(directory, 10, model, {"sampler": {}}, keep=3)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(directory, 20, model, {"sampler": {}}, keep=3)
    assert checkpoint.latest(directory).name == "step-000010"
    assert not (directory / "step-000020").exists()


def test_round_trip_and_keep_newest(tmp_path):
    model = tiny_model(seed=1)
    directory = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        checkpoint.save(directory, step, model, {"sampler": {"mono": {"de": [0, step]}}}, keep=2)
    assert [p.name for p in checkpoint.complete_checkpoints(directory)] == ["step-000002", "step-000003"]
    other = tiny_model(seed=2)
    checkpoint.load_weights(checkpoint.latest(directory), other, torch.device("cpu"))
    state = checkpoint.read_state(checkpoint.latest(directory), torch.device("cpu"))
    assert state["step"] == 3 and state["sampler"] == {"mono": {"de": [0, 3]}}
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_inputs_check_names_changed_values_and_ignores_settings_added_later(tmp_path):
    from ernie_m.errors import ErnieMError

    saved = {"config": {"train": {"lr": 0.001, "seed": 0}}, "corpus": "a", "tokenizer": "t"}
    later = {"config": {"train": {"lr": 0.001, "seed": 0, "report_to": []}}, "corpus": "a", "tokenizer": "t"}
    checkpoint.check_inputs(saved, later, tmp_path, accept_changed_corpus=False)  # a setting this version added
    edited = {**later, "config": {"train": {"lr": 0.002, "seed": 0, "report_to": []}}}
    with pytest.raises(ErnieMError, match=r"train.lr: 0.001 -> 0.002"):
        checkpoint.check_inputs(saved, edited, tmp_path, accept_changed_corpus=False)
    with pytest.raises(ErnieMError, match="the corpus changed"):
        checkpoint.check_inputs(saved, {**later, "corpus": "b"}, tmp_path, accept_changed_corpus=False)
    checkpoint.check_inputs(saved, {**later, "corpus": "b"}, tmp_path, accept_changed_corpus=True)
