"""Fine-tune job gauges, read from the store at scrape time: every replica
reports the same shared truth, not what passed through its own process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from nuner.app.jobs.states import LIVE_WORKER_STATES, JobState
from nuner.app.jobs.store import JobStore


class JobCollector(Collector):
    def __init__(
        self, store: JobStore, stale_seconds: float, restarts: Callable[[], int | None]
    ) -> None:
        self.store, self.stale_seconds, self.restarts = store, stale_seconds, restarts

    def collect(self) -> Iterator:
        jobs = GaugeMetricFamily(
            "nuner_finetune_jobs", "Fine-tune jobs by state.", labels=["state"]
        )
        counts = self.store.count_by_state()
        for state in JobState:
            jobs.add_metric([state.value], counts.get(state.value, 0))
        yield jobs
        workers = GaugeMetricFamily(
            "nuner_finetune_workers", "Live fine-tune workers by state.", labels=["state"]
        )
        live = [w.state for w in self.store.live_workers(self.stale_seconds)]
        for state in LIVE_WORKER_STATES:
            workers.add_metric([state.value], live.count(state.value))
        yield workers
        restarts = self.restarts()
        if restarts is not None:
            yield CounterMetricFamily(
                "nuner_embedded_worker_restarts",
                "Times this API restarted its embedded worker process.",
                value=restarts,
            )
