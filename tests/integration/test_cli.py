"""The `ernie-m pretrain` command on bad input: one clear line, exit code 2, no output directory."""

from __future__ import annotations

import shutil

import pytest
from conftest import write_corpus
from typer.testing import CliRunner

from ernie_m.cli import app


def run(*args: str):
    return CliRunner().invoke(app, ["pretrain", *args, "--no-progress"])


def refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def bad_corpus(tmp_path):
    return write_corpus(tmp_path / "corpus", pairs=20, mono=5)


def test_missing_corpus_directory(tmp_path, config_file):
    out = tmp_path / "out"
    refused(run("--config", str(config_file), "--corpus", str(tmp_path / "nowhere"), "--out", str(out)), "nowhere")
    assert not out.exists()


def test_parallel_files_of_different_lengths(tmp_path, config_file, bad_corpus):
    with open(bad_corpus / "de-en.en", "a", encoding="utf-8") as extra:
        extra.write("One line too many.\n")
    out = tmp_path / "out"
    refused(
        run("--config", str(config_file), "--corpus", str(bad_corpus), "--out", str(out)),
        "de-en.de",
        "de-en.en",
        "20",
        "21",
    )
    assert not out.exists()


def test_line_that_is_not_utf8(tmp_path, config_file, bad_corpus):
    lines = (bad_corpus / "fr.txt").read_bytes().splitlines(keepends=True)
    lines[2] = b"caf\xe9 latin-1\n"
    (bad_corpus / "fr.txt").write_bytes(b"".join(lines))
    out = tmp_path / "out"
    refused(run("--config", str(config_file), "--corpus", str(bad_corpus), "--out", str(out)), "fr.txt", "line 3")
    assert not out.exists()


def test_empty_corpus(tmp_path, config_file):
    corpus = tmp_path / "empty"
    corpus.mkdir()
    (corpus / "de.txt").write_text("\n\n")
    out = tmp_path / "out"
    refused(run("--config", str(config_file), "--corpus", str(corpus), "--out", str(out)), str(corpus))
    assert not out.exists()


def test_schedule_the_corpus_cannot_feed(tmp_path, config_file, bad_corpus):
    for side in ("de-en.de", "de-en.en"):
        (bad_corpus / side).unlink()
    out = tmp_path / "out"
    refused(run("--config", str(config_file), "--corpus", str(bad_corpus), "--out", str(out)), "parallel pairs")
    assert not out.exists()


def test_unknown_config_key(tmp_path, config_file):
    config = tmp_path / "bad.yaml"
    config.write_text(config_file.read_text() + "\noptimizer: {lr: 1}\n")
    refused(run("--config", str(config), "--out", str(tmp_path / "out")), "unknown key", "optimizer")
    refused(
        run("--config", str(config_file), "--set", "train.learning_rate=1", "--out", str(tmp_path / "out")),
        "learning_rate",
    )
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path):
    refused(run("--config", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "out")), "absent.yaml")


def test_resume_without_checkpoint(tmp_path):
    refused(run("--out", str(tmp_path / "never-ran"), "--resume"), "no checkpoint")
    assert not (tmp_path / "never-ran").exists()


def test_output_directory_in_use(tmp_path, config_file, corpus_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "something").write_text("keep me")
    refused(run("--config", str(config_file), "--corpus", str(corpus_dir), "--out", str(out)), "--resume")
    assert (out / "something").read_text() == "keep me"


def test_init_from_without_a_model(tmp_path, config_file, corpus_dir):
    refused(
        run(
            "--config",
            str(config_file),
            "--corpus",
            str(corpus_dir),
            "--init-from",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        )
    )
    assert not (tmp_path / "out").exists()


def test_a_good_run_through_the_command(tmp_path, config_file, corpus_dir):
    out = tmp_path / "out"
    result = run(
        "--config",
        str(config_file),
        "--corpus",
        str(corpus_dir),
        "--out",
        str(out),
        "--max-steps",
        "4",
        "--stop-at",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert "--resume" in result.output and not (out / "model").exists()
    result = run("--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert (out / "model" / "config.json").is_file()
    shutil.rmtree(out)


def test_tokenizer_and_init_from_together_are_refused(tmp_path, config_file, corpus_dir):
    refused(
        run(
            "--config",
            str(config_file),
            "--corpus",
            str(corpus_dir),
            "--init-from",
            str(tmp_path),
            "--tokenizer",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ),
        "--tokenizer and --init-from",
    )
    assert not (tmp_path / "out").exists()


def test_encode_refuses_a_blank_line_that_would_shift_rows(tmp_path):
    text = tmp_path / "sentences.txt"
    text.write_text("one sentence\n\nanother\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["encode", "--model", str(tmp_path), "--input", str(text), "--out", str(tmp_path / "v.npy")]
    )
    assert result.exit_code == 2 and "line 2 is blank" in result.stderr


def test_version_and_short_help():
    from importlib.metadata import version

    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"ernie-m {version('ernie-m')}"
    short = CliRunner().invoke(app, ["evaluate", "-h"])
    assert short.exit_code == 0 and "Usage:" in short.output


def test_defaults_in_help_are_visible():
    """Defaults written in help texts survive the help's markup (brackets would be eaten)."""
    # the table's lines joined
    output = " ".join(CliRunner().invoke(app, ["evaluate", "--help"]).output.replace("│", " ").split())
    assert "Fine-tuning epochs (default: 2)." in output and "Fine-tuning peak learning rate (default: 2e-5)." in output
