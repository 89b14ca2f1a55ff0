"""The batcher's inference streams, with a stand-in model that blocks until
as many batches as there are streams run at once; and each request's finish
runs on its own share of the batch, a failing one failing only its request."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from nuner.app.metrics import ServiceMetrics
from nuner.app.runtime import Batcher, keep_above
from nuner.core.types import Entity

pytestmark = pytest.mark.anyio


def blocking_tagger(barrier: threading.Barrier) -> SimpleNamespace:
    def tag(texts):
        barrier.wait()  # BrokenBarrierError unless the other batch runs meanwhile
        return [[] for _ in texts], len(texts)

    return SimpleNamespace(tag=tag)


async def submit_two(settings, barrier: threading.Barrier) -> None:
    batcher = Batcher(settings, ServiceMetrics())
    batcher.start()
    tagger = blocking_tagger(barrier)
    first = asyncio.create_task(batcher.submit("t@1", tagger.tag, ["a"], keep_above(0.0)))
    await asyncio.sleep(0.1)  # past the batch wait: the two go in separate batches
    second = asyncio.create_task(batcher.submit("t@1", tagger.tag, ["b"], keep_above(0.0)))
    try:
        assert await asyncio.gather(first, second) == [[[]], [[]]]
    finally:
        barrier.abort()
        await batcher.close()


async def test_two_streams_run_two_batches_at_once(settings):
    await submit_two(
        settings.model_copy(update={"inference_streams": 2}), threading.Barrier(2, timeout=5)
    )


async def test_one_stream_runs_one_batch_at_a_time(settings):
    with pytest.raises(threading.BrokenBarrierError):
        await submit_two(
            settings.model_copy(update={"inference_streams": 1}), threading.Barrier(2, timeout=0.5)
        )


async def test_each_request_finishes_its_own_share_of_a_batch(settings):
    batcher = Batcher(settings.model_copy(update={"batch_max_wait_ms": 50}), ServiceMetrics())
    batcher.start()
    runs = []

    def run(texts):
        runs.append(list(texts))
        return [[Entity(0, len(t), t, "X", 0.5 + i / 10)] for i, t in enumerate(texts)], 0

    def broken(_share):
        raise ValueError("this request's labels are broken")

    try:
        results = await asyncio.gather(
            batcher.submit("m@1", run, ["ab", "cd"], keep_above(0.0)),
            batcher.submit("m@1", run, ["ef"], keep_above(0.65)),
            batcher.submit("m@1", run, ["gh"], broken),
            return_exceptions=True,
        )
    finally:
        await batcher.close()
    assert runs == [["ab", "cd", "ef", "gh"]]  # one pass for the three requests
    assert [[e.text for e in r] for r in results[0]] == [["ab"], ["cd"]]
    assert [[e.text for e in r] for r in results[1]] == [["ef"]]  # 0.7 >= 0.65
    assert isinstance(results[2], ValueError)
