"""Inference runtime: an LRU of loaded bundles and the dynamic batcher.

Requests for the same tagger version are gathered until their estimated
tokens reach the batch budget or the oldest has waited ``max_wait``; the
texts then go through the bundle's pipeline (which sorts windows by length
and splits them into the least padded batches) on the single inference
thread of the device.
ONNX Runtime releases the GIL, so the event loop keeps accepting requests
meanwhile. The queue is bounded: beyond ``queue_max_texts`` pending texts,
``Overloaded`` is raised (HTTP 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from nuner.app.metrics import ServiceMetrics
from nuner.app.registry import TaggerVersion
from nuner.app.settings import Settings
from nuner.core.errors import Unavailable
from nuner.core.onnx_tagger import OnnxTagger
from nuner.core.types import Entity


class Overloaded(Unavailable):
    """The inference queue is full (or the service is shutting down)."""

    code = "overloaded"

    def __init__(self, reason: str) -> None:
        super().__init__(f"try again shortly: {reason}", headers={"Retry-After": "1"})


class TaggerCache:
    """Loaded bundles by ``name@version``; the least recently used is evicted.

    ``peek`` runs on the event loop without the lock (a load may hold it for a
    second): it only stamps the time of use, which eviction then reads.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.capacity = settings.loaded_taggers
        self.settings = settings
        self.metrics = metrics
        self._loaded: dict[str, OnnxTagger] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def peek(self, version: TaggerVersion) -> OnnxTagger | None:
        """The loaded tagger, if it is loaded (no lock, no I/O)."""
        tagger = self._loaded.get(version.ref)
        if tagger is not None:
            self._used[version.ref] = time.monotonic()
        return tagger

    def get(self, version: TaggerVersion) -> OnnxTagger:
        with self._lock:
            tagger = self._loaded.get(version.ref)
            if tagger is None:
                tagger = self._loaded[version.ref] = self._load(version)
            self._used[version.ref] = time.monotonic()
            while len(self._loaded) > self.capacity:
                self._drop(min(self._loaded, key=lambda ref: self._used.get(ref, 0.0)))
            return tagger

    def forget(self, name: str, version: str | None = None) -> None:
        """Drop the loaded versions of a deleted tagger, or one deleted version."""
        with self._lock:
            for ref in list(self._loaded):
                ref_name, _, ref_version = ref.partition("@")
                if ref_name == name and version in (None, ref_version):
                    self._drop(ref)

    def _load(self, version: TaggerVersion) -> OnnxTagger:
        started = time.perf_counter()
        tagger = OnnxTagger(
            version.path,
            variant=self.settings.variant,
            device=self.settings.device,
            threads=self.settings.threads_per_stream,
            max_batch_tokens=self.settings.batch_max_tokens,
            spinning=self.settings.ort_spinning,
        )
        self.metrics.model_load_seconds.observe(time.perf_counter() - started)
        self.metrics.model_loads.inc()
        self.metrics.loaded_models.set(len(self._loaded) + 1)
        return tagger

    def _drop(self, ref: str) -> None:
        del self._loaded[ref]
        self._used.pop(ref, None)
        self.metrics.loaded_models.set(len(self._loaded))


@dataclass
class _Request:
    texts: Sequence[str]
    threshold: float
    future: asyncio.Future
    arrived: float
    tokens: int


@dataclass
class _Lane:
    """Pending requests of one tagger version."""

    tagger: OnnxTagger
    requests: deque[_Request] = field(default_factory=deque)
    tokens: int = 0


def estimate_tokens(text: str) -> int:
    """Cheap estimate for gathering (the pipeline batches on real tokens)."""
    return len(text) // 4 + 2


class Batcher:
    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.max_tokens = settings.batch_max_tokens
        self.max_wait = settings.batch_max_wait_ms / 1000
        self.queue_limit = settings.queue_max_texts
        self.metrics = metrics
        streams = settings.inference_streams
        self.executor = ThreadPoolExecutor(streams, thread_name_prefix="inference")
        self._slots = asyncio.Semaphore(streams)
        self._running: set[asyncio.Task] = set()
        self._lanes: dict[str, _Lane] = {}
        self._pending_texts = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def submit(
        self, ref: str, tagger: OnnxTagger, texts: Sequence[str], threshold: float
    ) -> list[list[Entity]]:
        if self._closing:
            raise Overloaded("the service is shutting down")
        if self._pending_texts + len(texts) > self.queue_limit:
            raise Overloaded(f"{self._pending_texts} texts already waiting")
        loop = asyncio.get_running_loop()
        request = _Request(
            texts,
            threshold,
            loop.create_future(),
            loop.time(),
            sum(estimate_tokens(t) for t in texts),
        )
        lane = self._lanes.setdefault(ref, _Lane(tagger))
        lane.requests.append(request)
        lane.tokens += request.tokens
        self._pending_texts += len(texts)
        self.metrics.queue_depth.set(self._pending_texts)
        self._wake.set()
        return await request.future

    async def close(self) -> None:
        """Stop taking requests, finish the queued ones, stop the inference thread."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await asyncio.gather(*self._running)
        self.executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            ref = self._oldest_lane()
            if ref is None:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            lane = self._lanes[ref]
            wait = lane.requests[0].arrived + self.max_wait - loop.time()
            if wait > 0 and lane.tokens < self.max_tokens and not self._closing:
                await asyncio.sleep(min(wait, self.max_wait))
                continue
            await self._slots.acquire()
            task = loop.create_task(self._infer(lane.tagger, ref, self._take(lane)))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._slots.release()

    def _oldest_lane(self) -> str | None:
        busy = [
            (lane.requests[0].arrived, ref) for ref, lane in self._lanes.items() if lane.requests
        ]
        return min(busy)[1] if busy else None

    def _take(self, lane: _Lane) -> list[_Request]:
        batch, tokens = [], 0
        while lane.requests and (not batch or tokens + lane.requests[0].tokens <= self.max_tokens):
            request = lane.requests.popleft()
            batch.append(request)
            tokens += request.tokens
        lane.tokens -= tokens
        return batch

    async def _infer(self, tagger: OnnxTagger, ref: str, batch: list[_Request]) -> None:
        texts = [t for request in batch for t in request.texts]
        started = time.perf_counter()

        try:
            results, tokens = await asyncio.get_running_loop().run_in_executor(
                self.executor, tagger.tag, texts
            )
        except Exception as error:  # deliver the failure to every waiting request
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        finally:
            self._pending_texts -= len(texts)
            self.metrics.queue_depth.set(self._pending_texts)
        self.metrics.inference_seconds.labels(ref).observe(time.perf_counter() - started)
        self.metrics.batch_texts.observe(len(texts))
        self.metrics.texts.labels(ref).inc(len(texts))
        self.metrics.tokens.labels(ref).inc(tokens)
        position = 0
        for request in batch:
            chunk = results[position : position + len(request.texts)]
            position += len(request.texts)
            if not request.future.done():
                request.future.set_result(
                    [[e for e in found if e.score >= request.threshold] for found in chunk]
                )
