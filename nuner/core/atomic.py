"""Directories that appear whole or not at all: checkpoints, bundles, published
versions. One pattern for all three: build in a hidden sibling, make it
durable, rename it into place; on any failure remove the sibling. A process
killed half-way leaves only a ``.NAME.staging-*`` sibling, never half a NAME.
And the lock file that makes processes take turns at such work."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_INFIX = ".staging-"


@contextmanager
def atomic_directory(target: Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory that becomes ``target`` when the block
    ends without error. ``replace``: an existing ``target`` is swapped out
    (checkpoints); otherwise it must not exist when the rename happens."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{STAGING_INFIX}"))
    try:
        yield staging
        fsync_tree(staging)
        if replace and target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)  # fails if a non-empty target appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def staging_leftovers(target: Path) -> list[Path]:
    """What interrupted builds of ``target`` left beside it."""
    return sorted(target.parent.glob(f".{target.name}{STAGING_INFIX}*"))


def fsync_tree(directory: Path) -> None:
    """Flush every file below ``directory`` and the directories themselves."""
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Processes that share ``path`` take turns (a blocking ``flock``)."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
