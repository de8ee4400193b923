"""What produced a model or a result: the project's version and source commit, the libraries, the date."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def tool_version() -> str:
    """ "ernie-m X.Y.Z" as installed; "ernie-m (not installed)" when run from a source tree on PYTHONPATH."""
    try:
        return f"ernie-m {version('ernie-m')}"
    except PackageNotFoundError:
        return "ernie-m (not installed)"


def source_commit() -> str | None:
    """The git commit of the source this package runs from ("+changes" when files differ from it);
    None outside a git checkout (an installed wheel)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no", "--", str(here)) else "")


def software() -> dict[str, str | None]:
    """Versions of the project (and its commit), torch, transformers and Python, and the date (UTC)."""
    import torch
    import transformers

    return {
        "ernie_m": tool_version(),
        "commit": source_commit(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
