"""The one root of every error the product raises on purpose.

Each subclass names its condition once: a machine-readable ``code`` and the
HTTP status the service answers it with (``nuner.app.errors`` maps them to the
error envelope in one place; the CLI prints the message). One condition, one
code: docs/service.md lists them.
"""

from __future__ import annotations

from typing import Any


class NunerError(Exception):
    code: str = "internal_error"
    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class InvalidInput(NunerError):
    """A client's request or file that cannot be used as it is."""

    code = "invalid_request"
    status = 422


class NotFound(NunerError):
    code = "not_found"
    status = 404


class Conflict(NunerError):
    code = "conflict"
    status = 409


class Unavailable(NunerError):
    """Try again later: the service or what it depends on is not ready."""

    code = "unavailable"
    status = 503
