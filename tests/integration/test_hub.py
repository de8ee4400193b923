"""Hub ids resolved from a local Hugging Face cache that the test builds, offline; absent ones named with the download
command."""

from __future__ import annotations

import numpy as np
import torch
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.data.tokenizer import train_tokenizer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cached_model(hub, repo_id: str):
    """The layout huggingface_hub writes: models--ORG--NAME/refs/main naming a snapshot folder."""
    folder = hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = folder / "snapshots" / COMMIT
    tokenizer = train_tokenizer([f"sentence number {i} of the cache" for i in range(300)], snapshot, vocab_size=60)
    torch.manual_seed(0)
    XLMRobertaForMaskedLM(
        XLMRobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=40,
        )
    ).save_pretrained(snapshot)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(COMMIT)


def test_a_hub_id_in_the_local_cache_is_used_offline_and_an_absent_one_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached_model(tmp_path / "hub", "FacebookAI/xlm-roberta-tiny")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sentences.txt").write_text("one sentence\nanother one\n")
    result = CliRunner().invoke(
        app, ["encode", "--model", "FacebookAI/xlm-roberta-tiny", "--input", "sentences.txt", "--out", "v.npy"]
    )
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "v.npy").shape == (2, 16)
    absent = CliRunner().invoke(
        app, ["encode", "--model", "FacebookAI/xlm-roberta-huge", "--input", "sentences.txt", "--out", "w.npy"]
    )
    assert absent.exit_code == 2 and "not a model in the local Hugging Face cache" in absent.stderr
    assert "`hf download FacebookAI/xlm-roberta-huge`" in absent.stderr and not (tmp_path / "w.npy").exists()


def test_pretraining_continues_from_a_hub_id_in_the_local_cache(tmp_path, monkeypatch, corpus_dir, config_file):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cached_model(tmp_path / "hub", "FacebookAI/xlm-roberta-tiny")
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
            "--init-from",
            "FacebookAI/xlm-roberta-tiny",
            "--max-steps",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = (out / "run.yaml").read_text()
    assert f"snapshots/{COMMIT}" in settings  # the run records the folder it continued from
