"""`ernie-m demo` and `ernie-m ablation` on the system's catalogs with a tiny model: the report,
the caches, a changed setting, Ctrl-C and resuming, Tatoeba files, every arm with two seeds."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from conftest import real_catalogs_or_skip
from safetensors.torch import load_file
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.train import checkpoint
from ernie_m.train.loop import Trainer
from ernie_m.train.run import RunSettings

CONFIG = """
model: {hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64}
tokenizer: {vocab_size: 400, max_sentences: 3000}
data: {languages: [de, fr], max_length: 32}
stages:
  - {name: align, steps: 6, objectives: {mmlm: 1, tlm: 1, camlm: 1}}
  - {name: back-translate, steps: 6, objectives: {mmlm: 1, tlm: 1, camlm: 1, btmlm: 1}}
train: {batch_size: 8, lr: 1.0e-3, warmup_steps: 2, log_every: 2, checkpoint_every: 4}
"""
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One corpus and tokenizer cache for the module: each is built by the first test that needs it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def paths(tmp_path, cache):
    real_catalogs_or_skip(["de", "fr", "it"])
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    (tmp_path / "cache").symlink_to(cache)
    return tmp_path


def demo(paths, *extra: str):
    args = [
        "demo",
        "--config",
        str(paths / "tiny.yaml"),
        "--out",
        str(paths / "demo"),
        "--cache",
        str(paths / "cache"),
        "--mono-only",
        "it",
        "--base-steps",
        "8",
        "--no-progress",
        *extra,
    ]
    return CliRunner().invoke(app, args)


def test_demo_reports_then_reuses_its_inputs_and_restarts_on_a_new_setting(paths, caplog):
    caplog.set_level(logging.INFO)
    result = demo(paths)
    assert result.exit_code == 0, result.output
    report = (paths / "demo" / "report.md").read_text()
    assert "| de | pairs |" in report and "| it | monolingual text only |" in report and "X->en before" in report
    assert (
        "| base: MMLM only (where the recipe and the arms start) | 1 |" in report
        and "| token overlap (TF-IDF), no model |" in report
    )
    assert all((paths / "demo" / name).read_bytes().startswith(PNG) for name in ("losses.png", "alignment.png"))
    scored = json.loads((paths / "demo" / "pretrain" / "result.json").read_text())
    assert scored["training"]["steps"] == 12 and str(paths / "demo" / "report.md") in result.output
    # the trained model's card carries its score
    card = (paths / "demo" / "pretrain" / "model" / "README.md").read_text()
    assert "heldout (" in card and f"{scored['heldout']['average']:.1f} |" in card and "None yet" not in card
    # The recipe continued from the cached base: 8 MMLM steps from the random initialisation.
    (base,) = (paths / "cache").glob("base-*")
    assert json.loads((base / "result.json").read_text())["training"]["steps"] == 8
    assert RunSettings.load(paths / "demo" / "pretrain" / "run.yaml").init_from == (base / "model").resolve()

    caplog.clear()
    assert demo(paths).exit_code == 0
    messages = caplog.text
    # the base twice: trained, then scored
    assert (
        "corpus: reusing" in messages
        and "tokenizer: reusing" in messages
        and messages.count("finished and scored before") == 4
    )

    caplog.clear()
    assert demo(paths, "--set", "train.lr=1e-12").exit_code == 0
    assert "corpus: reusing" in caplog.text and "other settings; starting it over" in caplog.text
    # With a learning rate of ~0 the trained models are their initialisation: the random one is the base's.
    (base,) = [path for path in (paths / "cache").glob("base-*") if "e-12" in (path / "run.yaml").read_text()]
    trained = load_file(base / "model" / "model.safetensors")
    untrained = load_file(paths / "demo" / "untrained" / "model" / "model.safetensors")
    assert trained.keys() == untrained.keys()
    assert all(torch.allclose(trained[name], untrained[name], atol=1e-6) for name in trained)


def test_ctrl_c_leaves_no_report_and_the_next_run_resumes(paths, monkeypatch):
    (paths / "demo").mkdir()
    (paths / "demo" / "report.md").write_text("an earlier demo's report")
    save = checkpoint.save

    def save_then_interrupt(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)
    result = demo(paths)
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert not (paths / "demo" / "report.md").exists() and not (paths / "demo" / "pretrain" / "result.json").exists()
    assert (paths / "demo" / "pretrain" / "checkpoints" / "step-000004").is_dir()

    monkeypatch.setattr(checkpoint, "save", save)
    restored = []
    restore = Trainer.restore
    monkeypatch.setattr(
        Trainer, "restore", lambda self, path, *rest: restored.append(path.name) or restore(self, path, *rest)
    )
    assert demo(paths).exit_code == 0
    assert restored == ["step-000004"]
    assert (paths / "demo" / "report.md").read_text().startswith("# ERNIE-M demo")


def test_demo_scores_real_sentences_when_given_without_training_again(paths, caplog):
    """--tatoeba and --xnli add their measures to every row; a finished demo is scored again on them, not trained
    again."""
    assert demo(paths).exit_code == 0
    tatoeba, xnli = paths / "tatoeba", paths / "xnli"
    tatoeba.mkdir()
    xnli.mkdir()
    (tatoeba / "tatoeba.deu-eng.deu").write_text("Die Katze schläft.\nIch trinke Wasser.\nDas Haus ist alt.\n")
    (tatoeba / "tatoeba.deu-eng.eng").write_text("The cat sleeps.\nI drink water.\nThe house is old.\n")
    rows = {
        "en": "The cat sleeps.\tAn animal rests.\tentailment\nI drink water.\tI am thirsty.\tneutral\n",
        "de": "Die Katze schläft.\tEin Tier ruht.\tentailment\nIch trinke Wasser.\tIch habe Durst.\tneutral\n",
        "fr": "Le chat dort.\tUn animal se repose.\tentailment\nJe bois de l'eau.\tJ'ai soif.\tneutral\n",
    }
    for lang, text in rows.items():
        (xnli / f"dev-{lang}.tsv").write_text(text)
    caplog.set_level(logging.INFO)
    caplog.clear()
    result = demo(paths, "--tatoeba", str(tatoeba), "--xnli", str(xnli))
    assert result.exit_code == 0, result.output
    assert (
        caplog.text.count("finished before; scoring it on the measures asked now") == 3
        and "continuing" not in caplog.text
    )
    report = (paths / "demo" / "report.md").read_text()
    assert "| de | pairs |" in report.split("## Real sentences: Tatoeba")[1].split("##")[0]
    xnli_section = report.split("## Real sentences: XNLI's translated sentences")[1].split("##")[0]
    assert "| fr | pairs |" in xnli_section and "| it |" not in xnli_section  # it has no XNLI file: not in its table

    refused = demo(paths, "--tatoeba", str(paths / "empty"))
    assert refused.exit_code == 2 and "no tatoeba test files for any of de, fr, it" in refused.stderr
    assert (paths / "demo" / "report.md").exists()  # refused before anything: the finished demo's report stays


def write_conll(folder: Path) -> Path:
    """A few tagged sentences per language under CoNLL's file names (IOB2, token first, tag last)."""
    folder.mkdir()
    sentences = {
        "en": [("Anna lives in Berlin .", "B-PER O O B-LOC O"), ("Paris is big .", "B-LOC O O O")],
        "de": [("Anna wohnt in Berlin .", "B-PER O O B-LOC O")],
        "es": [("Ana vive en Madrid .", "B-PER O O B-LOC O")],
        "nl": [("Anna woont in Gent .", "B-PER O O B-LOC O")],
    }
    names = {
        "en": ("eng.train", "eng.testa", "eng.testb"),
        "de": ("deu.testb",),
        "es": ("esp.testb",),
        "nl": ("ned.testb",),
    }
    for lang, files in names.items():
        text = "".join(
            "".join(f"{w} {t}\n" for w, t in zip(words.split(), tags.split(), strict=True)) + "\n"
            for words, tags in sentences[lang] * 4
        )
        for name in files:
            (folder / name).write_text(text)
    return folder


def test_demo_fine_tunes_conll_with_a_learning_rate_chosen_on_english_dev(paths):
    result = demo(paths, "--conll", str(write_conll(paths / "conll")))
    assert result.exit_code == 0, result.output
    chosen = json.loads((paths / "demo" / "conll-lr.json").read_text())["dev_f1"]
    assert list(chosen) == ["3e-05", "0.0001", "0.0003", "0.001"]
    report = (paths / "demo" / "report.md").read_text()
    section = report.split("## Downstream: CoNLL NER")[1].split("##")[0]
    assert (
        "| en | de | es | nl | transfer | collapsed |" in section
        and "| base: MMLM only (where the recipe and the arms start) | 1 |" in section
    )
    best = max(chosen, key=lambda rate: (chosen[rate], float(rate)))  # a tie goes to the larger rate
    assert f"learning rate {best} without layer decay" in section
    scored = json.loads((paths / "demo" / "pretrain" / "result.json").read_text())
    assert list(scored["conll"]["scores"]) == ["en", "de", "es", "nl"] and "collapsed" in scored["conll"]


def test_ablation_scores_every_arm_with_each_seed_then_reuses_them(paths, caplog):
    caplog.set_level(logging.INFO)
    common = [
        "ablation",
        "--config",
        str(paths / "tiny.yaml"),
        "--out",
        str(paths / "ablation"),
        "--cache",
        str(paths / "cache"),
        "--mono-only",
        "it",
        "--seeds",
        "0,1",
        "--max-steps",
        "4",
        "--base-steps",
        "6",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, [*common, "--arms", "mmlm,mmlm-camlm-btmlm"])
    assert result.exit_code == 0, result.output
    runs = json.loads((paths / "ablation" / "ablation.json").read_text())
    assert list(runs) == [
        "random initialisation (no pre-training)",
        "base: MMLM only (where the recipe and the arms start)",
        "MMLM",
        "MMLM+CAMLM, then +BTMLM",
    ]
    assert all(len(seeds) == 2 for seeds in runs.values())
    assert runs["MMLM"][0]["heldout"]["scores"] != runs["MMLM"][1]["heldout"]["scores"]  # the seed reaches the model
    # Each seed's arms continue from that seed's base, trained 6 MMLM steps from its random initialisation.
    bases = [Path(run["model"]) for run in runs["base: MMLM only (where the recipe and the arms start)"]]
    assert len(set(bases)) == 2 and all(
        json.loads((base.parent / "result.json").read_text())["training"]["steps"] == 6 for base in bases
    )
    for seed, base in enumerate(bases):
        for arm in ("mmlm", "mmlm-camlm-btmlm"):
            assert RunSettings.load(paths / "ablation" / arm / f"seed-{seed}" / "run.yaml").init_from == base
    assert "btmlm" in runs["MMLM+CAMLM, then +BTMLM"][0]["training"]["final_loss"]
    assert "btmlm" not in runs["MMLM"][0]["training"]["final_loss"]
    table = (paths / "ablation" / "ablation.md").read_text()
    assert "| MMLM | 2 |" in table and (paths / "ablation" / "ablation.png").read_bytes().startswith(PNG)
    assert "The paper's comparisons" not in table  # neither arm is compared with the other

    caplog.clear()
    again = CliRunner().invoke(app, [*common, "--arms", "mmlm,mmlm-camlm-btmlm"])
    # 2 untrained, 2 bases (trained, scored), 4 arms
    assert again.exit_code == 0 and caplog.text.count("finished and scored before") == 10

    refused = CliRunner().invoke(app, [*common, "--arms", "mmlm,tlm-only"])
    assert refused.exit_code == 2 and "tlm-only" in refused.stderr

    # --init-from: a model on disk (here the first seed's base; XLM-R for a user) is every seed's base
    # and the reference row.
    given = bases[0]
    common = [
        "ablation",
        "--config",
        str(paths / "tiny.yaml"),
        "--out",
        str(paths / "from-given"),
        "--cache",
        str(paths / "cache"),
        "--mono-only",
        "it",
        "--seeds",
        "0,1",
        "--max-steps",
        "4",
        "--arms",
        "mmlm",
        "--init-from",
        str(given),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, common)
    assert result.exit_code == 0, result.output
    runs = json.loads((paths / "from-given" / "ablation.json").read_text())
    assert list(runs) == ["the --init-from model (where the arms start)", "MMLM"]
    assert [run["model"] for run in runs["the --init-from model (where the arms start)"]] == [str(given)] * 2
    assert all(
        RunSettings.load(paths / "from-given" / "mmlm" / f"seed-{seed}" / "run.yaml").init_from == given
        for seed in (0, 1)
    )
    refused = CliRunner().invoke(app, [*common, "--base-steps", "5"])
    assert refused.exit_code == 2 and "--base-steps: with --init-from the given model is the base" in refused.stderr
