"""benchmarks/gpu_study.sh at a toy size on the CPU: the same steps a lent GPU runs, its tables in $OUT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_corpus

from ernie_m.data.build import BuildOptions, build_corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_study_at_a_toy_size_writes_a_table_per_finished_seed(tmp_path):
    study = tmp_path / "study"
    build_corpus(
        BuildOptions(
            catalog_languages=(),
            user_corpora=(write_corpus(tmp_path / "user", pairs=400, mono=200),),
            dev_pairs=10,
            test_pairs=30,
            min_train_pairs=50,
        ),
        study / "corpus",
    )
    xnli = tmp_path / "xnli"
    xnli.mkdir()
    (xnli / "dev-en.tsv").write_text("The house.\tThe cat.\tneutral\nThe dog.\tThe tree.\tneutral\n")
    (xnli / "dev-de.tsv").write_text("Das Haus.\tDie Katze.\tneutral\nDer Hund.\tDer Baum.\tneutral\n")
    env = {
        **os.environ,
        "GPU_STUDY_SIZE": "tiny",
        "GPU_STUDY_DIR": str(study),
        "OUT": str(tmp_path / "out"),
        "PYTHON": sys.executable,
        "XNLI": str(xnli),
        "GPU_STUDY_SECONDS": "600",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_study.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tables = sorted(path.name for path in (tmp_path / "out").glob("ablation-*.md"))
    assert tables == ["ablation-first.md", "ablation-seed-0.md", "ablation-seeds-0-1-2.md", "ablation-seeds-0-1.md"]
    assert "| MMLM+TLM |" not in (tmp_path / "out" / "ablation-first.md").read_text()
    last = (tmp_path / "out" / "ablation-seeds-0-1-2.md").read_text()
    assert "| MMLM | 3 |" in last and "## Real sentences: XNLI's translated sentences" in last
    # seed 0 reused by the next call
    assert "finished and scored before" in (tmp_path / "out" / "console.txt").read_text()
