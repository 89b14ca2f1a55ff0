"""ASGI middleware: request ids, access logs and latency metrics; body size limit."""

from __future__ import annotations

import json
import logging
import time
import uuid

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nuner.app.metrics import ServiceMetrics

access_log = logging.getLogger("nuner.access")


class RequestContext:
    """Gives every request an id (``X-Request-ID``, taken from the client when
    sane), logs one JSON line per request and observes its latency."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else (uuid.uuid4().hex)
        )
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_seconds.labels(route, scope["method"], str(status)).observe(
                elapsed
            )
            if access_log.isEnabledFor(logging.INFO):
                line = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "ms": round(1000 * elapsed, 2),
                    "key": scope.get("state", {}).get("principal"),  # a name, never a key
                }
                log_access(json.dumps(line))


def log_access(message: str) -> None:
    """``access_log.info`` without ``findCaller``: the caller is always this
    module, and walking the stack for it showed in profiles under load."""
    record = access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, message, (), None)
    access_log.handle(record)


class BodySizeLimit:
    """413 for a body over ``max_bytes``, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = HTTPException(413, f"request body exceeds {self.max_bytes} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            scope["nuner.body_too_large"] = True
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if scope.get("nuner.body_too_large"):
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large
            return message

        await self.app(scope, limited_receive, send)
