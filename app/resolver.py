"""Reference -> version lookups with a short TTL, so the registry (not process
memory) decides which version answers, and a new version (or a new default
encoder) is picked up by every replica within ``alias_cache_seconds``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")
Reference = str | None  # None: the default (encoders)


class AliasResolver(Generic[V]):
    def __init__(self, lookup: Callable[[Reference], V], ttl_seconds: float) -> None:
        self.lookup = lookup
        self.ttl = ttl_seconds
        self._cache: dict[Reference, tuple[float, V]] = {}

    def cached(self, reference: Reference) -> V | None:
        """A fresh answer without touching the database, or None."""
        hit = self._cache.get(reference)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def resolve(self, reference: Reference) -> V:
        """Ask the registry (blocking: call it from a worker thread)."""
        version = self.lookup(reference)
        self._cache[reference] = (time.monotonic(), version)
        return version

    def invalidate(self) -> None:
        self._cache.clear()
