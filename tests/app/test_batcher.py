"""The batcher's inference streams, with a stand-in tagger that blocks until
as many batches as there are streams run at once."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from nuner.app.metrics import ServiceMetrics
from nuner.app.runtime import Batcher

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
    first = asyncio.create_task(batcher.submit("t@1", tagger, ["a"], 0.0))
    await asyncio.sleep(0.1)  # past the batch wait: the two go in separate batches
    second = asyncio.create_task(batcher.submit("t@1", tagger, ["b"], 0.0))
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
