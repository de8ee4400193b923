"""Outputs that appear whole or not at all: written under a temporary name, then renamed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def replace_directory(staging: Path, final: Path) -> None:
    """Put the complete directory `staging` at `final`. An earlier `final` is moved aside first and
    deleted after, so at no moment does `final` hold a mix of old and new files."""
    if final.is_dir() and not any(final.iterdir()):
        final.rmdir()
    if not final.exists():
        os.replace(staging, final)
        return
    old = staging.with_name(staging.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary_path)`, then rename it to `path`."""
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


def copy_directory(source: Path, final: Path) -> None:
    """Copy the directory `source` to `final` through a staging copy beside it, so that a kill
    during the copy leaves no half-copied `final`."""
    staging = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging)
        replace_directory(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
