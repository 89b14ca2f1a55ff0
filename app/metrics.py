"""Prometheus metrics of one app instance (its own registry, so several apps
can live in one process, as in the tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.queue_depth = Gauge("nuner_queue_texts", "Texts waiting for inference.", registry=r)
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
        self.loaded_models = Gauge("nuner_loaded_taggers", "Bundles held in memory.", registry=r)
