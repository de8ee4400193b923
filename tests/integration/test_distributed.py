"""Two CPU processes under torchrun (gloo): DDP replicas stay in sync; FSDP2 shards compute the same
training, write sharded checkpoints, and a run resumes from them on another number of processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForMaskedLM


def run_pretrain(out, corpus_dir, config_file, *options, processes: int = 2):
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    command = [
        sys.executable,
        *launcher,
        "-m",
        "ernie_m",
        "pretrain",
        "--no-progress",
        "--out",
        str(out),
        *options,
    ]
    if "--resume" not in options:
        command += [
            "--config",
            str(config_file),
            "--corpus",
            str(corpus_dir),
            "--set",
            "train.checkpoint_every=3",
            "--set",
            "train.device=cpu",
            "--set",
            "train.grad_accum=2",
        ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]


def checksums(out, event: str = "checkpoint") -> list[list[float]]:
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [e["param_checksums"] for e in events if e.get("event") == event]


@pytest.fixture(scope="module")
def ddp_run(corpus_dir, config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    run_pretrain(out, corpus_dir, config_file)
    return out


def test_two_processes_stay_in_sync(ddp_run):
    found = checksums(ddp_run)
    assert len(found) == 4  # steps 3, 6, 9, 12
    for per_rank in found:
        assert len(per_rank) == 2 and per_rank[0] == per_rank[1]
    assert found[0] != found[-1]  # and they did train
    assert (ddp_run / "model" / "model.safetensors").is_file()


def test_fsdp_trains_as_ddp_does_and_exports_the_whole_model(ddp_run, corpus_dir, config_file, tmp_path):
    out = tmp_path / "fsdp"
    run_pretrain(out, corpus_dir, config_file, "--set", "train.parallel=fsdp")
    sharded, replicated = checksums(out), checksums(ddp_run)
    # The shards add up to one checksum per checkpoint: the replicas' own, as DDP trained the same steps.
    assert [one[0] for one in sharded] == pytest.approx([both[0] for both in replicated], rel=1e-8)
    assert all(
        (p / "sharded").is_dir() and not (p / "model.safetensors").exists() for p in (out / "checkpoints").iterdir()
    )
    exported = AutoModelForMaskedLM.from_pretrained(out / "model")
    total = sum(p.detach().double().sum().item() for p in exported.parameters())
    assert total == pytest.approx(sharded[-1][0], rel=1e-8)  # the export holds the whole trained model


def test_a_sharded_checkpoint_resumes_on_one_process(corpus_dir, config_file, tmp_path):
    out = tmp_path / "fsdp"
    run_pretrain(out, corpus_dir, config_file, "--set", "train.parallel=fsdp", "--stop-at", "6")
    assert not (out / "model").exists()
    run_pretrain(out, corpus_dir, config_file, "--resume", processes=1)
    found = checksums(out)
    assert len(found) == 4 and found[2] != found[1]  # it trained on from step 6 to 12
    # one process holds the weights that two processes saved as shards at step 6
    assert checksums(out, "resumed")[0][0] == pytest.approx(found[1][0], rel=1e-12)
    assert torch.isfinite(
        torch.tensor(json.loads((out / "model" / "ernie_m_run.json").read_text())["final_losses"]["mmlm"])
    )


def test_a_sharded_checkpoint_resumes_on_more_processes(corpus_dir, config_file, tmp_path):
    out = tmp_path / "grow"
    run_pretrain(out, corpus_dir, config_file, "--set", "train.parallel=fsdp", "--stop-at", "6", processes=1)
    run_pretrain(out, corpus_dir, config_file, "--resume", processes=2)
    assert len(checksums(out)) == 4 and (out / "model" / "model.safetensors").is_file()
    assert checksums(out, "resumed")[0][0] == pytest.approx(checksums(out)[1][0], rel=1e-12)


def test_compiled_layers_under_fsdp_train_as_uncompiled_ones(corpus_dir, config_file, tmp_path):
    """train.compile composes with FSDP2 (each layer compiled, then sharded): the same training, to float
    rounding, at every checkpoint. Without dropout: compiled dropout draws other random numbers."""
    found = {}
    for compiled in ("false", "true"):
        out = tmp_path / f"compile-{compiled}"
        run_pretrain(
            out,
            corpus_dir,
            config_file,
            "--set",
            "train.parallel=fsdp",
            "--set",
            f"train.compile={compiled}",
            "--set",
            "model.hidden_dropout_prob=0",
            "--set",
            "model.attention_probs_dropout_prob=0",
        )
        found[compiled] = [per_checkpoint[0] for per_checkpoint in checksums(out)]
    assert len(found["true"]) == 4 and found["true"] == pytest.approx(found["false"], rel=1e-7)
