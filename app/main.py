"""The FastAPI application factory (``uvicorn app.main:create_app --factory``)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nuner import __version__
from nuner.app.api.routes import encoders, extract, finetune, ops, taggers
from nuner.app.api.routes.playground import install_playground
from nuner.app.auth import ApiKeyConfig, KeyRing
from nuner.app.errors import install_error_handlers
from nuner.app.jobs.metrics import JobCollector
from nuner.app.jobs.queue import make_queue
from nuner.app.jobs.store import JobStore
from nuner.app.jobs.supervisor import WorkerSupervisor
from nuner.app.loaded import encoder_cache, head_cache, tagger_cache
from nuner.app.metrics import ServiceMetrics
from nuner.app.middleware import BodySizeLimit, RequestContext
from nuner.app.registry import Registry
from nuner.app.resolver import AliasResolver
from nuner.app.runtime import Batcher
from nuner.app.settings import Settings, get_settings
from nuner.app.zero_shot import LabelVectors

logger = logging.getLogger("nuner.app")


async def warm_up(app: FastAPI) -> None:
    state = app.state
    for reference in state.settings.warmup_taggers:
        version = await asyncio.to_thread(state.resolver.resolve, reference)
        tagger = await asyncio.to_thread(state.cache.get, version)
        await asyncio.to_thread(tagger, ["warm-up"])
        logger.info("warmed up %s", version.ref)


def claim_embedded_worker(app: FastAPI) -> bool:
    """One embedded fine-tune worker per server, however many worker processes
    ``nuner serve`` runs: the process that holds the lock file supervises it."""
    settings = app.state.settings
    if settings.workers == 1:
        return True
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    lock = open(settings.home_dir / "embedded-worker.lock", "w")  # noqa: SIM115 (held for life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return False
    app.state.embedded_worker_lock = lock  # released when the process exits
    return True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    app.state.batcher = Batcher(settings, app.state.metrics)
    app.state.batcher.start()
    app.state.job_queue = await asyncio.to_thread(make_queue, settings.resolved_database_url)
    supervisor = None
    if settings.embedded_worker and claim_embedded_worker(app):
        supervisor = WorkerSupervisor(settings)
        await supervisor.start()
    app.state.worker = supervisor
    await warm_up(app)
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False
        await app.state.batcher.close()  # drains queued requests first
        if supervisor:
            await supervisor.stop()
        await asyncio.to_thread(app.state.job_queue.close)
        app.state.metrics.process_exit()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="NuNER Service",
        version=__version__,
        description="Entity extraction with few-shot NuNER taggers. Offsets are Unicode code "
        "points into the text exactly as sent, `end` exclusive.",
        lifespan=lifespan,
    )
    metrics = ServiceMetrics()
    registry = Registry.from_settings(settings)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.registry = registry
    app.state.jobs = JobStore(registry.engine)
    app.state.keys = KeyRing([ApiKeyConfig.model_validate(k) for k in settings.api_keys])
    app.state.worker = None
    metrics.add_scrape_collector(
        JobCollector(
            app.state.jobs,
            settings.job_stale_seconds,
            restarts=lambda: app.state.worker.restarts if app.state.worker else None,
        )
    )
    app.state.cache = tagger_cache(settings, metrics)
    app.state.heads = head_cache(settings, metrics)
    app.state.resolver = AliasResolver(registry.resolve, settings.alias_cache_seconds)
    app.state.encoder_cache = encoder_cache(settings, metrics)
    app.state.encoder_resolver = AliasResolver(
        registry.encoders.resolve, settings.alias_cache_seconds
    )
    app.state.label_vectors = LabelVectors(settings.label_cache_size, metrics)
    app.state.ready = False
    install_error_handlers(app)
    for module in (extract, taggers, encoders, finetune, ops):
        app.include_router(module.router)
    app.include_router(finetune.workers_router)
    if settings.playground:
        install_playground(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics)
    return app
