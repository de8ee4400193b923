"""The model reads our masks exactly, under sdpa and eager; padding and language rows change nothing they should not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import (
    LANGUAGES,
    SPECIALS,
    VOCAB,
    context,
    random_tokens,
    tiny_model,
)
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

from ernie_m.model import ErnieM, add_languages, additive_mask, compile_layers, turn_off_attention_dropout
from ernie_m.objectives import camlm, mmlm
from ernie_m.objectives.batch import collate
from ernie_m.objectives.layout import concat, single

IMPLEMENTATIONS = ["sdpa", "eager"]


def hidden(model: ErnieM, batch) -> torch.Tensor:
    return model.hidden_states(batch.input_ids, batch.position_ids, batch.language_ids, batch.attention)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_block_mask_equals_separate_sequences(implementation, rng):
    """Two sentences in one row with a block-diagonal mask give what each gives alone: the mask is honoured."""
    model = tiny_model(implementation)
    a, b = single(random_tokens(rng, 7), 1, SPECIALS, 64), single(random_tokens(rng, 5), 2, SPECIALS, 64)
    alone = [hidden(model, collate([s], SPECIALS))[0] for s in (a, b)]
    joined = concat(a, b)  # 9 + 7 tokens, two groups that see only themselves
    together = hidden(
        model, collate([joined], SPECIALS, groups=[np.repeat([0, 1], [9, 7])], sees=np.eye(2, dtype=bool))
    )[0]
    torch.testing.assert_close(together[:9], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together[9:], alone[1], atol=1e-5, rtol=1e-5)


def test_sdpa_and_eager_agree_on_our_masks(rng):
    examples = [(random_tokens(rng, n), 1, random_tokens(rng, m), 2) for n, m in ((12, 9), (5, 3), (9, 14))]
    batch = camlm.build_batch(examples, context(), rng)  # irregular masks, not only padding
    outputs = [hidden(tiny_model(impl), batch) for impl in IMPLEMENTATIONS]
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)


def test_additive_mask_values():
    allowed = torch.tensor([[[[True, False]]]])
    mask = additive_mask(allowed, torch.float32)
    assert mask[0, 0, 0, 0] == 0 and mask[0, 0, 0, 1] < -1e38
    assert torch.isfinite(mask.to(torch.bfloat16)).all()  # autocast to bf16 never makes it -inf


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_padding_never_changes_real_tokens(implementation, rng):
    model = tiny_model(implementation)
    short = (random_tokens(rng, 6), 1)
    alone = mmlm.build_batch([short], context(), np.random.default_rng(5))
    padded = mmlm.build_batch([short, (random_tokens(rng, 30), 2)], context(), np.random.default_rng(5))
    assert padded.input_ids.shape[1] == 32 and torch.equal(padded.input_ids[0, :8], alone.input_ids[0])
    torch.testing.assert_close(hidden(model, padded)[0, :8], hidden(model, alone)[0], atol=1e-5, rtol=1e-5)


def test_mlm_head_only_at_predicted_positions_matches_full_logits(rng):
    model = tiny_model()
    batch = mmlm.build_batch([(random_tokens(rng, 20), 1)], context(), rng)
    full = model.mlm.lm_head(hidden(model, batch))
    torch.testing.assert_close(model(batch), full[batch.predict_mask])
    assert model(batch).shape == (int(batch.predict_mask.sum()), VOCAB)


def test_added_languages_start_as_copies_so_xlmr_outputs_are_unchanged(rng):
    """Starting from XLM-R (one token-type row), any language id gives the same outputs as plain XLM-R."""
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=66,
        type_vocab_size=1,
    )
    plain = XLMRobertaForMaskedLM(config).eval()
    grown = XLMRobertaForMaskedLM(config).eval()
    grown.load_state_dict(plain.state_dict())
    add_languages(grown, LANGUAGES)
    assert grown.roberta.embeddings.token_type_embeddings.num_embeddings == 4
    ids = torch.from_numpy(np.concatenate([[0], random_tokens(rng, 10), [2]])).unsqueeze(0)
    reference = plain(input_ids=ids).logits
    for language in range(4):
        out = grown(input_ids=ids, token_type_ids=torch.full_like(ids, language)).logits
        torch.testing.assert_close(out, reference)


def test_known_languages_keep_their_rows():
    model = tiny_model()
    table = model.mlm.roberta.embeddings.token_type_embeddings.weight.detach().clone()
    add_languages(model.mlm, ["fr", "sw", "de"])
    assert model.languages == ["de", "en", "fr", "sw"]
    grown = model.mlm.roberta.embeddings.token_type_embeddings.weight
    torch.testing.assert_close(grown[:4], table)
    torch.testing.assert_close(grown[4], table[0])
    assert model.mlm.config.type_vocab_size == 5


def test_compiled_layers_compute_what_the_model_computes(rng):
    """train.compile: outputs and gradients of the compiled encoder equal the uncompiled model's, on
    two packed CAMLM batches of different shapes (the second compiles again, or runs dynamic)."""
    from torch._dynamo.utils import counters

    eager, compiled = tiny_model(), tiny_model()
    torch._dynamo.reset()
    counters.clear()
    compile_layers(compiled)
    ctx = dataclasses.replace(context(), packing=True)
    for count in (6, 9):
        examples = [
            (random_tokens(rng, int(n)), 1, random_tokens(rng, int(m)), 2)
            for n, m in rng.integers(3, 20, size=(count, 2))
        ]
        batch = camlm.build_batch(examples, ctx, rng)
        outputs = [model(batch) for model in (eager, compiled)]
        for output in outputs:
            output.square().mean().backward()
        torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
        grads = [m.mlm.roberta.encoder.layer[1].intermediate.dense.weight.grad for m in (eager, compiled)]
        torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"]  # compiled whole, not eager


def test_turning_off_attention_dropout_leaves_no_randomness_in_attention(rng):
    """flex_attention trains without attention dropout: after turning it off, a training-mode forward
    (hidden dropout 0) is deterministic, as it was not before."""
    model = tiny_model(dropout=0.1).train()
    attention_dropouts = {id(layer.attention.self.dropout) for layer in model.mlm.roberta.encoder.layer}
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout) and id(module) not in attention_dropouts:
            module.p = 0.0  # only attention dropout stays random
    batch = mmlm.build_batch([(random_tokens(rng, 12), 1)], context(), rng)
    assert not torch.equal(model(batch), model(batch))
    assert turn_off_attention_dropout(model) == 0.1 and model.mlm.config.attention_probs_dropout_prob == 0.0
    assert torch.equal(model(batch), model(batch))
