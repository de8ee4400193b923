"""Real runs on a small corpus the tests write: export, exact resume, falling losses, XLM-R start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
)

from ernie_m.config import load_config
from ernie_m.model import load_model
from ernie_m.train.run import RunSettings, pretrain


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def losses(out: Path) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k.startswith("loss/") or k == "step"} for r in read_log(out) if "event" not in r
    ]


def test_run_exports_a_model_that_transformers_loads_alone(corpus_dir, config_file, tmp_path):
    out = tmp_path / "run"
    model_dir = pretrain(RunSettings(load_config(config_file), corpus_dir), out, progress=False)
    assert model_dir == out / "model"
    records = losses(out)
    assert [r["step"] for r in records] == list(range(1, 13))
    assert {k for r in records for k in r} == {"step", "loss/mmlm", "loss/tlm", "loss/camlm", "loss/btmlm"}

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    encoded = tokenizer(["Das Haus und die Katze.", "The house and the cat."], padding=True, return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(encoded.input_ids[0])[0] == "<s>"
    assert (encoded.input_ids[0] != tokenizer.unk_token_id).all()
    languages = model.config.ernie_m_languages
    assert languages == ["de", "en", "fr"] and model.config.type_vocab_size == 4
    with torch.no_grad():
        plain = model(**encoded).last_hidden_state
        german = model(
            **encoded, token_type_ids=torch.full_like(encoded.input_ids, languages.index("de") + 1)
        ).last_hidden_state
    assert plain.shape == (2, encoded.input_ids.shape[1], 32) and torch.isfinite(plain).all()
    assert not torch.allclose(plain, german)  # the language rows are trained and used
    mlm = AutoModelForMaskedLM.from_pretrained(model_dir)
    trained = safetensors.torch.load_file(out / "checkpoints" / "step-000012" / "model.safetensors")
    torch.testing.assert_close(mlm.lm_head.dense.weight, trained["mlm.lm_head.dense.weight"])


def test_resume_is_exact(corpus_dir, config_file, tmp_path):
    """Stopped at step 6 (mid-schedule, between checkpoints) and resumed: the same losses and weights at 12."""
    config = load_config(config_file)
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    pretrain(RunSettings(config, corpus_dir), straight, progress=False)
    assert pretrain(RunSettings(config, corpus_dir), interrupted, stop_at=6, progress=False) is None
    assert not (interrupted / "model").exists()
    pretrain(None, interrupted, resume=True, progress=False)
    assert losses(interrupted) == losses(straight)
    a = safetensors.torch.load_file(straight / "model" / "model.safetensors")
    b = safetensors.torch.load_file(interrupted / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("objective", ["mmlm", "tlm", "camlm", "btmlm"])
def test_loss_falls_for_each_objective(objective, corpus_dir, tmp_path):
    config = load_config(
        None,
        [
            "model.hidden_size=32",
            "model.num_hidden_layers=1",
            "model.num_attention_heads=2",
            "model.intermediate_size=64",
            "tokenizer.vocab_size=64",
            "data.max_length=32",
            "train.batch_size=16",
            "train.lr=3e-3",
            "train.warmup_steps=5",
            "train.log_every=1",
            "train.checkpoint_every=1000",
        ],
    )
    config = config.__class__(
        **{**config.__dict__, "stages": (config.stages[0].__class__("only", 60, {objective: 1.0}),)}
    )
    pretrain(RunSettings(config, corpus_dir), tmp_path / objective, progress=False)
    curve = [r[f"loss/{objective}"] for r in losses(tmp_path / objective)]
    first, last = sum(curve[:10]) / 10, sum(curve[-10:]) / 10
    assert last < 0.7 * first, (first, last)


def test_init_from_xlmr_keeps_its_outputs_and_tokenizer(corpus_dir, config_file, tmp_path):
    """A tiny random XLM-R saved by the test: the loaded model with language rows computes what XLM-R computes."""
    tokenizer_run = tmp_path / "tok"
    pretrain(
        RunSettings(load_config(config_file, ["stages=[{name: s, steps: 1, objectives: {mmlm: 1}}]"]), corpus_dir),
        tokenizer_run,
        progress=False,
    )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_run / "model")
    xlmr_dir = tmp_path / "xlmr"
    torch.manual_seed(3)
    xlmr = XLMRobertaForMaskedLM(
        XLMRobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=66,
        )
    )
    xlmr.save_pretrained(xlmr_dir)
    tokenizer.save_pretrained(xlmr_dir)

    model = load_model(xlmr_dir, ["de", "en", "fr"]).eval()
    reference = AutoModelForMaskedLM.from_pretrained(xlmr_dir).eval()
    encoded = tokenizer(["Das Haus.", "The cat and the dog."], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**encoded).logits
        for language in range(4):
            got = model.mlm(**encoded, token_type_ids=torch.full_like(encoded.input_ids, language)).logits
            torch.testing.assert_close(got, expected)

    out = tmp_path / "continued"
    pretrain(RunSettings(load_config(config_file), corpus_dir, init_from=xlmr_dir), out, progress=False)
    assert not (out / "tokenizer").exists()  # the XLM-R tokenizer is used, not a new one
    assert AutoTokenizer.from_pretrained(out / "model").get_vocab() == tokenizer.get_vocab()
    assert AutoModel.from_pretrained(out / "model").config.ernie_m_languages == ["de", "en", "fr"]


def test_activation_checkpointing_recomputes_exactly(corpus_dir, config_file, tmp_path, monkeypatch):
    """Recomputing activations in the backward pass (dropout included) changes memory and time, not training."""
    enable, enabled = XLMRobertaForMaskedLM.activation_checkpointing_enable, []
    monkeypatch.setattr(
        XLMRobertaForMaskedLM,
        "activation_checkpointing_enable",
        lambda self, **kwargs: (enabled.append(True), enable(self, **kwargs)),
    )
    config = load_config(
        config_file, ["model.hidden_dropout_prob=0.1", "stages=[{name: s, steps: 4, objectives: {mmlm: 1, camlm: 1}}]"]
    )
    plain, recomputed = tmp_path / "plain", tmp_path / "recomputed"
    pretrain(RunSettings(config, corpus_dir), plain, progress=False)
    checkpointed = config.__class__(
        **{
            **config.__dict__,
            "train": config.train.__class__(**{**config.train.__dict__, "activation_checkpointing": True}),
        }
    )
    pretrain(RunSettings(checkpointed, corpus_dir), recomputed, progress=False)
    assert enabled == [True] and losses(recomputed) == losses(plain)


def test_an_export_takes_xlmr_lengths_and_loads_whole(corpus_dir, config_file, tmp_path):
    """Trained on 32 tokens, the export still has XLM-R's 514 positions and says so to its tokenizer;
    AutoModel finds every weight (the pooler too); fill-mask takes a 200-token input."""
    from transformers import pipeline

    model_dir = pretrain(RunSettings(load_config(config_file), corpus_dir), tmp_path / "run", progress=False)
    _, info = AutoModel.from_pretrained(model_dir, output_loading_info=True)
    assert info["missing_keys"] == set()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.model_max_length == 512
    fill = pipeline("fill-mask", model=str(model_dir), tokenizer=str(model_dir))
    text = " ".join(["Das Haus"] * 100) + " " + tokenizer.mask_token + " Katze."
    assert len(tokenizer(text).input_ids) > 200 and len(fill(text)) == 5


def test_any_checkpoint_exports_as_a_model_directory(corpus_dir, config_file, tmp_path):
    from typer.testing import CliRunner

    from ernie_m.cli import app

    out = tmp_path / "run"
    pretrain(RunSettings(load_config(config_file), corpus_dir), out, stop_at=8, progress=False)
    step = out / "checkpoints" / "step-000008"
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(step), "--out", str(tmp_path / "step-8")])
    assert result.exit_code == 0, result.output
    mlm = AutoModelForMaskedLM.from_pretrained(tmp_path / "step-8")
    saved = safetensors.torch.load_file(step / "model.safetensors")
    exported = {f"mlm.{name}": tensor for name, tensor in mlm.state_dict().items()}
    assert set(saved) <= set(exported)
    for name, tensor in saved.items():
        assert torch.equal(exported[name], tensor), name
    assert AutoTokenizer.from_pretrained(tmp_path / "step-8").mask_token == "<mask>"
    refused = CliRunner().invoke(
        app, ["export", "--checkpoint", str(out / "checkpoints"), "--out", str(tmp_path / "x")]
    )
    assert refused.exit_code == 2 and "not a complete checkpoint" in refused.stderr


def test_without_a_terminal_each_log_interval_is_one_plain_line(corpus_dir, config_file, tmp_path, caplog, capsys):
    import logging

    caplog.set_level(logging.INFO, logger="ernie_m.train.loop")
    pretrain(RunSettings(load_config(config_file, ["train.log_every=3"]), corpus_dir), tmp_path / "run", progress=True)
    assert "Writing model shards" not in capsys.readouterr().err  # no bar of transformers' in the log
    lines = [record.getMessage() for record in caplog.records if record.name == "ernie_m.train.loop"]
    steps = [line.split(" ")[1] for line in lines if " lr=" in line]
    assert steps == ["3/12", "4/12", "6/12", "8/12", "9/12", "12/12"]  # every 3 steps and at each checkpoint (4)
    assert lines[0].startswith("step 3/12 (align): ") and "mmlm=" in lines[0] and "tokens/s=" in lines[0]


def test_tensorboard_receives_every_logged_scalar(corpus_dir, config_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    pretrain(RunSettings(load_config(config_file, ["train.report_to=[tensorboard]"]), corpus_dir), out, progress=False)
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"loss/mmlm", "loss/btmlm", "lr", "tokens_per_s"} <= set(events.Tags()["scalars"])
    logged = {record["step"]: record["loss/mmlm"] for record in read_log(out) if "loss/mmlm" in record}
    assert {event.step: pytest.approx(event.value) for event in events.Scalars("loss/mmlm")} == logged


def test_a_reporter_that_is_unknown_or_not_installed_is_refused_before_anything_is_written(
    corpus_dir, config_file, tmp_path, monkeypatch
):
    from ernie_m.errors import ErnieMError
    from ernie_m.train import report

    with pytest.raises(ErnieMError, match="train.report_to: unknown 'mlflow'; known: tensorboard, wandb"):
        pretrain(
            RunSettings(load_config(config_file, ["train.report_to=[mlflow]"]), corpus_dir),
            tmp_path / "a",
            progress=False,
        )
    monkeypatch.setattr(report.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ErnieMError, match=r"the wandb package is not installed \(pip install 'ernie-m\[wandb\]'\)"):
        pretrain(
            RunSettings(load_config(config_file, ["train.report_to=[wandb]"]), corpus_dir),
            tmp_path / "b",
            progress=False,
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
