"""What a result or a model records about the software that made it."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from ernie_m import provenance


def test_tool_version_without_an_installed_package(monkeypatch):
    """Run from a source tree (PYTHONPATH=src, as on a lent GPU machine), cards still get written."""

    def not_installed(name):
        raise PackageNotFoundError(name)

    assert provenance.tool_version().startswith("ernie-m 0.")
    monkeypatch.setattr(provenance, "version", not_installed)
    assert provenance.tool_version() == "ernie-m (not installed)"


@pytest.mark.skipif(shutil.which("git") is None, reason="no git on this machine")
def test_the_commit_is_the_checkout_s_and_says_when_sources_differ(tmp_path, monkeypatch):
    here = Path(provenance.__file__).resolve().parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True)
    if head.returncode:
        pytest.skip("not running from a git checkout")
    assert re.fullmatch(rf"{head.stdout.strip()}(\+changes)?", provenance.source_commit())
    monkeypatch.setattr(provenance, "__file__", str(tmp_path / "provenance.py"))  # a wheel: no checkout around it
    assert provenance.source_commit() is None


def test_software_names_every_version_and_the_date():
    made = provenance.software()
    assert set(made) == {"ernie_m", "commit", "torch", "transformers", "python", "date"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", made["date"])
