"""Dependencies injected into the routes (``Annotated`` aliases).

All ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hop per dependency per request that the profile of
the service under load showed. ``/v1/extract`` takes its four parts as one
``ExtractRuntime``: solving dependencies was a seventh of the event loop's
time at 64 clients, most of it a fixed cost per dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from nuner.app.auth import ANONYMOUS, Principal
from nuner.app.encoder_registry import EncoderVersion
from nuner.app.errors import ApiError
from nuner.app.jobs.queue import JobQueue
from nuner.app.jobs.store import JobStore
from nuner.app.loaded import LoadedBundles
from nuner.app.metrics import ServiceMetrics
from nuner.app.registry import Registry, TaggerVersion
from nuner.app.resolver import AliasResolver
from nuner.app.runtime import Batcher
from nuner.app.settings import Settings
from nuner.app.zero_shot import LabelVectors
from nuner.core.head import HeadTagger
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.onnx_tagger import OnnxTagger


def _state(request: Request):
    return request.app.state


async def get_settings(request: Request) -> Settings:
    return _state(request).settings


async def get_registry(request: Request) -> Registry:
    return _state(request).registry


async def get_cache(request: Request) -> LoadedBundles[OnnxTagger]:
    return _state(request).cache


async def get_metrics(request: Request) -> ServiceMetrics:
    return _state(request).metrics


async def get_resolver(request: Request) -> AliasResolver[TaggerVersion]:
    return _state(request).resolver


@dataclass(frozen=True)
class ExtractRuntime:
    """What ``/v1/extract`` needs, injected as one dependency."""

    settings: Settings
    resolver: AliasResolver[TaggerVersion]
    cache: LoadedBundles[OnnxTagger]
    batcher: Batcher
    encoder_resolver: AliasResolver[EncoderVersion]
    encoder_cache: LoadedBundles[OnnxEncoder]
    label_vectors: LabelVectors
    heads: LoadedBundles[HeadTagger]


async def get_extract_runtime(request: Request) -> ExtractRuntime:
    state = _state(request)
    return ExtractRuntime(
        state.settings,
        state.resolver,
        state.cache,
        state.batcher,
        state.encoder_resolver,
        state.encoder_cache,
        state.label_vectors,
        state.heads,
    )


async def get_encoder_cache(request: Request) -> LoadedBundles[OnnxEncoder]:
    return _state(request).encoder_cache


async def get_encoder_resolver(request: Request) -> AliasResolver[EncoderVersion]:
    return _state(request).encoder_resolver


async def get_job_store(request: Request) -> JobStore:
    return _state(request).jobs


async def get_job_queue(request: Request) -> JobQueue:
    return _state(request).job_queue


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """Who calls: anonymous (with every right) when no API keys are configured."""
    ring = _state(request).keys
    if not ring.enabled:
        return ANONYMOUS
    scheme, _, key = (authorization or "").partition(" ")
    principal = ring.authenticate(key.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing or invalid API key: send 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal.name  # the access log shows who, never the key
    return principal


async def get_writer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.can_write:
        raise ApiError(403, "forbidden", f"API key {principal.name!r} is read-only")
    return principal


async def get_global_writer(principal: Annotated[Principal, Depends(get_writer)]) -> Principal:
    """Encoders and their default are service-wide: no namespaced key changes them."""
    if principal.namespace is not None:
        raise ApiError(403, "forbidden", "encoders are service-wide: needs a global write key")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CacheDep = Annotated[LoadedBundles[OnnxTagger], Depends(get_cache)]
EncoderCacheDep = Annotated[LoadedBundles[OnnxEncoder], Depends(get_encoder_cache)]
EncoderResolverDep = Annotated[AliasResolver[EncoderVersion], Depends(get_encoder_resolver)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
ResolverDep = Annotated[AliasResolver[TaggerVersion], Depends(get_resolver)]
ExtractRuntimeDep = Annotated[ExtractRuntime, Depends(get_extract_runtime)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
ReaderDep = Annotated[Principal, Depends(get_principal)]
WriterDep = Annotated[Principal, Depends(get_writer)]
GlobalWriterDep = Annotated[Principal, Depends(get_global_writer)]
