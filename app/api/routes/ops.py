from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from nuner.app.api.deps import MetricsDep, RegistryDep
from nuner.app.db import StoreUnavailable
from nuner.app.errors import ApiError

logger = logging.getLogger("nuner.app")
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve: store reachable, warm-up done")
async def readyz(request: Request, registry: RegistryDep) -> dict[str, str]:
    if not request.app.state.ready:
        raise ApiError(
            503, "not_ready", "warming up or shutting down", headers={"Retry-After": "1"}
        )
    try:
        await asyncio.to_thread(registry.ping)
    except Exception as error:
        logger.error("readiness: metadata store unreachable: %s", error)  # not for clients' eyes
        raise StoreUnavailable("registry database") from None
    if not registry.bundles_dir.is_dir():
        raise StoreUnavailable("the bundle store directory is missing")
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(await asyncio.to_thread(metrics.exposition), media_type=CONTENT_TYPE_LATEST)
