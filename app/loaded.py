"""Loaded bundles by ``name@version``: an LRU, one per kind (taggers, heads, encoders).

``peek`` runs on the event loop without the lock (a load may hold it for a
second): it only stamps the time of use, which eviction then reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from prometheus_client import Gauge

from nuner.app.metrics import ServiceMetrics
from nuner.app.settings import Settings
from nuner.core.head import HeadTagger
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.onnx_tagger import OnnxTagger

T = TypeVar("T")


class Published(Protocol):
    """A tagger or encoder version as the registry returns it."""

    @property
    def ref(self) -> str: ...

    @property
    def path(self) -> Path: ...


class LoadedBundles(Generic[T]):
    def __init__(
        self,
        capacity: int,
        load: Callable[[Published], T],
        metrics: ServiceMetrics,
        gauge: Gauge,
    ) -> None:
        self.capacity = capacity
        self.load = load
        self.metrics = metrics
        self.gauge = gauge
        self._loaded: dict[str, T] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def peek(self, version: Published) -> T | None:
        """The loaded model, if it is loaded (no lock, no I/O)."""
        model = self._loaded.get(version.ref)
        if model is not None:
            self._used[version.ref] = time.monotonic()
        return model

    def get(self, version: Published) -> T:
        with self._lock:
            model = self._loaded.get(version.ref)
            if model is None:
                model = self._loaded[version.ref] = self._load(version)
            self._used[version.ref] = time.monotonic()
            while len(self._loaded) > self.capacity:
                self._drop(min(self._loaded, key=lambda ref: self._used.get(ref, 0.0)))
            return model

    def forget(self, name: str, version: str | None = None) -> None:
        """Drop the loaded versions of a deleted name, or one deleted version."""
        with self._lock:
            for ref in list(self._loaded):
                ref_name, _, ref_version = ref.partition("@")
                if ref_name == name and version in (None, ref_version):
                    self._drop(ref)

    def _load(self, version: Published) -> T:
        started = time.perf_counter()
        model = self.load(version)
        self.metrics.model_load_seconds.observe(time.perf_counter() - started)
        self.metrics.model_loads.inc()
        self.gauge.set(len(self._loaded) + 1)
        return model

    def _drop(self, ref: str) -> None:
        del self._loaded[ref]
        self._used.pop(ref, None)
        self.gauge.set(len(self._loaded))


def _serving_options(settings: Settings) -> dict:
    """How every bundle kind runs here: device, threads per stream, batch budget."""
    return {
        "device": settings.device,
        "threads": settings.threads_per_stream,
        "max_batch_tokens": settings.batch_max_tokens,
        "spinning": settings.ort_spinning,
    }


def tagger_cache(settings: Settings, metrics: ServiceMetrics) -> LoadedBundles[OnnxTagger]:
    def load(version: Published) -> OnnxTagger:
        return OnnxTagger(version.path, variant=settings.variant, **_serving_options(settings))

    return LoadedBundles(settings.loaded_taggers, load, metrics, metrics.loaded_models)


def head_cache(settings: Settings, metrics: ServiceMetrics) -> LoadedBundles[HeadTagger]:
    """Heads are a few KB each: thousands stay loaded, apart from the encoders'."""
    return LoadedBundles(
        settings.loaded_heads,
        lambda version: HeadTagger(version.path),
        metrics,
        metrics.loaded_heads,
    )


def open_encoder(settings: Settings, path: Path) -> OnnxEncoder:
    """An encoder bundle as this service runs it, and so as head jobs fit on it."""
    variant = settings.variant if settings.variant != "fp16" else "auto"  # encoders have no fp16
    return OnnxEncoder(path, variant=variant, **_serving_options(settings))


def encoder_cache(settings: Settings, metrics: ServiceMetrics) -> LoadedBundles[OnnxEncoder]:
    def load(version: Published) -> OnnxEncoder:
        return open_encoder(settings, version.path)

    return LoadedBundles(settings.loaded_encoders, load, metrics, metrics.loaded_encoders)
