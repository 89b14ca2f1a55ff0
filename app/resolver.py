"""Alias -> version lookups with a short TTL, so the registry (not process
memory) decides which version answers, and a new version is picked up by
every replica within ``alias_cache_seconds``."""

from __future__ import annotations

import time

from nuner.app.registry import Registry, TaggerVersion


class AliasResolver:
    def __init__(self, registry: Registry, ttl_seconds: float) -> None:
        self.registry = registry
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, TaggerVersion]] = {}

    def cached(self, reference: str) -> TaggerVersion | None:
        """A fresh answer without touching the database, or None."""
        hit = self._cache.get(reference)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def resolve(self, reference: str) -> TaggerVersion:
        """Ask the registry (blocking: call it from a worker thread)."""
        version = self.registry.resolve(reference)
        self._cache[reference] = (time.monotonic(), version)
        return version

    def invalidate(self) -> None:
        self._cache.clear()
