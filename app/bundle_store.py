"""What the tagger and encoder registries share: putting a verified bundle in
the store, ordering versions, deleting a bundle so no reader sees half of it."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from nuner.core.atomic import atomic_directory, staging_leftovers
from nuner.core.bundle import BundleError
from nuner.core.errors import Conflict

logger = logging.getLogger("nuner.registry")


class VersionConflict(Conflict):
    code = "version_conflict"


class NamedManifest(Protocol):
    name: str
    version: str


M = TypeVar("M", bound=NamedManifest)


def place_bundle(
    bundle: Path, target: Path, verify: Callable[[Path], M], identity: tuple[str, str]
) -> M:
    """Put a bundle at ``target`` (copied atomically, or already written there)
    and verify the copy that will be served, once; ``identity`` is the
    (name, version) its manifest said when the publish began."""
    if bundle.resolve() == target.resolve():  # written straight into the store
        return verify(target)
    discard_unrecorded(target)
    with atomic_directory(target) as staging:
        shutil.copytree(bundle, staging, dirs_exist_ok=True)
        manifest = verify(staging)
        if (manifest.name, manifest.version) != identity:
            raise BundleError(f"{bundle} changed while it was being published")
    return manifest


def discard_unrecorded(target: Path) -> None:
    """A directory for a version with no row is what a publish killed between
    its copy and its insert left: never served (the row is the truth), and in
    the way of the retry, which holds the name's lock; remove it."""
    leftovers = staging_leftovers(target)
    if target.exists():
        leftovers.append(target)
    for leftover in leftovers:
        logger.warning("removing %s, left by an interrupted publish", leftover)
        remove_tree(leftover)


def version_order(version: str) -> tuple:
    """Numbered versions in number order, before named ones."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def remove_tree(path: Path) -> None:
    """Rename first (one atomic step), then delete: a reader never sees half a bundle."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.deleted-{datetime.now().timestamp():.0f}")
    try:
        path.rename(trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)
