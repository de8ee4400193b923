"""Run `ernie-m ARGS...` and SIGKILL the process at one named moment: `python kill_at.py MOMENT ARGS...`.

The moments are reached by wrapping the functions that do the work, so the product has no hooks for
its tests; a kill -9 runs no cleanup, exactly what a machine that loses power or an OOM killer does."""

from __future__ import annotations

import os
import signal
import sys


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def after(module, name: str, calls: int = 1, before: bool = False):
    """Kill the process at the `calls`-th call of `module.name`: before it runs, or once it returned."""
    original = getattr(module, name)
    seen = [0]

    def wrapped(*args, **kwargs):
        seen[0] += 1
        if before and seen[0] == calls:
            die()
        result = original(*args, **kwargs)
        if seen[0] == calls:
            die()
        return result

    setattr(module, name, wrapped)


def arm(moment: str) -> None:
    import shutil

    import numpy as np
    import safetensors.torch

    from ernie_m.train import loop, run

    if moment == "startup":  # run.yaml written, nothing else
        after(run.RunSettings, "save")
    elif moment == "tokenizer copy":  # the copy complete under its temporary name, not yet renamed
        after(shutil, "copytree")
    elif moment == "shards":  # some arrays written
        after(np, "save", calls=3)
    elif moment == "mid step":  # forward and backward of step 6 done, its optimizer step not
        import torch

        after(torch.nn.utils, "clip_grad_norm_", calls=6)
    elif moment == "checkpoint save":  # the weights of step 8's checkpoint written, its trainer state not
        after(safetensors.torch, "save_model", calls=2)
    elif moment == "log line":  # step 10 logged, then half of the next line written
        original = loop.Trainer.log

        def torn(trainer, step):
            record = original(trainer, step)
            if step == 10:
                with open(trainer.out_dir / "log.jsonl", "a", encoding="utf-8") as log:
                    log.write('{"step": 11, "stage": "back-tr')
                die()
            return record

        loop.Trainer.log = torn
    elif moment == "export":  # the model written under its temporary name, the tokenizer not
        import transformers

        after(transformers.PreTrainedTokenizerBase, "save_pretrained", before=True)
    elif moment != "none":
        raise SystemExit(f"unknown moment {moment!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from ernie_m.cli import app

    app(sys.argv[2:], prog_name="ernie-m")
