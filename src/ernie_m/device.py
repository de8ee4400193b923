"""Where tensors live and in what precision: one rule for training, fine-tuning and encoding."""

from __future__ import annotations

import torch

from ernie_m.errors import ErnieMError


def pick_device(choice: str = "auto") -> torch.device:
    """ "auto": CUDA when there is one, else the CPU; "cpu", "cuda", "cuda:1" as given, if present."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise ErnieMError(f"unknown device {choice!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ErnieMError(f"device {choice!r}: no CUDA device here")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA; a no-op on the CPU, where bf16 is far slower than fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")
