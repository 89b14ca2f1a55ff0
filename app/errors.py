"""One JSON error envelope for every failure:
``{"error": {"code", "message", "details"}, "request_id"}``.

The one place errors become HTTP: a ``NunerError`` (the root every domain
error derives from, ``nuner.core.errors``) answers with the code and status
its class declares; the framework's own validation and HTTP errors and a lost
database connection get theirs here. Client mistakes are 4xx; only a real
server fault is a 500 (and it never leaks internals).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from nuner.app.db import StoreUnavailable
from nuner.core.errors import NunerError

logger = logging.getLogger("nuner.app")


class ApiError(NunerError):
    """A condition found by a route itself (auth, a body the schema allows but the
    route refuses); everything the layers below raise is already a NunerError."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.status, self.code = status, code


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()
    body = {
        "error": {"code": code, "message": message, "details": details},
        "request_id": getattr(request.state, "request_id", None),
    }
    return JSONResponse(body, status_code=status, headers=headers)


HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def allowed_methods(request: Request) -> list[str]:
    """Every method of the path, whichever route declares it (from the OpenAPI paths)."""
    for template, operations in request.app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, request.url.path):
            return sorted(method.upper() for method in operations)
    return []


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NunerError)
    async def nuner_error(request: Request, error: NunerError) -> JSONResponse:
        """Every domain error, by the code and status its class declares."""
        if error.status >= 500:
            logger.error("%s: %s", error.code, error.message)
        return error_response(
            request, error.status, error.code, error.message, error.details, error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"location": list(e.get("loc", ())), "problem": e.get("msg"), "type": e.get("type")}
            for e in error.errors()
        ]
        first = details[0] if details else {"location": [], "problem": "invalid request"}
        where = ".".join(str(p) for p in first["location"])
        return error_response(
            request, 422, "invalid_request", f"{where}: {first['problem']}", details
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        message = str(error.detail)
        if error.status_code == 400:  # FastAPI's "error parsing the body": e.g. invalid UTF-8
            message = "the request body could not be parsed: invalid UTF-8 or JSON nested too deep"
        headers = dict(error.headers or {})
        if error.status_code == 405:  # RFC 9110: every method of the path, across routes
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(request, error.status_code, code, message, headers=headers)

    @app.exception_handler(OperationalError)
    async def store_unavailable(request: Request, error: OperationalError) -> JSONResponse:
        logger.error("metadata store unreachable: %s", error.orig)  # not for clients' eyes
        return await nuner_error(request, StoreUnavailable("restarting?"))

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(request, 500, "internal_error", "internal server error")
