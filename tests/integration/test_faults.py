"""Runs that go wrong: a diverging run stops with an error, and nothing non-finite is ever saved."""

from __future__ import annotations

import errno
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml
from conftest import write_corpus
from test_cli import refused
from test_pretrain import losses
from typer.testing import CliRunner

from ernie_m import files
from ernie_m.cli import app
from ernie_m.config import load_config
from ernie_m.data.corpus import read_corpus_dir
from ernie_m.data.tokenizer import train_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.train import loop, run
from ernie_m.train.run import RunSettings, pretrain


def test_a_diverging_run_stops_with_exit_2_and_keeps_only_finite_checkpoints(tmp_path, corpus_dir, config_file):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "pretrain",
            "--config",
            str(config_file),
            "--corpus",
            str(corpus_dir),
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "train.lr=1e6",
            "--set",
            "train.warmup_steps=0",
            "--set",
            "train.checkpoint_every=1",
            "--set",
            "train.keep_checkpoints=2",
        ],
    )
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
        Path(destination).mkdir(parents=True, exist_ok=True)
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


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--stop-at", "-5"], "--stop-at -5: the step to stop after must be at least 1"),
        (["--out", "{file}"], "--out names a file"),
    ],
)
def test_plain_mistakes_are_refused(args, fragment, tmp_path, corpus_dir, config_file):
    file = tmp_path / "a-file"
    file.write_text("x")
    args = [arg.replace("{file}", str(file)) for arg in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(
        app, ["pretrain", "--config", str(config_file), "--corpus", str(corpus_dir), *out, *args, "--no-progress"]
    )
    refused(result, fragment)


@pytest.fixture
def stopped(tmp_path, config_file):
    """A run on its own copy of the corpus, stopped at step 8 of 12."""
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    pretrain(RunSettings(load_config(config_file), corpus), out, stop_at=8, progress=False)
    return out, corpus


def resume_through_cli(out, *flags):
    return CliRunner().invoke(app, ["pretrain", "--out", str(out), "--resume", "--no-progress", *flags])


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (("train", "lr", 2e-3), "train.lr: 0.001 -> 0.002"),
        (("model", "hidden_size", 64), "model.hidden_size: 32 -> 64"),
    ],
)
def test_a_resume_refuses_an_edited_run_yaml_naming_the_change(edit, fragment, stopped):
    out, _ = stopped
    settings = yaml.safe_load((out / "run.yaml").read_text())
    section, key, value = edit
    settings["config"][section][key] = value
    (out / "run.yaml").write_text(yaml.safe_dump(settings))
    refused(resume_through_cli(out), "config (OUT/run.yaml) changed since this checkpoint", fragment)


def test_a_resume_refuses_a_changed_tokenizer(stopped):
    out, _ = stopped
    with open(out / "tokenizer" / "tokenizer_config.json", "a") as file:
        file.write(" ")
    refused(resume_through_cli(out), "tokenizer changed since this checkpoint")


def test_a_resume_over_a_shrunken_corpus_is_refused_unless_accepted(stopped):
    out, corpus = stopped
    for path in corpus.iterdir():
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:10]) + "\n")
    refused(resume_through_cli(out), "the corpus changed since this checkpoint", "--accept-changed-corpus")
    assert not (out / "model").exists()
    result = resume_through_cli(out, "--accept-changed-corpus")
    assert result.exit_code == 0, result.output
    assert (out / "model" / "model.safetensors").is_file()


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of the size asked for (root only); skip where mounting is not allowed."""
    mounted = []

    def mount(size: str):
        path = tmp_path / f"disk-{size}"
        path.mkdir()
        if subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode:
            pytest.skip(
                "cannot mount a tmpfs here (needs root); test_a_refused_write_* covers the same with patched writers"
            )
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "--lazy", str(path)], check=True)  # lazy: the run's shards are still memory-mapped


def assert_nothing_half_written(out):
    assert not [p for p in out.rglob("*") if ".partial" in p.name], "a staging file or folder was left"
    for path in (out / "checkpoints").glob("step-*"):
        assert {p.name for p in path.iterdir()} == {"config.json", "model.safetensors", "trainer.pt"}, path


# full at: tokenizer, first checkpoint, second, export
@pytest.mark.parametrize("size", ["256k", "800k", "1100k", "1500k"])
def test_a_full_disk_ends_in_one_line_and_leaves_nothing_half_written(size, small_disk, corpus_dir, config_file):
    out = small_disk(size) / "run"
    result = CliRunner().invoke(
        app, ["pretrain", "--config", str(config_file), "--corpus", str(corpus_dir), "--out", str(out), "--no-progress"]
    )
    refused(result, "could not be written (No space left on device")
    if out.exists():
        assert_nothing_half_written(out)


@pytest.mark.parametrize("writer", ["safetensors", "torch"])
def test_a_refused_write_ends_in_one_line_and_leaves_nothing_half_written(
    writer, tmp_path, corpus_dir, config_file, monkeypatch
):
    def full(*_, **__):
        if writer == "torch":  # what torch's zip writer says when the disk fills, on a disk with nothing left
            nothing_left = shutil.disk_usage("/")._replace(free=0)
            monkeypatch.setattr(files.shutil, "disk_usage", lambda _: nothing_left)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 38464 vs 38356")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(
        torch if writer == "torch" else safetensors.torch, "save" if writer == "torch" else "save_model", full
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["pretrain", "--config", str(config_file), "--corpus", str(corpus_dir), "--out", str(out), "--no-progress"]
    )
    refused(result, "step-000004: could not be written")
    assert_nothing_half_written(out)
    assert not list((out / "checkpoints").glob("step-*"))


MOMENTS = ["startup", "tokenizer copy", "shards", "mid step", "checkpoint save", "log line", "export"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, corpus_dir):
    corpus = read_corpus_dir(corpus_dir)
    text = [side for pairs in corpus.pairs.values() for pair in pairs for side in pair] + corpus.mono["fr"]
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer"
    train_tokenizer(text, path, vocab_size=64)
    return path


KILL_AT = [sys.executable, str(Path(__file__).with_name("kill_at.py"))]
SINGLE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def pretrain_args(config_file, corpus_dir, tokenizer) -> list[str]:
    return [
        "pretrain",
        "--config",
        str(config_file),
        "--corpus",
        str(corpus_dir),
        "--tokenizer",
        str(tokenizer),
        "--no-progress",
    ]


@pytest.fixture(scope="module")
def straight_with_tokenizer(tmp_path_factory, tokenizer, corpus_dir, config_file):
    out = tmp_path_factory.mktemp("straight-with-tokenizer") / "run"
    subprocess.run(
        KILL_AT + ["none", *pretrain_args(config_file, corpus_dir, tokenizer), "--out", str(out)],
        env=SINGLE_THREAD,
        check=True,
    )
    return out


@pytest.mark.parametrize("moment", MOMENTS)
def test_kill_9_at_any_moment_then_resume_ends_bit_exact(
    moment, straight_with_tokenizer, tokenizer, tmp_path, corpus_dir, config_file
):
    """The run uses --tokenizer (so that the copy is one of the moments) and is compared with one
    that was never interrupted: the same logged losses and bit-identical final weights."""
    killed = tmp_path / "killed"
    died = subprocess.run(
        KILL_AT + [moment, *pretrain_args(config_file, corpus_dir, tokenizer), "--out", str(killed)],
        env=SINGLE_THREAD,
        capture_output=True,
        text=True,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    resumed = subprocess.run(
        KILL_AT + ["none", "pretrain", "--out", str(killed), "--resume", "--no-progress"],
        env=SINGLE_THREAD,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(straight_with_tokenizer, killed)
