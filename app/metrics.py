"""Prometheus metrics of one app instance (its own registry, so several apps
can live in one process, as in the tests).

When ``nuner serve`` runs several worker processes it sets
``PROMETHEUS_MULTIPROC_DIR``: prometheus_client then keeps every value in a
file per process, and a scrape of any worker reports the sum over all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._scrape_time: list[Collector] = []  # computed at scrape, not per process
        r = self.registry
        self.request_seconds = Histogram(
            "nuner_request_seconds",
            "HTTP request latency.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "nuner_errors_total", "Error responses by code.", ["code"], registry=r
        )
        self.batch_texts = Histogram(
            "nuner_batch_texts",
            "Texts per inference batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.queue_depth = Gauge(
            "nuner_queue_texts",
            "Texts waiting for inference.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.tokens = Counter(
            "nuner_tokens_total", "Sub-word tokens processed.", ["tagger"], registry=r
        )
        self.texts = Counter("nuner_texts_total", "Texts tagged.", ["tagger"], registry=r)
        self.inference_seconds = Histogram(
            "nuner_inference_seconds",
            "Time of one inference batch.",
            ["tagger"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_load_seconds = Histogram(
            "nuner_model_load_seconds",
            "Time to verify and load a bundle.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.model_loads = Counter("nuner_model_loads_total", "Bundles loaded.", registry=r)
        self.loaded_models = Gauge(
            "nuner_loaded_taggers",
            "Tagger bundles held in memory.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.loaded_encoders = Gauge(
            "nuner_loaded_encoders",
            "Encoder bundles held in memory.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.loaded_heads = Gauge(
            "nuner_loaded_heads",
            "Head taggers held in memory (their encoders count apart).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.label_vectors = Counter(
            "nuner_label_vectors_total",
            "Zero-shot label vectors looked up, by result (hit: cached, miss: computed).",
            ["result"],
            registry=r,
        )

    def add_scrape_collector(self, collector: Collector) -> None:
        """A collector that reads shared state (the job store) when scraped."""
        self.registry.register(collector)
        self._scrape_time.append(collector)

    def exposition(self) -> bytes:
        """The text format of this process's metrics, or of all worker processes'."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)
        for collector in self._scrape_time:
            merged.register(collector)
        return generate_latest(merged)

    @staticmethod
    def process_exit() -> None:
        """Drop this process's live gauges from the sums (multiprocess mode)."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())
