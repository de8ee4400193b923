"""Outputs that appear whole or not at all: written under a temporary name, then renamed.

A write that fails leaves nothing behind, and a disk that is full, read-only or over quota becomes
one `ErnieMError` naming what could not be written (see `disk_error`)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ernie_m.errors import ErnieMError, first_line

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}
FULL_BELOW = 1 << 20  # bytes free: writers that do not raise OSError (torch's zip writer) fail with other words


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


@contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """A new directory `.NAME.partial` beside `final` to write into; when the block completes it
    becomes `final` (replacing an earlier one), when the block fails it is removed."""
    final = Path(final)
    staging = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        yield staging
        replace_directory(staging, final)
    except BaseException as error:
        problem = disk_error(error, final, staging)
        shutil.rmtree(staging, ignore_errors=True)
        if problem is None:
            raise
        raise problem from error


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary_path)`, then rename it to `path`; on failure the temporary file is removed."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException as error:
        problem = disk_error(error, path, partial)
        partial.unlink(missing_ok=True)
        if problem is None:
            raise
        raise problem from error


def copy_directory(source: Path, final: Path) -> None:
    """Copy the directory `source` to `final` through a staging copy, so that a kill during the copy
    leaves no half-copied `final`."""
    with staged_directory(final) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)


def disk_error(error: BaseException, target: Path | None = None, written: Path | None = None) -> ErnieMError | None:
    """The one-line error for a write that the disk refused (full, read-only, over quota), naming
    `target` (or the file the error names); None for any other error. `written`, the partial output,
    lets a writer's own error count as a full disk when its file system has under FULL_BELOW bytes free."""
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        reason = error.strerror or first_line(error)
    elif (
        isinstance(error, Exception)
        and not isinstance(error, ErnieMError)
        and written is not None
        and _free_bytes(written) < FULL_BELOW
    ):
        reason = "No space left on device"
    else:
        return None
    where = target or getattr(error, "filename", None) or "output"
    return ErnieMError(
        f"{where}: could not be written ({reason}); nothing half-written was kept. Free space "
        "(or fix the permissions) and run again (a pre-training run: with --resume)"
    )


def _free_bytes(path: Path) -> int:
    """Bytes free to this user on the file system of `path` (or of its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
