"""On a CUDA device with bf16 autocast: masks stay exact, and a short run trains. Skipped without CUDA."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import context, random_tokens, tiny_model

from ernie_m.config import TrainConfig, load_config
from ernie_m.loss import masked_lm_loss
from ernie_m.objectives import OBJECTIVES, camlm, mmlm
from ernie_m.objectives.layout import SOURCE
from ernie_m.train.optim import build_optimizer
from ernie_m.train.run import RunSettings, pretrain

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def source_logits(model, batch, segment):
    """bf16 logits at the predicted positions of the source sentence (a one-row batch)."""
    with torch.autocast("cuda", dtype=torch.bfloat16):
        return model(batch)[segment[batch.predict_mask[0]] == SOURCE].float()


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_camlm_no_leak_under_bf16_autocast(implementation):
    model = tiny_model(implementation).cuda()
    rng = np.random.default_rng(0)
    batch = camlm.build_batch([(random_tokens(rng, 20), 1, random_tokens(rng, 20), 2)], context(), rng).to("cuda")
    segment = torch.tensor([SOURCE] * 22 + [1] * 22, device="cuda")
    assert (batch.predict_mask & (segment == SOURCE)).any()
    reference = source_logits(model, batch, segment)
    for position in torch.nonzero((segment == SOURCE) & ~batch.predict_mask[0]).flatten().tolist():
        ids = batch.input_ids.clone()
        ids[0, position] = 50 if ids[0, position] != 50 else 51
        other = dataclasses.replace(batch, input_ids=ids)
        torch.testing.assert_close(source_logits(model, other, segment), reference, atol=0, rtol=0)


def test_padding_never_changes_real_tokens_under_bf16():
    model = tiny_model().cuda()
    rng = np.random.default_rng(1)
    short = (random_tokens(rng, 6), 1)
    alone = mmlm.build_batch([short], context(), np.random.default_rng(5)).to("cuda")
    padded = mmlm.build_batch([short, (random_tokens(rng, 40), 2)], context(), np.random.default_rng(5)).to("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        a, b = (
            model.hidden_states(x.input_ids, x.position_ids, x.language_ids, x.attention)[0].float()
            for x in (alone, padded)
        )
    torch.testing.assert_close(b[: len(a)], a, atol=2e-2, rtol=2e-2)


def test_short_run_on_cuda(corpus_dir, config_file, tmp_path):
    config = load_config(config_file, ["train.device=cuda"])
    pretrain(RunSettings(config, corpus_dir), tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v) for r in records for k, v in r.items() if k.startswith("loss/"))
    assert {"loss/btmlm", "loss/camlm"} <= {k for r in records for k in r}


@pytest.mark.parametrize("name", ["mmlm", "camlm", "btmlm"])
def test_flex_attention_matches_the_dense_masks_with_gradients(name):
    """The whole model with FlexAttention block masks against sdpa with dense masks, packed batches, fp32."""
    from ernie_m.objectives import OBJECTIVES

    dense, flex = tiny_model("sdpa").cuda(), tiny_model("flex_attention").cuda()
    objective = OBJECTIVES[name]
    ctx = dataclasses.replace(context(dense), packing=True)
    rng = np.random.default_rng(0)
    if objective.data == "mono":
        drawn = [(random_tokens(rng, int(n)), 1 + i % 2) for i, n in enumerate(rng.integers(3, 25, size=12))]
    else:
        drawn = [
            (random_tokens(rng, int(a)), 1, random_tokens(rng, int(b)), 2) for a, b in rng.integers(3, 25, size=(12, 2))
        ]
    batch = objective.build_batch(drawn, ctx, np.random.default_rng(1)).to("cuda")
    outputs = [model(batch) for model in (dense, flex)]
    for output in outputs:
        output.square().mean().backward()
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-4, rtol=1e-4)
    grads = [m.mlm.roberta.encoder.layer[0].attention.self.query.weight.grad for m in (dense, flex)]
    torch.testing.assert_close(grads[1], grads[0], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", ["mmlm", "camlm"])
def test_a_training_step_never_waits_for_the_gpu(name):
    """The trainer's step (batch to the GPU, forward, loss, backward, clipping, AdamW) makes no call that
    synchronises with the GPU, so the host builds the next batch meanwhile. BTMLM's generation must
    wait: its pseudo tokens are decoded on the host."""
    model = tiny_model(dropout=0.1).cuda().train()
    optimizer = build_optimizer(model, TrainConfig())
    ctx = dataclasses.replace(context(), packing=True)
    rng = np.random.default_rng(0)
    if OBJECTIVES[name].data == "mono":
        drawn = [(random_tokens(rng, int(n)), 1) for n in rng.integers(3, 25, size=12)]
    else:
        drawn = [
            (random_tokens(rng, int(a)), 1, random_tokens(rng, int(b)), 2) for a, b in rng.integers(3, 25, size=(12, 2))
        ]

    def step(seed: int) -> None:
        batch = OBJECTIVES[name].build_batch(drawn, ctx, np.random.default_rng(seed)).to("cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = masked_lm_loss(model(batch), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(0)  # the first step initialises CUDA's libraries and the optimizer state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step(1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
