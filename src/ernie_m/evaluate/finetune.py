"""Fine-tuning with the Hugging Face heads, as ERNIE-M fine-tunes: layer-wise learning-rate decay
(layer l of n scaled by decay^(n-l), embeddings by decay^(n+1), the task head by 1), AdamW, warm-up
over the first 10% of steps then linear decay, model selection on the dev set after each epoch.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from ernie_m.device import autocast, pick_device
from ernie_m.errors import ErnieMError
from ernie_m.evaluate.readers import SentencePair, TaggedSentence
from ernie_m.files import write_atomically
from ernie_m.objectives.layout import IGNORE


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 2
    batch_size: int = 32
    lr: float = 2e-5
    layer_decay: float = 0.8  # ERNIE-M base; large uses 0.9 in common practice
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"--epochs {self.epochs}: at least 1"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size}: at least 1"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr {self.lr}: a positive finite number"),
            (0 < self.layer_decay <= 1, f"--layer-decay {self.layer_decay}: in (0, 1]"),
            (
                0 <= self.warmup_ratio < 1 and 0 <= self.weight_decay < math.inf,
                "warm-up ratio in [0, 1), weight decay >= 0",
            ),
            (self.max_length >= 8, f"--max-length {self.max_length}: at least 8 tokens"),
            (self.seed >= 0, f"--seed {self.seed}: at least 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ErnieMError(f"fine-tuning: {message}")


def layer_scale(name: str, num_layers: int, decay: float) -> float:
    """Learning-rate factor of parameter `name`: decay^(n-l) for encoder layer l (1-based),
    decay^(n+1) for the embeddings, 1 for everything above the encoder (pooler, task head)."""
    if ".embeddings." in f".{name}":
        return decay ** (num_layers + 1)
    layer = re.search(r"encoder\.layer\.(\d+)\.", name)
    if layer:
        return decay ** (num_layers - (int(layer.group(1)) + 1))
    return 1.0


def layerwise_optimizer(model: torch.nn.Module, config: FinetuneConfig) -> torch.optim.AdamW:
    """AdamW with one parameter group per (learning-rate factor, weight decay) pair."""
    num_layers = model.config.num_hidden_layers
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        scale = layer_scale(name, num_layers, config.layer_decay)
        decay = 0.0 if param.ndim < 2 else config.weight_decay  # biases and LayerNorm weights are 1-D
        groups.setdefault((scale, decay), []).append(param)
    return torch.optim.AdamW(
        [
            {"params": params, "lr": config.lr * scale, "weight_decay": decay}
            for (scale, decay), params in groups.items()
        ],
        lr=config.lr,
    )


def batches(features: list[dict], size: int, pad_id: int, order: Sequence[int]):
    """Padded tensor batches of `features` in `order`; labels padded with -100."""
    for start in range(0, len(order), size):
        chosen = [features[i] for i in order[start : start + size]]
        length = max(len(f["input_ids"]) for f in chosen)
        batch = {}
        for key in chosen[0]:
            if not isinstance(chosen[0][key], list):  # one label per example
                batch[key] = torch.tensor([f[key] for f in chosen])
                continue
            fill = pad_id if key == "input_ids" else IGNORE if key == "labels" else 0
            batch[key] = torch.tensor([f[key] + [fill] * (length - len(f[key])) for f in chosen])
        yield batch


def finetune(
    model: torch.nn.Module,
    train: list[dict],
    select: Callable[[torch.nn.Module], float],
    config: FinetuneConfig,
    pad_id: int,
    progress: bool = True,
    checkpoint: Path | None = None,
) -> tuple[torch.nn.Module, list[float]]:
    """Train on `train` features; after each epoch score the model with `select` (higher is better)
    and keep the best epoch's weights. Returns the best model and the score of every epoch.

    With `checkpoint`, the state after each epoch is saved there (atomically), and a run that finds
    one continues after its last finished epoch; epoch e's example order is seeded by (seed, e).
    """
    device = pick_device(config.device)
    model.to(device).train()
    optimizer = layerwise_optimizer(model, config)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    steps = config.epochs * steps_per_epoch
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    state = {"epoch": 0, "scores": [], "best": -math.inf, "best_model": None}
    if checkpoint is not None and checkpoint.is_file():
        state = _restore(checkpoint, model, optimizer, scheduler, device)
    bar = tqdm(
        total=steps, initial=state["epoch"] * steps_per_epoch, desc="fine-tune", unit="step", disable=not progress
    )
    for epoch in range(state["epoch"], config.epochs):
        model.train()
        torch.manual_seed(config.seed * 1_000 + epoch)  # dropout: epoch e draws the same masks, resumed or not
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train))
        for batch in batches(train, config.batch_size, pad_id, order):
            with autocast(device):
                loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        state["scores"].append(select(model))
        if state["scores"][-1] > state["best"]:
            state["best"], state["best_model"] = state["scores"][-1], copy.deepcopy(model.state_dict())
        state["epoch"] = epoch + 1
        if checkpoint is not None:
            _save(checkpoint, state, model, optimizer, scheduler)
    bar.close()
    model.load_state_dict(state["best_model"])
    return model, state["scores"]


def _save(path: Path, state: dict, model, optimizer, scheduler) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    everything = {
        **state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    }
    write_atomically(path, lambda partial: torch.save(everything, partial))


def _restore(path: Path, model, optimizer, scheduler, device) -> dict:
    saved = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(saved.pop("model"))
    optimizer.load_state_dict(saved.pop("optimizer"))
    scheduler.load_state_dict(saved.pop("scheduler"))
    return saved


@torch.inference_mode()
def model_outputs(
    model: torch.nn.Module, features: list[dict], batch_size: int, pad_id: int, read, per_token: bool
) -> list[tuple[np.ndarray, ...]]:
    """For every feature, in order, the arrays `read(model output)` picks (each (B, ...)); with
    `per_token` their sequence axis is cut to the feature's length (padding removed)."""
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    for batch in batches(features, batch_size, pad_id, range(len(features))):
        batch.pop("labels", None)
        with autocast(device):
            arrays = [
                tensor.float().cpu().numpy() for tensor in read(model(**{k: v.to(device) for k, v in batch.items()}))
            ]
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        outputs.extend(
            tuple(array[i, :n] if per_token else array[i] for array in arrays) for i, n in enumerate(lengths)
        )
    return outputs


def logits_of(
    model: torch.nn.Module, features: list[dict], batch_size: int, pad_id: int, per_token: bool = False
) -> list[np.ndarray]:
    """The model's logits for every feature, in order: (C,) each, or (length, C) `per_token`."""
    return [
        logits
        for (logits,) in model_outputs(model, features, batch_size, pad_id, lambda output: (output.logits,), per_token)
    ]


# --- sentence-pair classification (XNLI, PAWS-X) ------------------------------------------------


def pair_features(tokenizer, examples: Sequence[SentencePair], max_length: int) -> list[dict]:
    encoded = tokenizer(
        [e.text_a for e in examples], [e.text_b for e in examples], truncation=True, max_length=max_length
    )
    return [
        {"input_ids": ids, "attention_mask": mask, "labels": e.label}
        for ids, mask, e in zip(encoded["input_ids"], encoded["attention_mask"], examples, strict=True)
    ]


def predict_labels(model, features: list[dict], batch_size: int, pad_id: int) -> list[int]:
    return [int(row.argmax()) for row in logits_of(model, features, batch_size, pad_id)]


# --- token classification (CoNLL NER): the label sits on each word's first sub-token ------------


def tagged_features(
    tokenizer, sentences: Sequence[TaggedSentence], tag_ids: dict[str, int], max_length: int
) -> tuple[list[dict], list[list[int | None]]]:
    """Features with labels on first sub-tokens, and each feature's word index per position."""
    encoded = tokenizer(
        [list(s.tokens) for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length
    )
    features, word_ids = [], []
    for index, sentence in enumerate(sentences):
        words = encoded.word_ids(index)
        labels, seen = [], set()
        for word in words:
            first = word is not None and word not in seen
            labels.append(tag_ids[sentence.tags[word]] if first else IGNORE)
            seen.add(word)
        features.append(
            {
                "input_ids": encoded["input_ids"][index],
                "attention_mask": encoded["attention_mask"][index],
                "labels": labels,
            }
        )
        word_ids.append(words)
    return features, word_ids


def predict_tags(
    model,
    features: list[dict],
    word_ids: list[list[int | None]],
    tags: Sequence[str],
    lengths: Sequence[int],
    batch_size: int,
    pad_id: int,
) -> list[list[str]]:
    """One tag per word from its first sub-token; words cut off by max_length get "O"."""
    predicted = []
    for logits, positions, length in zip(
        logits_of(model, features, batch_size, pad_id, per_token=True), word_ids, lengths, strict=True
    ):
        words = ["O"] * length
        seen = set()
        for position, word in enumerate(positions):
            if word is not None and word not in seen:
                words[word] = tags[int(logits[position].argmax())]
                seen.add(word)
        predicted.append(words)
    return predicted
