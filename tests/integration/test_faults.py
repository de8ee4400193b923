"""Runs that go wrong: a diverging run stops with an error, and nothing non-finite is ever saved."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import safetensors.torch
import torch
from test_cli import refused
from test_pretrain import losses
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m import files
from ernie_m.config import load_config
from ernie_m.errors import ErnieMError
from ernie_m.train import loop, run
from ernie_m.train.run import RunSettings, pretrain


def test_a_diverging_run_stops_with_exit_2_and_keeps_only_finite_checkpoints(tmp_path, corpus_dir, config_file):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "pretrain", "--config", str(config_file), "--corpus", str(corpus_dir), "--out", str(out), "--no-progress",
        "--set", "train.lr=1e6", "--set", "train.warmup_steps=0", "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2",
    ])
    refused(result, "training diverged", "the step was not applied", "Lower train.lr (now 1e+06)")
    assert not (out / "model").exists()
    kept = sorted((out / "checkpoints").glob("step-*"))
    assert kept, "the steps before the divergence were checkpointed"
    for path in kept:
        weights = safetensors.torch.load_file(path / "model.safetensors")
        assert all(torch.isfinite(tensor).all() for tensor in weights.values()), path


def test_weights_that_are_not_finite_are_never_checkpointed(tmp_path, corpus_dir, config_file, monkeypatch):
    original = loop.Trainer.train_step

    def poisoned(trainer, step):
        original(trainer, step)
        if step == 3:
            with torch.no_grad():
                next(trainer.model.parameters()).view(-1)[0] = math.inf

    monkeypatch.setattr(loop.Trainer, "train_step", poisoned)
    out = tmp_path / "run"
    config = load_config(config_file, ["train.checkpoint_every=1"])
    with pytest.raises(loop.TrainingDiverged, match="step 3: training diverged .parameter checksums"):
        pretrain(RunSettings(config, corpus_dir), out, progress=False)
    assert [path.name for path in sorted((out / "checkpoints").glob("step-*"))] == ["step-000001", "step-000002"]
    assert not list((out / "checkpoints").glob(".*"))  # no partial checkpoint either


def final_weights(out):
    return safetensors.torch.load_file(out / "model" / "model.safetensors")


def assert_same_run(a, b):
    assert losses(a) == losses(b)
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, corpus_dir, config_file):
    out = tmp_path_factory.mktemp("straight") / "run"
    pretrain(RunSettings(load_config(config_file), corpus_dir), out, progress=False)
    return out


@pytest.mark.parametrize("damage", ["torn last log line", "damaged newest weights", "damaged newest trainer state"])
def test_resume_survives_what_a_kill_leaves_and_ends_exact(damage, straight, tmp_path, corpus_dir, config_file):
    out = tmp_path / "run"
    assert pretrain(RunSettings(load_config(config_file), corpus_dir), out, stop_at=8, progress=False) is None
    newest = out / "checkpoints" / "step-000008"
    if damage == "torn last log line":
        with open(out / "log.jsonl", "a") as log:
            log.write('{"step": 9, "stage": "back-tr')
    elif damage == "damaged newest weights":
        path = newest / "model.safetensors"
        path.write_bytes(path.read_bytes()[:1000])
    else:
        (newest / "trainer.pt").write_bytes(b"not a torch file")
    pretrain(None, out, resume=True, progress=False)
    assert_same_run(straight, out)


def test_a_resume_with_no_loadable_checkpoint_is_refused(tmp_path, corpus_dir, config_file):
    out = tmp_path / "run"
    pretrain(RunSettings(load_config(config_file), corpus_dir), out, stop_at=8, progress=False)
    for path in (out / "checkpoints").glob("step-*/model.safetensors"):
        path.write_bytes(b"")
    with pytest.raises(ErnieMError, match="none of the 2 checkpoints loads"):
        pretrain(None, out, resume=True, progress=False)


def test_a_tokenizer_copy_cut_short_leaves_a_run_that_resumes(straight, tmp_path, corpus_dir, config_file, monkeypatch):
    out = tmp_path / "run"
    settings = RunSettings(load_config(config_file), corpus_dir, tokenizer=straight / "tokenizer")

    def killed(source, destination, **_):
        Path(destination).mkdir(parents=True)
        (Path(destination) / "tokenizer.json").write_text('{"trunc')
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(files.shutil, "copytree", killed)
        patch.setattr(run.shutil, "rmtree", lambda *_, **__: None)  # a kill -9 cleans nothing up
        with pytest.raises(KeyboardInterrupt):
            pretrain(settings, out, progress=False)
    assert (out / "run.yaml").is_file() and not (out / "tokenizer").exists()
    pretrain(None, out, resume=True, progress=False)
    assert_same_run(straight, out)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--stop-at", "-5"], "--stop-at -5: the step to stop after must be at least 1"),
    (["--out", "{file}"], "--out names a file"),
])
def test_plain_mistakes_are_refused(args, fragment, tmp_path, corpus_dir, config_file):
    file = tmp_path / "a-file"
    file.write_text("x")
    args = [arg.replace("{file}", str(file)) for arg in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, ["pretrain", "--config", str(config_file), "--corpus", str(corpus_dir), *out, *args, "--no-progress"])
    refused(result, fragment)
