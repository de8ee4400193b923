"""Where a run's logged scalars go besides log.jsonl: TensorBoard, Weights & Biases (`train.report_to`).

Both are optional packages: asked for and absent, the run refuses to start and names the install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ernie_m.errors import ErnieMError

REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # name in train.report_to -> the package it needs


def check_reporters(names: tuple[str, ...]) -> None:
    for name in names:
        if name not in REPORTERS:
            raise ErnieMError(f"train.report_to: unknown {name!r}; known: {', '.join(REPORTERS)}")
        if importlib.util.find_spec(REPORTERS[name]) is None:
            raise ErnieMError(
                f"train.report_to {name}: the {REPORTERS[name]} package is not installed "
                f"(pip install 'ernie-m[{name}]'), or drop it from train.report_to"
            )


class Reporters:
    """Scalars of each log record to every reporter asked for (main rank only)."""

    def __init__(self, names: tuple[str, ...], out_dir: Path, config: dict):
        check_reporters(names)
        self.writers, self.wandb = [], None
        if "tensorboard" in names:
            from torch.utils.tensorboard import SummaryWriter

            self.writers.append(SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard")))
        if "wandb" in names:
            import wandb

            self.wandb = wandb.init(
                project="ernie-m", name=Path(out_dir).resolve().name, dir=str(out_dir), config=config
            )

    def scalars(self, record: dict) -> None:
        values = {key: value for key, value in record.items() if isinstance(value, (int, float)) and key != "step"}
        for writer in self.writers:
            for key, value in values.items():
                writer.add_scalar(key, value, record["step"])
            writer.flush()
        if self.wandb is not None:
            self.wandb.log(values, step=record["step"])

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.wandb is not None:
            self.wandb.finish()
