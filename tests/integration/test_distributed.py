"""Two CPU processes under torchrun (gloo, DistributedDataParallel) stay in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_two_processes_stay_in_sync(corpus_dir, config_file, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "ernie_m", "pretrain", "--config", str(config_file), "--corpus", str(corpus_dir),
        "--out", str(out), "--no-progress", "--set", "train.checkpoint_every=3", "--set", "train.device=cpu", "--set", "train.grad_accum=2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    checksums = [e["param_checksums"] for e in events if e.get("event") == "checkpoint"]
    assert len(checksums) == 4  # steps 3, 6, 9, 12
    for per_rank in checksums:
        assert len(per_rank) == 2 and per_rank[0] == per_rank[1]
    assert checksums[0] != checksums[-1]  # and they did train
    assert (out / "model" / "model.safetensors").is_file()
