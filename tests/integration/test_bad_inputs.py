"""A catalogue of user mistakes driven through the CLI: each ends in exit status 2 and one line
`error: ...` that names the cause, never a traceback, and writes no output."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
from conftest import write_corpus
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.data.tokenizer import train_tokenizer

PRETRAIN = "pretrain --config {config} --corpus {corpus} --out {out} --no-progress"

# (command line, a fragment of the one-line message). {name} is a path the fixture below provides.
CASES = [
    # config
    ("pretrain --config {missing} --out {out}", "config file not found"),
    ("pretrain --config {not_yaml} --out {out}", "not a valid YAML file"),
    ("pretrain --config {yaml_list} --out {out}", "expected a mapping of sections"),
    (PRETRAIN + " --set train.learning_rate=1", "unknown key(s) learning_rate"),
    (PRETRAIN + " --set train.lr=.inf", "train.lr must be a finite number"),
    (PRETRAIN + " --set train.lr=-1", "train.lr must be positive"),
    (PRETRAIN + " --set train.max_grad_norm=.nan", "train.max_grad_norm must be a finite number"),
    (PRETRAIN + " --set train.betas=[1.5,2]", "train.betas must both be in [0, 1)"),
    (PRETRAIN + " --set model.hidden_size=30", "must be divisible by model.num_attention_heads"),
    (PRETRAIN + " --set model.hidden_dropout_prob=1.5", "dropout_prob must be in [0, 1)"),
    (PRETRAIN + " --set train.batch_size=big", "train.batch_size: expected int"),
    (PRETRAIN + " --set nonsense", "expected section.key=value"),
    (PRETRAIN + " --set 'stages=[{{name: a, steps: 5, objectives: {{xmlm: 1}}}}]'", "unknown objective(s) ['xmlm']"),
    (PRETRAIN + " --set 'stages=[{{name: a, steps: 5, objectives: {{mmlm: -1}}}}]'", "weights >= 0"),
    # options and output folders
    (PRETRAIN + " --stop-at -5", "--stop-at -5: the step to stop after must be at least 1"),
    (PRETRAIN + " --max-steps 0", "--max-steps must be at least 1"),
    ("pretrain --config {config} --corpus {corpus} --out {file} --no-progress", "--out names a file"),
    ("pretrain --config {config} --corpus {corpus} --out {nonempty} --no-progress", "exists and is not empty"),
    ("pretrain --out {out} --resume --no-progress", "--resume found no run to continue"),
    (
        "pretrain --out {out} --resume --config {config} --no-progress",
        "--resume continues with the run's saved settings",
    ),
    ("pretrain --out {damaged_run} --resume --no-progress", "run.yaml: not the settings of a run"),
    (PRETRAIN + " --accept-changed-corpus", "--accept-changed-corpus is for --resume"),
    (PRETRAIN + " --tokenizer {model} --init-from {model}", "pass only one of them"),
    (PRETRAIN + " --tokenizer {empty}", "tokenizer"),
    (PRETRAIN + " --init-from {empty}", "not a Hugging Face model directory (no config.json)"),
    # corpora
    ("pretrain --config {config} --corpus {missing} --out {out} --no-progress", "corpus directory does not exist"),
    (
        "pretrain --config {config} --corpus {file} --out {out} --no-progress",
        "is a file; a corpus is a directory of files",
    ),
    ("pretrain --config {config} --corpus {lengths} --out {out} --no-progress", "parallel files must be line-aligned"),
    ("pretrain --config {config} --corpus {not_utf8} --out {out} --no-progress", "line 2 is not valid UTF-8"),
    ("pretrain --config {config} --corpus {nul} --out {out} --no-progress", "line 2 holds a NUL byte"),
    ("pretrain --config {config} --corpus {binary} --out {out} --no-progress", "line 1 holds a NUL byte (binary data)"),
    ("pretrain --config {config} --corpus {blank} --out {out} --no-progress", "the corpus is empty"),
    (
        "pretrain --config {config} --corpus {unknown_language} --out {out} --no-progress",
        "'xx' is not an ISO 639-1 language code",
    ),
    (
        "pretrain --config {config} --corpus {partner_missing} --out {out} --no-progress",
        "parallel file without its partner",
    ),
    ("pretrain --config {config} --corpus {mono_only} --out {out} --no-progress", "the corpus has no parallel pairs"),
    ("corpus build --out {out} --languages '' --user {missing}", "does not exist"),
    ("corpus build --out {out} --languages '' --user {corpus} --on-error maybe", "--on-error must be fail or skip"),
    # evaluate, encode, convert, report
    ("evaluate sts --model {model} --data {empty}", "unknown task 'sts'"),
    ("evaluate xnli --model {model} --data {empty} --setting sideways", "unknown setting 'sideways'"),
    ("evaluate xnli --model {missing} --data {empty} --out {out}", "does not exist"),
    ("evaluate xnli --model {model} --data {empty} --languages xx", "no xx data in this task"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --languages en", "train-en.tsv"),
    ("evaluate xnli --model {model} --data {empty} --layer 4", "--layer does not apply"),
    ("evaluate tatoeba --model {model} --data {empty} --out {out}", "no tatoeba test files for any of af, ar, bg"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --epochs 0", "--epochs 0: at least 1"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --lr -1", "--lr -1.0: a positive finite number"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --lr inf", "--lr inf: a positive finite number"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --batch-size 0", "--batch-size 0: at least 1"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --layer-decay 1.5", "--layer-decay 1.5: in (0, 1]"),
    ("evaluate xnli --model {model} --data {empty} --out {out} --max-length 2", "--max-length 2: at least 8 tokens"),
    (
        "evaluate xnli --model {model} --data {empty} --out {out} --max-train-examples 0",
        "--max-train-examples 0: at least 1",
    ),
    ("encode --model {model} --input {missing} --out {out}", "file not found"),
    ("encode --model {model} --input {blank_line} --out {out}", "line 2 is blank"),
    ("convert --from keras --src {model} --out {out}", "keras"),
    ("convert --from paddle --src {missing} --out {out}", "no such file or directory"),
    ("report {missing}", "no such results directory"),
    # demo and ablation
    ("ablation --seeds a,b --out {out}", "--seeds 'a,b': expected comma-separated integers"),
    ("ablation --seeds 0,0 --out {out}", "a seed given twice"),
    ("ablation --base-steps 0 --out {out}", "--base-steps 0: the base needs at least one step"),
    ("ablation --init-from {model} --base-steps 10 --out {out}", "no base is trained"),
    ("ablation --arms mmlm,xmlm --out {out}", "xmlm"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-inputs")
    folders = {
        name: root / name
        for name in (
            "empty",
            "nonempty",
            "lengths",
            "not_utf8",
            "nul",
            "binary",
            "blank",
            "unknown_language",
            "partner_missing",
            "mono_only",
            "damaged_run",
        )
    }
    for folder in folders.values():
        folder.mkdir()
    (folders["nonempty"] / "something").write_text("x")
    (folders["damaged_run"] / "run.yaml").write_text("corpus: null\nconfig: {model: {hidden_si")
    (folders["lengths"] / "de-en.de").write_text("a\nb\n")
    (folders["lengths"] / "de-en.en").write_text("a\n")
    (folders["not_utf8"] / "de.txt").write_bytes(b"eins\nzwei \xff\ndrei\nvier\n")
    (folders["nul"] / "de.txt").write_bytes(b"eins\nzw\x00ei\ndrei\nvier\n")
    (folders["binary"] / "de.txt").write_bytes(bytes(range(256)) * 40)
    (folders["blank"] / "de.txt").write_text("\n \n")
    (folders["unknown_language"] / "xx.txt").write_text("text\n")
    (folders["partner_missing"] / "de-en.de").write_text("a\n")
    (folders["mono_only"] / "de.txt").write_text("ein Satz\n" * 50)
    (root / "file").write_text("x")
    (root / "not_yaml.yaml").write_text("model: [unclosed\n")
    (root / "yaml_list.yaml").write_text("- a\n- b\n")
    (root / "config.yaml").write_text("stages: [{name: a, steps: 4, objectives: {mmlm: 1, camlm: 1}}]\n")
    (root / "blank_line.txt").write_text("one\n\nthree\n")
    corpus = write_corpus(root / "corpus", pairs=20, mono=5)
    model = root / "model"
    tokenizer = train_tokenizer(
        [line for path in corpus.iterdir() for line in path.read_text().splitlines()], model, vocab_size=40
    )
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
    ).save_pretrained(model)
    names = {
        **folders,
        "file": root / "file",
        "not_yaml": root / "not_yaml.yaml",
        "yaml_list": root / "yaml_list.yaml",
        "config": root / "config.yaml",
        "blank_line": root / "blank_line.txt",
        "corpus": corpus,
        "model": model,
        "missing": root / "missing",
    }
    return {name: str(path) for name, path in names.items()}


@pytest.mark.parametrize(("command", "fragment"), CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_a_mistake_is_one_line_exit_2_and_nothing_written(command, fragment, paths, tmp_path):
    out = tmp_path / "out"
    args = shlex.split(command.format(**paths, out=out))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert fragment in message, message
    assert not out.exists() or not any(Path(out).iterdir()), "a refused command wrote output"
