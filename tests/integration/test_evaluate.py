"""`ernie-m evaluate` end to end with a tiny model: on fixtures the tests write, and on the real
evaluation files in ../shared/data when present (a short fine-tune on each task)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.data.tokenizer import train_tokenizer

SHARED = SHARED_DATA
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data (the team's evaluation files) is absent")

WORDS = {
    "en": "the house cat dog tree water sun moon city book table and is a red big".split(),
    "de": "das Haus Katze Hund Baum Wasser Sonne Mond Stadt Buch Tisch und ist ein rot groß".split(),
}


def sentences(lang: str, count: int, seed: int = 0) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS[lang], size=rng.integers(3, 9))) for _ in range(count)]


def filler_text() -> list[str]:
    """Made-up words enough for a 600-piece tokenizer, so that the fixture's tokenizer keeps the test
    sentences' words whole with or without ../shared's real text."""
    import numpy as np

    rng = np.random.default_rng(7)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = ["".join(rng.choice(letters, size=rng.integers(3, 9))) for _ in range(1500)]
    return [" ".join(rng.choice(words, size=8)) for _ in range(3000)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random tiny XLM-R with a tokenizer trained on generated text plus the real files' English."""
    directory = tmp_path_factory.mktemp("tiny-model")
    text = sentences("en", 300) + sentences("de", 300) + filler_text()
    if SHARED.is_dir():
        for name in ("xnli/dev-en.tsv", "xnli/dev-de.tsv", "pawsx/dev-en.tsv"):
            text += (SHARED / name).read_text(encoding="utf-8").splitlines()[:1500]
    tokenizer = train_tokenizer(text, directory, vocab_size=600)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=258,
    )
    XLMRobertaForMaskedLM(config).save_pretrained(directory)
    return directory


def evaluate(*args: str):
    result = CliRunner().invoke(app, ["evaluate", *args, "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def test_tatoeba_on_written_files(tiny_model, tmp_path):
    """Known answer: when both sides hold the same sentences, every sentence finds itself (100%)."""
    data = tmp_path / "tatoeba"
    data.mkdir()
    text = "\n".join(unique(sentences("de", 60, seed=1))[:50]) + "\n"
    (data / "tatoeba.deu-eng.deu").write_text(text, encoding="utf-8")
    (data / "tatoeba.deu-eng.eng").write_text(text, encoding="utf-8")
    out = tmp_path / "results"
    # de: found in --data
    result = evaluate("tatoeba", "--model", str(tiny_model), "--data", str(data), "--out", str(out), "--layer", "1")
    saved = json.loads((out / "tatoeba-zero-shot.json").read_text())
    assert saved["scores"] == {"de->en": 100.0, "en->de": 100.0}
    assert "de->en" in result.output and "written:" in result.output
    assert (out / "tatoeba-zero-shot.png").read_bytes()[:4] == b"\x89PNG"


def test_xnli_retrieval_on_written_files(tiny_model, tmp_path):
    """Known answer: a "German" file that is the English one retrieves every sentence (100%, the TF-IDF
    floor too); a premise repeated for three hypotheses is one sentence; files of other lengths are named."""
    data = tmp_path / "xnli"
    data.mkdir()
    premises, hypotheses = unique(sentences("de", 40, seed=5))[:10], unique(sentences("de", 80, seed=6))[:30]
    rows = "".join(f"{premises[i // 3]}\t{hypothesis}\tneutral\n" for i, hypothesis in enumerate(hypotheses))
    for lang in ("en", "de"):
        (data / f"dev-{lang}.tsv").write_text(rows, encoding="utf-8")
    out = tmp_path / "results"
    evaluate(
        "xnli-retrieval",
        "--model",
        str(tiny_model),
        "--data",
        str(data),
        "--languages",
        "de",
        "--test-split",
        "dev",
        "--out",
        str(out),
        "--layer",
        "1",
    )
    saved = json.loads((out / "xnli-retrieval-zero-shot.json").read_text())
    assert saved["scores"] == saved["overlap_floor"] == {"de->en": 100.0, "en->de": 100.0}
    # 10 premises, each once, and 30 hypotheses
    assert saved["sentences"] == {"de": 40} and len(saved["hits"]["de->en"]) == 40
    assert "| token overlap (TF-IDF) | 100.0 | 100.0 | 100.0 |" in (out / "xnli-retrieval-zero-shot.md").read_text()
    (data / "dev-de.tsv").write_text(rows + rows.splitlines(keepends=True)[0], encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "xnli-retrieval",
            "--model",
            str(tiny_model),
            "--data",
            str(data),
            "--languages",
            "de",
            "--test-split",
            "dev",
            "--out",
            str(tmp_path / "other"),
        ],
    )
    assert result.exit_code == 2 and "dev-de.tsv has 31 rows but" in result.stderr


@needs_shared
def test_xnli_retrieval_on_the_real_dev_files(tiny_model, tmp_path):
    """XNLI dev's 2,490 rows give 3,320 distinct sentences in German as in English (830 premises, 2,490 hypotheses)."""
    out = tmp_path / "results"
    evaluate(
        "xnli-retrieval",
        "--model",
        str(tiny_model),
        "--data",
        str(SHARED / "xnli"),
        "--languages",
        "de,zh",
        "--test-split",
        "dev",
        "--out",
        str(out),
    )
    saved = json.loads((out / "xnli-retrieval-zero-shot.json").read_text())
    assert set(saved["scores"]) == set(saved["overlap_floor"]) == {"de->en", "en->de", "zh->en", "en->zh"}
    assert saved["sentences"] == {"de": 3320, "zh": 3319}  # one Chinese hypothesis is written twice
    # German shares names and cognates with English
    assert saved["overlap_floor"]["de->en"] > saved["overlap_floor"]["zh->en"]


def test_missing_language_is_refused(tiny_model, tmp_path):
    result = CliRunner().invoke(
        app, ["evaluate", "xnli", "--model", str(tiny_model), "--data", str(tmp_path), "--languages", "xx"]
    )
    assert result.exit_code == 2 and "no xx data" in result.stderr


@needs_shared
@pytest.mark.parametrize(
    ("task", "languages"), [("xnli", "en,de"), ("pawsx", "en,de"), ("conll", "en,es"), ("mlqa", "en,zh")]
)
def test_short_finetune_on_real_files(task, languages, tiny_model, tmp_path):
    out = tmp_path / "results"
    evaluate(
        task,
        "--model",
        str(tiny_model),
        "--data",
        str(SHARED / task),
        "--languages",
        languages,
        "--train-split",
        "dev",
        "--test-split",
        "dev",
        "--max-train-examples",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-length",
        "256" if task == "mlqa" else "64",
        "--out",
        str(out),
    )
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert list(saved["scores"]) == languages.split(",") and len(saved["dev_scores"]) == 1
    assert all(0 <= score <= 100 for score in saved["scores"].values())


def test_bucc_on_written_files(tiny_model, tmp_path, monkeypatch):
    """Known answer: the 10 gold pairs are identical sentences among distractors, so mining finds exactly them."""
    data = tmp_path / "bucc2018" / "de-en"
    data.mkdir(parents=True)
    for split in ("sample", "training"):
        pool = unique(sentences("de", 200, seed=3) + sentences("en", 200, seed=4))
        german, english = pool[:10] + pool[10:40], pool[:10] + pool[40:90]
        (data / f"de-en.{split}.de").write_text(
            "".join(f"de-{i}\t{s}\n" for i, s in enumerate(german)), encoding="utf-8"
        )
        (data / f"de-en.{split}.en").write_text(
            "".join(f"en-{i}\t{s}\n" for i, s in enumerate(english)), encoding="utf-8"
        )
        (data / f"de-en.{split}.gold").write_text("".join(f"de-{i}\ten-{i}\n" for i in range(10)), encoding="utf-8")
    out = tmp_path / "results"
    evaluate("bucc", "--model", str(tiny_model), "--data", str(tmp_path), "--languages", "de", "--out", str(out))
    saved = json.loads((out / "bucc-zero-shot.json").read_text())
    assert saved["metric"] == "F1" and saved["scores"]["de"] == 100.0
    summary = CliRunner().invoke(app, ["report", str(out)])
    assert summary.exit_code == 0, summary.output
    assert "| model | bucc (zero-shot) |" in summary.output and "| tiny-model0 | 100.0 |" in summary.output
    assert "bucc (zero-shot, F1)" in summary.output and "| model | de | avg |" in summary.output

    # Another model never replaces that result; with its own --out, report lays both side by side.
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model, other)
    refused = CliRunner().invoke(
        app,
        [
            "evaluate",
            "bucc",
            "--model",
            str(other),
            "--data",
            str(tmp_path),
            "--languages",
            "de",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert refused.exit_code == 2 and "holds the result of another model" in refused.stderr, refused.output
    assert json.loads((out / "bucc-zero-shot.json").read_text())["model"] == str(tiny_model.resolve())
    monkeypatch.chdir(tiny_model.parent)  # the same model, typed as a relative path: its result is replaced
    evaluate("bucc", "--model", tiny_model.name, "--data", str(tmp_path), "--languages", "de", "--out", str(out))
    evaluate(
        "bucc",
        "--model",
        str(other),
        "--data",
        str(tmp_path),
        "--languages",
        "de",
        "--out",
        str(tmp_path / "other-results"),
    )
    both = CliRunner().invoke(app, ["report", str(out), str(tmp_path / "other-results")])
    assert (
        both.exit_code == 0 and "| tiny-model0 | 100.0 |" in both.output and "| other-model | 100.0 |" in both.output
    ), both.output


def test_model_directory_without_tokenizer_is_refused_and_nothing_written(tmp_path):
    model_dir = tmp_path / "bare"
    torch.manual_seed(0)
    XLMRobertaForMaskedLM(
        XLMRobertaConfig(
            vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    ).save_pretrained(model_dir)
    data = tmp_path / "xnli"
    data.mkdir()
    (data / "dev-en.tsv").write_text("a b\tc d\tneutral\n", encoding="utf-8")
    (data / "tatoeba.deu-eng.deu").write_text("ein Haus\n", encoding="utf-8")
    (data / "tatoeba.deu-eng.eng").write_text("a house\n", encoding="utf-8")
    out = tmp_path / "results"
    for task, language in (("xnli", "en"), ("tatoeba", "de")):
        result = CliRunner().invoke(
            app,
            [
                "evaluate",
                task,
                "--model",
                str(model_dir),
                "--data",
                str(data),
                "--languages",
                language,
                "--out",
                str(out),
                "--no-progress",
            ],
        )
        assert result.exit_code == 2 and "tokenizer" in result.stderr, result.output
    assert not out.exists() or not any(out.glob("*.json"))


def test_encode_writes_one_row_per_line(tiny_model, tmp_path):
    import numpy as np

    text = tmp_path / "sentences.txt"
    text.write_text("das Haus ist rot\nthe cat\nein Hund und ein Baum\n", encoding="utf-8")
    out = tmp_path / "vectors.npy"
    result = CliRunner().invoke(app, ["encode", "--model", str(tiny_model), "--input", str(text), "--out", str(out)])
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentences.txt", "vectors.npy"]


def test_heldout_retrieval_on_a_built_corpus(tiny_model, tmp_path):
    from conftest import write_corpus

    from ernie_m.data.build import BuildOptions, build_corpus

    user = write_corpus(tmp_path / "user", pairs=400, mono=50)
    build_corpus(
        BuildOptions(
            catalog_languages=(),
            user_corpora=(user,),
            dev_pairs=10,
            test_pairs=30,
            min_train_pairs=50,
            mono_only=("de",),
        ),
        tmp_path / "corpus",
    )
    out = tmp_path / "results"
    evaluate(
        "heldout", "--model", str(tiny_model), "--data", str(tmp_path / "corpus"), "--out", str(out), "--layer", "1"
    )
    saved = json.loads((out / "heldout-zero-shot.json").read_text())
    assert set(saved["scores"]) == {"de->en", "en->de"} and saved["mono_only"] == ["de"]
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "heldout",
            "--model",
            str(tiny_model),
            "--data",
            str(tmp_path / "corpus"),
            "--languages",
            "fr",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2 and "no held-out test pairs for fr" in result.stderr


@pytest.mark.parametrize(
    ("task", "options", "named"),
    [
        ("tatoeba", ["--epochs", "3", "--lr", "1e-4"], "--epochs, --lr do not apply (tatoeba does not fine-tune)"),
        ("bucc", ["--setting", "translate-train-all"], "--setting does not apply"),
        ("xnli", ["--layer", "4"], "--layer does not apply (xnli pools no layer)"),
    ],
)
def test_options_a_task_would_ignore_are_refused(task, options, named, tmp_path):
    """Before anything is loaded or written: an option the task does not use is an error, not a silent no-op."""
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            task,
            "--model",
            str(tmp_path / "absent"),
            "--data",
            str(tmp_path),
            "--languages",
            "de",
            "--out",
            str(tmp_path / "out"),
            *options,
        ],
    )
    assert result.exit_code == 2 and named in result.stderr, result.output
    assert not (tmp_path / "out").exists()


def test_a_malformed_test_file_is_found_before_fine_tuning_and_nothing_is_left(tiny_model, tmp_path, monkeypatch):
    from ernie_m.evaluate import tasks

    data = tmp_path / "xnli"
    data.mkdir()
    rows = "".join(
        f"{a}\t{b}\tneutral\n" for a, b in zip(sentences("en", 20), sentences("en", 20, seed=1), strict=True)
    )
    for split in ("train", "dev", "test"):
        (data / f"{split}-en.tsv").write_text(rows, encoding="utf-8")
    (data / "test-de.tsv").write_text(rows + "one field only\n", encoding="utf-8")
    monkeypatch.setattr(tasks, "finetune", lambda *_, **__: pytest.fail("fine-tuned before every file was read"))
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "xnli",
            "--model",
            str(tiny_model),
            "--data",
            str(data),
            "--languages",
            "en,de",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 2 and "test-de.tsv: line 21" in result.stderr, result.output
    assert not out.exists() or not any(out.rglob("*"))


def test_a_finished_evaluation_leaves_no_fine_tuning_state(tiny_model, tmp_path):
    data = tmp_path / "xnli"
    data.mkdir()
    rows = "".join(
        f"{a}\t{b}\tneutral\n" for a, b in zip(sentences("en", 20), sentences("en", 20, seed=1), strict=True)
    )
    for split in ("train", "dev", "test"):
        (data / f"{split}-en.tsv").write_text(rows, encoding="utf-8")
    out = tmp_path / "results"
    evaluate(
        "xnli", "--model", str(tiny_model), "--data", str(data), "--languages", "en", "--epochs", "1", "--out", str(out)
    )
    assert not (out / ".finetune").exists() and (out / "xnli-transfer.json").is_file()
    made = json.loads((out / "xnli-transfer.json").read_text())["provenance"]
    assert made["data"] == str(data.resolve()) and made["test_split"] == "test" and made["examples"] == {"en": 20}
    assert made["fine_tuning"] == {
        "train_split": "train",
        "dev_split": "dev",
        "examples": 20,
        "subsample": None,
        "epochs": 1,
        "batch_size": 32,
        "lr": 2e-5,
        "layer_decay": 0.8,
        "seed": 0,
    }
    assert made["max_length"] == 128 and made["software"]["torch"] == torch.__version__


def test_a_sentence_transformers_export_gives_encode_s_vectors(tiny_model, tmp_path):
    import numpy as np

    sentence_transformers = pytest.importorskip("sentence_transformers")
    from ernie_m.evaluate.encode import encode_dir

    out = tmp_path / "st"
    result = CliRunner().invoke(
        app, ["export", "--model", str(tiny_model), "--sentence-transformers", "--layer", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    texts = sentences("en", 6, seed=3) + sentences("de", 6, seed=4)
    vectors = sentence_transformers.SentenceTransformer(str(out), device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, encode_dir(tiny_model, texts, layer=1, device="cpu"), atol=1e-5, rtol=1e-4)


def test_a_new_task_is_one_spec_that_the_cli_dispatches(tiny_model, tmp_path, monkeypatch):
    """A retrieval task over `<lang>.tsv` files (foreign TAB English), defined here as one Task: the
    command line runs it, files its result as zero-shot, and refuses fine-tuning options for it."""
    from ernie_m.evaluate import tasks

    def read_and_retrieve(settings):
        rows = {
            lang: [line.split("\t") for line in (settings.data_dir / f"{lang}.tsv").read_text().splitlines()]
            for lang in settings.task_languages()
        }
        return tasks._retrieval_result(
            settings, {lang: tuple(map(list, zip(*r, strict=True))) for lang, r in rows.items()}
        )

    monkeypatch.setitem(
        tasks.TASKS, "tsv-retrieval", tasks.Task("tsv-retrieval", read_and_retrieve, ("de",), finetunes=False)
    )
    german, english = unique(sentences("de", 60, seed=5))[:20], unique(sentences("en", 60, seed=6))[:20]
    (tmp_path / "de.tsv").write_text("".join(f"{d}\t{e}\n" for d, e in zip(german, english, strict=True)))
    out = tmp_path / "results"
    evaluate("tsv-retrieval", "--model", str(tiny_model), "--data", str(tmp_path), "--out", str(out))
    saved = json.loads((out / "tsv-retrieval-zero-shot.json").read_text())
    assert set(saved["scores"]) == {"de->en", "en->de"} and saved["provenance"]["examples"] == {"de": 20}
    refused = CliRunner().invoke(
        app, ["evaluate", "tsv-retrieval", "--model", str(tiny_model), "--data", str(tmp_path), "--epochs", "2"]
    )
    assert refused.exit_code != 0 and "--epochs does not apply (tsv-retrieval does not fine-tune)" in refused.output
