"""The pip route: a wheel that carries the bundled configs, and commands that run from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ernie_m.cli import app
from ernie_m.config import BUNDLED, load_config
from ernie_m.errors import ErnieMError

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_configs(tmp_path):
    pytest.importorskip("setuptools")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("ernie_m-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"ernie_m/configs/{name}.yaml" for name in ("tiny", "base", "large", "gpu-study")} <= set(names)


def test_a_bundled_config_by_name():
    assert load_config("tiny") == load_config(BUNDLED / "tiny.yaml") == load_config(ROOT / "configs" / "tiny.yaml")
    with pytest.raises(
        ErnieMError, match=r"huge: neither a config file nor a bundled config \(base, gpu-study, large, tiny\)"
    ):
        load_config("huge")


def test_pretrain_with_a_bundled_config_from_another_directory(tmp_path, corpus_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "pretrain",
            "--config",
            "tiny",
            "--corpus",
            str(corpus_dir),
            "--out",
            "run",
            "--max-steps",
            "2",
            "--set",
            "tokenizer.vocab_size=64",
            "--set",
            "data.max_length=32",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model" / "config.json").is_file()
