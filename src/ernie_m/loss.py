"""The pre-training loss: cross-entropy at the positions that carry a label."""

import torch
import torch.nn.functional as F

from ernie_m.objectives.batch import Batch


def masked_lm_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of (N, V) logits at the batch's predicted positions against the labels there."""
    return F.cross_entropy(logits.float(), batch.predicted_labels)
