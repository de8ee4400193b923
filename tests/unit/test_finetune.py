"""Fine-tuning: the layer-wise learning rates, padding of batches, and an exact resume after an epoch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

from ernie_m.evaluate.finetune import (
    FinetuneConfig,
    batches,
    finetune,
    layer_scale,
    layerwise_optimizer,
    logits_of,
    model_outputs,
)


def tiny_classifier(seed: int = 0) -> XLMRobertaForSequenceClassification:
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        num_labels=2,
    )
    return XLMRobertaForSequenceClassification(config)


def features(count: int = 24) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        ids = [0, *rng.integers(4, 49, size=rng.integers(3, 12)).tolist(), 2]
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": int(ids[1] % 2)})
    return out


def test_layer_scales_follow_the_spec():
    assert layer_scale("roberta.embeddings.word_embeddings.weight", 12, 0.8) == pytest.approx(0.8**13)
    assert layer_scale("roberta.encoder.layer.0.attention.self.query.weight", 12, 0.8) == pytest.approx(0.8**11)
    assert layer_scale("roberta.encoder.layer.11.output.dense.weight", 12, 0.8) == 1.0
    assert layer_scale("classifier.out_proj.weight", 12, 0.8) == 1.0
    model = tiny_classifier()
    optimizer = layerwise_optimizer(model, FinetuneConfig(lr=1e-3, layer_decay=0.5))
    rates = sorted({round(group["lr"], 12) for group in optimizer.param_groups})
    # head + layer 3, layer 2, layer 1, embeddings
    assert rates == pytest.approx(sorted(1e-3 * 0.5**k for k in (0, 1, 2, 4)))


def test_batches_pad_lists_and_stack_labels():
    batch = next(batches(features(4), 4, pad_id=1, order=[0, 1, 2, 3]))
    lengths = [len(f["input_ids"]) for f in features(4)]
    assert batch["input_ids"].shape == (4, max(lengths)) and batch["labels"].shape == (4,)
    assert (batch["input_ids"][batch["attention_mask"] == 0] == 1).all()


def rising(interrupt_at: int | None = None):
    """A dev score that grows every epoch (so the last epoch is the best), optionally interrupting."""
    calls = []

    def select(model) -> float:
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return float(len(calls))

    return select


def test_resume_after_an_interrupted_epoch_is_exact(tmp_path):
    config = FinetuneConfig(epochs=3, batch_size=8, lr=1e-3)
    train = features()
    straight, scores = finetune(tiny_classifier(), train, rising(), config, pad_id=1, progress=False)
    checkpoint = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        finetune(
            tiny_classifier(), train, rising(interrupt_at=2), config, pad_id=1, progress=False, checkpoint=checkpoint
        )
    resumed, resumed_scores = finetune(
        tiny_classifier(seed=5), train, rising(), config, pad_id=1, progress=False, checkpoint=checkpoint
    )
    assert scores == [1.0, 2.0, 3.0] and resumed_scores == [1.0, 1.0, 2.0]  # epoch 1 from the checkpoint, then 2 and 3
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class _EchoModel(torch.nn.Module):
    """Outputs derived from the input ids, so that every value says which feature and position it belongs to."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, input_ids, attention_mask):
        ids = input_ids.float() * self.scale
        return SimpleNamespace(
            logits=torch.stack([ids, -ids], dim=-1), start_logits=ids, end_logits=-ids, sentence=ids[:, :1] * 2
        )


def test_model_outputs_keep_feature_order_and_cut_padding():
    """Uneven lengths across batches: per token, each feature gets its own positions back, padding removed;
    per feature, one row each, in order."""
    lengths = [3, 7, 2, 5, 4]
    features = [
        {"input_ids": [10 * i + t + 1 for t in range(n)], "attention_mask": [1] * n} for i, n in enumerate(lengths)
    ]
    model = _EchoModel()
    spans = model_outputs(model, features, 2, 0, lambda out: (out.start_logits, out.end_logits), per_token=True)
    assert [len(start) for start, _ in spans] == lengths
    for feature, (start, end) in zip(features, spans, strict=True):
        assert start.tolist() == feature["input_ids"] and end.tolist() == [-v for v in feature["input_ids"]]
    tokens = logits_of(model, features, 2, 0, per_token=True)
    assert [t.shape for t in tokens] == [(n, 2) for n in lengths] and tokens[1][:, 0].tolist() == features[1][
        "input_ids"
    ]
    sentences = model_outputs(model, features, 2, 0, lambda out: (out.sentence,), per_token=False)
    assert [s[0].tolist() for s in sentences] == [[2.0 * f["input_ids"][0]] for f in features]


def test_the_fine_tuning_state_is_found_again_and_never_another_runs(tmp_path, monkeypatch):
    """--resume: the same model and data typed another way, or without progress bars, find the same state;
    any option that changes the fine-tuning, another."""
    from dataclasses import replace

    from ernie_m.evaluate.tasks import EvalSettings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "data").mkdir()
    settings = EvalSettings(task="xnli", model_dir=Path("model"), data_dir=Path("data"), languages=("de",))
    state = settings.finetune_state(tmp_path / "out")
    assert state.parent == tmp_path / "out" / ".finetune" and state.name.startswith("xnli-transfer-")
    same = replace(settings, model_dir=tmp_path / "model", data_dir=tmp_path / "data", progress=False)
    assert same.finetune_state(tmp_path / "out") == state
    for other in (
        replace(settings, finetune=FinetuneConfig(lr=1e-5)),
        replace(settings, languages=("fr",)),
        replace(settings, setting="translate-train-all"),
        replace(settings, model_dir=tmp_path / "data"),
    ):
        assert other.finetune_state(tmp_path / "out") != state
