"""Model cards: the run summary's final losses, and results put into a card."""

from __future__ import annotations

import json

import pytest

from ernie_m.card import RUN_SUMMARY, run_card
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.report import add_results, write_report
from ernie_m.train.run import LOSSES_OVER, final_losses

SUMMARY = {
    "name": "run",
    "tool": "ernie-m 0",
    "languages": ["de", "en"],
    "init_from": None,
    "corpus": None,
    "data": {"pairs": {"de-en": 10}, "monolingual": {}},
    "model": {"layers": 1, "hidden": 8, "heads": 2, "intermediate": 16, "vocab_size": 100, "parameters": 1234},
    "training": {
        "steps": 4,
        "batch_size": 2,
        "grad_accum": 1,
        "processes": 1,
        "max_length": 16,
        "lr": 0.001,
        "warmup_steps": 1,
        "seed": 0,
        "stages": [{"name": "s", "steps": 4, "objectives": {"mmlm": 1.0, "tlm": 0.0}}],
    },
    "losses_over": LOSSES_OVER,
    "final_losses": {"mmlm": 2.5},
}


SOFTWARE = {
    "ernie_m": "ernie-m 0.1.0",
    "commit": "0123456789abcdef",
    "torch": "2.13.0",
    "transformers": "5.0.0",
    "python": "3.11.7",
    "date": "2026-12-07T12:00:00+00:00",
}


def result(model: str, task: str = "xnli", split: str = "test", subsample: int | None = None) -> dict:
    tuning = {
        "train_split": "train",
        "dev_split": "dev",
        "examples": subsample or 392702,
        "subsample": subsample,
        "epochs": 2,
        "batch_size": 32,
        "lr": 2e-5,
        "layer_decay": 0.8,
        "seed": 0,
    }
    made = {
        "data": "/data/xnli",
        "test_split": split,
        "examples": {"de": 5010, "en": 5010},
        "max_length": 128,
        "fine_tuning": tuning,
        "layer": None,
        "software": SOFTWARE,
    }
    return {
        "task": task,
        "setting": "transfer",
        "metric": "accuracy",
        "model": model,
        "scores": {"de": 40.0, "en": 60.0},
        "average": 50.0,
        "provenance": made,
    }


def test_final_losses_average_the_last_logged_values_per_objective(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = [{"step": step, "loss/mmlm": float(step)} for step in range(1, 9)] + [
        {"step": 9, "loss/tlm": 3.0, "tokens_per_s": 1}
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert LOSSES_OVER == 5
    assert final_losses(log) == {"mmlm": (4 + 5 + 6 + 7 + 8) / 5, "tlm": 3.0}


def test_card_takes_this_models_results_only(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / RUN_SUMMARY).write_text(json.dumps(SUMMARY))
    mine, theirs, stray = tmp_path / "mine", tmp_path / "theirs", tmp_path / "stray"
    write_report(result(str(model)), mine)
    write_report(result(str(tmp_path / "other")), theirs)
    card = (add_results(model, [mine])).read_text()
    assert (
        f"| {tmp_path.name} | 40.0 | 60.0 | 50.0 |" in card
        and "| s | 4 | MMLM 1 |" in card
        and "TLM" not in card.split("## Training")[1].split("## Data")[0]
    )
    with pytest.raises(ErnieMError, match="results are of other models"):
        add_results(model, [theirs])
    stray.mkdir()
    (stray / "notes.json").write_text("[1, 2]")
    with pytest.raises(ErnieMError, match="notes.json: not an evaluation result"):
        add_results(model, [stray])
    (model / RUN_SUMMARY).write_text("{")
    with pytest.raises(ErnieMError, match="unreadable or incomplete"):
        add_results(model, [mine])


def test_summary_rows_keep_models_apart_whose_short_names_clash():
    from ernie_m.evaluate.report import summary_table

    def scored(model, score):
        return {
            "task": "xnli",
            "setting": "transfer",
            "metric": "accuracy",
            "model": model,
            "scores": {"de": score},
            "average": score,
        }

    table = summary_table(
        [scored("/runs/a/xlmr", 70.0), scored("/runs/b/xlmr", 60.0), scored("/runs/base/model", 75.0)]
    )
    assert "| /runs/a/xlmr | 70.0 |" in table and "| /runs/b/xlmr | 60.0 |" in table  # both "xlmr": whole paths
    assert "| base | 75.0 |" in table  # runs/base/model reads as "base"


@pytest.mark.parametrize(
    ("split", "subsample", "why"),
    [("dev", None, "scored on the dev split"), ("test", 2000, "fine-tuned on a subsample of 2,000 examples")],
)
def test_card_refuses_partial_results_unless_allowed_and_says_what_each_is(split, subsample, why, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / RUN_SUMMARY).write_text(json.dumps(SUMMARY))
    write_report(result(str(model), split=split, subsample=subsample), tmp_path / "eval")
    with pytest.raises(ErnieMError, match=f"not full test-set results: xnli .transfer.: {why}; pass --allow-partial"):
        add_results(model, [tmp_path / "eval"])
    card = add_results(model, [tmp_path / "eval"], allow_partial=True).read_text()
    assert (
        f"- xnli (transfer): {split} split, 5,010 examples a language, up to 128 tokens; fine-tuned on "
        f"{subsample or 392702:,} train examples (2 epochs, lr 2e-05, layer decay 0.8, seed 0); ernie-m 0.1.0 at "
        "0123456789ab, "
        "torch 2.13.0, transformers 5.0.0, 2026-12-07"
    ) in card


def test_objective_titles_come_from_the_summary_or_in_training_order_from_an_earlier_one():
    stages = [
        {"name": "a", "steps": 2, "objectives": {"mmlm": 1.0, "camlm": 1.0}},
        {"name": "b", "steps": 2, "objectives": {"mmlm": 1.0, "camlm": 1.0, "btmlm": 1.0}},
    ]
    earlier = {**SUMMARY, "training": {**SUMMARY["training"], "stages": stages}}
    assert "ERNIE-M's objectives (MMLM, CAMLM, BTMLM)" in run_card(earlier)
    titled = {**earlier, "training": {**earlier["training"], "objectives": {"camlm": "CAMLM", "mmlm": "masked LM"}}}
    card = run_card(titled)
    assert (
        "ERNIE-M's objectives (CAMLM, masked LM, btmlm)" in card and "| b | 2 | masked LM 1, CAMLM 1, btmlm 1 |" in card
    )
