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
    result = invoke("pretrain", "--config", str(config_file), "--corpus", str(built), "--tokenizer", str(tmp_path / "tok"),
                    "--out", str(out), "--max-steps", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert AutoTokenizer.from_pretrained(out / "model").get_vocab() == AutoTokenizer.from_pretrained(tmp_path / "tok").get_vocab()


def test_build_refuses_bad_input_without_leaving_a_corpus(tmp_path):
    user = write_corpus(tmp_path / "user", pairs=20, mono=5)
    (user / "de-en.en").write_text("just one line\n")
    out = tmp_path / "corpus"
    result = invoke("corpus", "build", "--out", str(out), "--languages", "", "--user", str(user))
    assert result.exit_code == 2 and "de-en.de has 20 lines but" in result.stderr
    assert not out.exists() and not any(p.name.startswith(".corpus") for p in tmp_path.iterdir())
    result = invoke("corpus", "stats", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no manifest.json" in result.stderr
