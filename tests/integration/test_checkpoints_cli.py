"""Checkpoints in and out through the CLI: convert a released ERNIE-M, continue pre-training from it,
export a hub-ready directory whose card lists the languages, the run and (added later) evaluation results."""

from __future__ import annotations

import json

import pytest
import torch
from erniem_sources import write_hf_erniem_checkpoint, write_paddle_checkpoint, write_tokenizer_files
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.evaluate.report import write_report

pytestmark = pytest.mark.slow


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    src = tmp_path_factory.mktemp("paddle")
    vocab = write_tokenizer_files(src)
    write_paddle_checkpoint(src, vocab_size=len(vocab))
    out = src.parent / "ernie-m-tiny-xlmr"
    result = invoke("convert", "--from", "paddle", "--src", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    return src, out


def test_convert_refusals_are_one_line_and_write_nothing(tmp_path):
    src = tmp_path / "hf"
    write_hf_erniem_checkpoint(src, vocab_size=len(write_tokenizer_files(src)) + 1)
    for layout, fragment in (
        ("paddle", "use --from hf-erniem"),
        ("hf-erniem", "302 tokens"),
        ("onnx", "unknown layout"),
    ):
        result = invoke("convert", "--from", layout, "--src", str(src), "--out", str(tmp_path / "out"))
        assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1, result.output
        assert not (tmp_path / "out").exists()


def test_pretraining_continues_from_converted_erniem_and_exports_a_hub_ready_model(
    converted, corpus_dir, config_file, tmp_path
):
    source, converted = converted
    refused = invoke(
        "pretrain",
        "--init-from",
        str(source),
        "--corpus",
        str(corpus_dir),
        "--out",
        str(tmp_path / "refused"),
        "--no-progress",
    )
    assert refused.exit_code == 2 and "ernie-m convert --from paddle" in refused.stderr

    out = tmp_path / "run"
    result = invoke(
        "pretrain",
        "--config",
        str(config_file),
        "--corpus",
        str(corpus_dir),
        "--init-from",
        str(converted),
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    model_dir = out / "model"
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "ernie_m_run.json",
    } <= {p.name for p in model_dir.iterdir()}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(converted).get_vocab()
    mlm = AutoModelForMaskedLM.from_pretrained(model_dir)
    assert mlm.config.ernie_m_languages == ["de", "en", "fr"] and mlm.config.layer_norm_eps == 1e-5
    trained = dict(mlm.named_parameters())["roberta.encoder.layer.0.attention.self.query.weight"]
    start = AutoModel.from_pretrained(converted).encoder.layer[0].attention.self.query.weight
    assert not torch.equal(trained, start)  # it trained from the converted weights ...
    assert torch.allclose(trained, start, atol=0.05)  # ... a few small steps away from them

    card = (model_dir / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "language:\n- de\n- en\n- fr\n" in front and "pipeline_tag: fill-mask" in front
    assert "| 1 | de |" in card and "| 3 | fr |" in card  # the token-type rows the languages stand for
    assert "continuing from `ernie-m-tiny-xlmr`" in card and "| align | 6 | MMLM 1, TLM 1, CAMLM 1 |" in card
    assert "| de-en | 200 |" in card and "| fr | 100 |" in card and "| BTMLM |" in card
    assert "None yet" in card
    summary = json.loads((model_dir / "ernie_m_run.json").read_text())
    assert summary["training"]["steps"] == 12 and set(summary["final_losses"]) == {"mmlm", "tlm", "camlm", "btmlm"}

    results = tmp_path / "eval"
    write_report(
        {
            "task": "xnli",
            "setting": "transfer",
            "metric": "accuracy",
            "model": str(model_dir),
            "scores": {"en": 61.25, "de": 40.5},
            "average": 50.875,
        },
        results,
    )
    refused = invoke("card", "--model", str(model_dir), "--results", str(results))  # a result without provenance
    assert (
        refused.exit_code == 2
        and "no provenance (written by an earlier version); pass --allow-partial" in refused.stderr
    )
    assert invoke("card", "--model", str(model_dir), "--results", str(results), "--allow-partial").exit_code == 0
    card = (model_dir / "README.md").read_text()
    assert "None yet" not in card and "| run | 61.2 | 40.5 | 50.9 |" in card
    assert "- xnli (transfer): no provenance (written by an earlier version)" in card

    empty = tmp_path / "empty"
    empty.mkdir()
    missing = invoke("card", "--model", str(model_dir), "--results", str(empty))
    assert missing.exit_code == 2 and "no evaluation results" in missing.stderr
    not_a_run = invoke("card", "--model", str(converted), "--results", str(results))
    assert not_a_run.exit_code == 2 and "ernie_m_run.json" in not_a_run.stderr
