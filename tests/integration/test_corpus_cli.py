"""`ernie-m corpus build`, `corpus stats` and `tokenizer train` through the command line, and the
trainer reading a built corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_corpus
from transformers import AutoTokenizer
from typer.testing import CliRunner

from ernie_m.cli import app


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    user = write_corpus(tmp_path_factory.mktemp("user"), pairs=400, mono=150)
    out = tmp_path_factory.mktemp("built") / "corpus"
    result = invoke("corpus", "build", "--out", str(out), "--user", str(user), "--dev", "10", "--test", "20")
    assert result.exit_code == 0, result.output
    assert "| de |" in result.output and f"corpus written to {out}" in result.output
    return out


def test_with_user_files_no_catalog_language_is_added_unless_asked(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["options"]["catalog_languages"] == [] and sorted(manifest["languages"]) == ["de", "en", "fr"]


def test_stats_prints_tables_and_writes_a_chart(built):
    result = invoke("corpus", "stats", str(built))
    assert result.exit_code == 0, result.output
    assert "| language | train pairs | dev pairs | test pairs |" in result.output
    assert "Removed by each cleaning rule" in result.output
    png = built / "stats.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_tokenizer_train_on_a_built_corpus(built, tmp_path):
    result = invoke("tokenizer", "train", "--corpus", str(built), "--out", str(tmp_path / "tok"), "--vocab-size", "60")
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert len(tokenizer) == 60 and tokenizer.mask_token_id == 59


def test_pretrain_reads_a_built_corpus_and_a_given_tokenizer(built, config_file, tmp_path):
    invoke("tokenizer", "train", "--corpus", str(built), "--out", str(tmp_path / "tok"), "--vocab-size", "60")
    out = tmp_path / "run"
    result = invoke(
        "pretrain",
        "--config",
        str(config_file),
        "--corpus",
        str(built),
        "--tokenizer",
        str(tmp_path / "tok"),
        "--out",
        str(out),
        "--max-steps",
        "2",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert (
        AutoTokenizer.from_pretrained(out / "model").get_vocab()
        == AutoTokenizer.from_pretrained(tmp_path / "tok").get_vocab()
    )


def test_build_refuses_bad_input_without_leaving_a_corpus(tmp_path):
    user = write_corpus(tmp_path / "user", pairs=20, mono=5)
    (user / "de-en.en").write_text("just one line\n")
    out = tmp_path / "corpus"
    result = invoke("corpus", "build", "--out", str(out), "--languages", "", "--user", str(user))
    assert result.exit_code == 2 and "de-en.de has 20 lines but" in result.stderr
    assert not out.exists() and not any(p.name.startswith(".corpus") for p in tmp_path.iterdir())
    result = invoke("corpus", "stats", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no manifest.json" in result.stderr


def test_validation_losses_on_the_dev_split_and_a_resume_that_stays_exact(config_file, tmp_path):
    import math

    import safetensors.torch
    import torch

    from ernie_m.config import load_config
    from ernie_m.train.run import RunSettings, pretrain

    def logged(out):
        return [
            json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if "param_checksums" not in line
        ]

    user = write_corpus(tmp_path / "user", pairs=1300, mono=150)  # enough pairs to hold some out
    corpus = tmp_path / "corpus"
    assert (
        invoke("corpus", "build", "--out", str(corpus), "--user", str(user), "--dev", "20", "--test", "20").exit_code
        == 0
    )
    assert any((corpus / "dev").iterdir())
    config = load_config(config_file)
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    pretrain(RunSettings(config, corpus), straight, progress=False)
    validations = [record for record in logged(straight) if record.get("event") == "validation"]
    assert [record["step"] for record in validations] == [4, 8, 12]  # every checkpoint (train.checkpoint_every 4)
    assert set(validations[-1]) == {"step", "event", "val/mmlm", "val/tlm", "val/camlm", "val/btmlm"}
    assert all(
        math.isfinite(value) for record in validations for key, value in record.items() if key.startswith("val/")
    )
    assert "| CAMLM |" in (straight / "model" / "README.md").read_text()
    assert json.loads((straight / "model" / "ernie_m_run.json").read_text())["validation_losses"] == {
        key.removeprefix("val/"): value for key, value in validations[-1].items() if key.startswith("val/")
    }
    pretrain(RunSettings(config, corpus), interrupted, stop_at=6, progress=False)
    pretrain(None, interrupted, resume=True, progress=False)

    def without_speed(out):
        return [{key: value for key, value in record.items() if key != "tokens_per_s"} for record in logged(out)]

    assert without_speed(interrupted) == without_speed(straight)  # losses and validation losses alike
    a = safetensors.torch.load_file(straight / "model" / "model.safetensors")
    b = safetensors.torch.load_file(interrupted / "model" / "model.safetensors")
    assert all(torch.equal(a[key], b[key]) for key in a)
