"""Dependencies injected into the routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.jobs.queue import JobQueue
from app.jobs.store import JobStore
from app.metrics import ServiceMetrics
from app.registry import Registry
from app.resolver import AliasResolver
from app.runtime import Batcher, TaggerCache
from nuner.settings import Settings


def _state(request: Request):
    return request.app.state


def get_settings(request: Request) -> Settings:
    return _state(request).settings


def get_registry(request: Request) -> Registry:
    return _state(request).registry


def get_cache(request: Request) -> TaggerCache:
    return _state(request).cache


def get_batcher(request: Request) -> Batcher:
    return _state(request).batcher


def get_metrics(request: Request) -> ServiceMetrics:
    return _state(request).metrics


def get_resolver(request: Request) -> AliasResolver:
    return _state(request).resolver


def get_job_store(request: Request) -> JobStore:
    return _state(request).jobs


def get_job_queue(request: Request) -> JobQueue:
    return _state(request).job_queue


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CacheDep = Annotated[TaggerCache, Depends(get_cache)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
ResolverDep = Annotated[AliasResolver, Depends(get_resolver)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
