"""AdamW with warm-up then linear decay to zero. No weight decay on biases and LayerNorm weights."""

from __future__ import annotations

import torch
from transformers import get_linear_schedule_with_warmup

from ernie_m.config import TrainConfig


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 else decay).append(param)  # biases and LayerNorm weights are 1-D
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=1e-6)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    return get_linear_schedule_with_warmup(optimizer, min(config.warmup_steps, total_steps // 2), total_steps)
