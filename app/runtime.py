"""Inference runtime: the dynamic batcher.

Requests for the same model (a tagger version, or an encoder version whatever
labels each request brings) are gathered until their estimated tokens reach
the batch budget or the oldest has waited ``max_wait``; the texts then go
through the bundle's pipeline (which sorts windows by length and splits them
into the least padded batches) on an inference thread, and each request's
own finish (its threshold, its labels) runs there too.
ONNX Runtime releases the GIL, so the event loop keeps accepting requests
meanwhile. The queue is bounded: beyond ``queue_max_texts`` pending texts,
``Overloaded`` is raised (HTTP 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nuner.app.metrics import ServiceMetrics
from nuner.app.settings import Settings
from nuner.core.errors import Unavailable
from nuner.core.types import Entity


class Overloaded(Unavailable):
    """The inference queue is full (or the service is shutting down)."""

    code = "overloaded"

    def __init__(self, reason: str) -> None:
        super().__init__(f"try again shortly: {reason}", headers={"Retry-After": "1"})


# a model's pass over the texts of a batch: one output per text, and the tokens it ran
RunFn = Callable[[list[str]], tuple[list[Any], int]]
# a request's result from its share of the outputs: entities per text (its threshold,
# its labels), or, for an encoder pass, entities per text for each of its sources
FinishFn = Callable[[list[Any]], Any]


def keep_above(threshold: float) -> FinishFn:
    """A tagger request's finish: its entities at or above its threshold."""

    def finish(found: list[list[Entity]]) -> list[list[Entity]]:
        return [[e for e in entities if e.score >= threshold] for entities in found]

    return finish


@dataclass
class _Request:
    texts: Sequence[str]
    finish: FinishFn
    future: asyncio.Future
    arrived: float
    tokens: int
    result: Any = None  # what finish returned, or the exception it raised


@dataclass
class _Lane:
    """Pending requests of one model (a tagger version, or an encoder version
    whose requests each bring their own labels)."""

    run: RunFn
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

    async def submit(self, ref: str, run: RunFn, texts: Sequence[str], finish: FinishFn) -> Any:
        """What ``finish`` makes of this request's outputs: ``texts`` batched with
        other requests for ``ref`` and run once."""
        if self._closing:
            raise Overloaded("the service is shutting down")
        if self._pending_texts + len(texts) > self.queue_limit:
            raise Overloaded(f"{self._pending_texts} texts already waiting")
        loop = asyncio.get_running_loop()
        request = _Request(
            texts,
            finish,
            loop.create_future(),
            loop.time(),
            sum(estimate_tokens(t) for t in texts),
        )
        lane = self._lanes.setdefault(ref, _Lane(run))
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
            task = loop.create_task(self._infer(lane.run, ref, self._take(lane)))
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

    async def _infer(self, run: RunFn, ref: str, batch: list[_Request]) -> None:
        texts = [t for request in batch for t in request.texts]
        started = time.perf_counter()
        try:
            tokens = await asyncio.get_running_loop().run_in_executor(
                self.executor, _run_batch, run, texts, batch
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
        for request in batch:
            if request.future.done():
                continue
            if isinstance(request.result, BaseException):
                request.future.set_exception(request.result)
            else:
                request.future.set_result(request.result)


def _run_batch(run: RunFn, texts: list[str], batch: list[_Request]) -> int:
    """On the inference thread: the model once over every text, then each
    request's own finish on its share (a failing finish fails its request only)."""
    outputs, tokens = run(texts)
    position = 0
    for request in batch:
        share = outputs[position : position + len(request.texts)]
        position += len(request.texts)
        try:
            request.result = request.finish(share)
        except Exception as error:
            request.result = error
    return tokens
