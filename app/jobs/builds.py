"""Build directories of fine-tune jobs, named after their job.

A worker killed while it writes a bundle cannot clean up after itself; the
name lets the next worker find what a dead attempt left and remove it, while
a live build (its job still running) is never touched.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger("nuner.jobs")

BUILD_PREFIX = ".build-"  # every build directory under the store (build_directory)
PREFIX = f"{BUILD_PREFIX}job-"  # a fine-tune job's: then its id


@contextmanager
def build_directory(bundles_dir: Path, prefix: str = BUILD_PREFIX) -> Iterator[Path]:
    """Where a bundle is written before it is published (on the store's file
    system, so publishing renames it into place); removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=bundles_dir))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_prefix(job_id: str) -> str:
    return f"{PREFIX}{job_id}-"


def job_of(directory: Path) -> str | None:
    """The job a build directory belongs to (job ids hold no ``-`` after ``ftjob-``)."""
    if not directory.name.startswith(PREFIX):
        return None
    job_id, _, _random = directory.name[len(PREFIX) :].rpartition("-")
    return job_id or None


def sweep_builds(bundles_dir: Path, is_running: Callable[[str], bool]) -> list[Path]:
    """Remove the build directories of jobs that are not running; returns them."""
    removed = []
    for directory in sorted(bundles_dir.glob(f"{PREFIX}*")):
        job_id = job_of(directory)
        if job_id is None or is_running(job_id):
            continue
        logger.warning("removing %s, left by a stopped attempt of %s", directory.name, job_id)
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
    return removed


def discard_builds(bundles_dir: Path, job_id: str) -> None:
    """What earlier attempts of this job left (called by the attempt now running it)."""
    sweep_builds(bundles_dir, lambda other: other != job_id)
