"""Fine-tuning: the layer-wise learning rates, padding of batches, and an exact resume after an epoch."""

from __future__ import annotations

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
)


def tiny_classifier(seed: int = 0) -> XLMRobertaForSequenceClassification:
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, num_labels=2)
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
    assert rates == pytest.approx(sorted(1e-3 * 0.5**k for k in (0, 1, 2, 4)))  # head + layer 3, layer 2, layer 1, embeddings


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
        finetune(tiny_classifier(), train, rising(interrupt_at=2), config, pad_id=1, progress=False, checkpoint=checkpoint)
    resumed, resumed_scores = finetune(tiny_classifier(seed=5), train, rising(), config, pad_id=1, progress=False, checkpoint=checkpoint)
    assert scores == [1.0, 2.0, 3.0] and resumed_scores == [1.0, 1.0, 2.0]  # epoch 1 from the checkpoint, then 2 and 3
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
