"""An OpenAI-compatible chat-completions client (OpenAI, vLLM, llama.cpp
server, Ollama, TGI) with bounded retries.

Retried: 429, 5xx, timeouts and dropped connections, with exponential
backoff and full jitter, or the server's ``Retry-After`` when it gives one.
The API key comes from the environment and is never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass

import httpx

from nuner.core.errors import NunerError

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class AnnotationError(NunerError):
    """The endpoint kept failing (or refused the request outright)."""

    code = "annotation_failed"
    status = 502


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


class ChatClient:
    def __init__(self, settings: ClientSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self.http = client or httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=settings.timeout_s,
        )
        self.retries = 0

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        body = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        for attempt in range(1, self.settings.max_retries + 2):
            try:
                response = await self.http.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                failure, wait = f"{type(error).__name__}", None
            else:
                if response.status_code == 200:
                    return _completion(response.json(), attempt)
                if response.status_code not in RETRYABLE_STATUS:
                    raise AnnotationError(f"HTTP {response.status_code}: {response.text[:200]}")
                failure, wait = f"HTTP {response.status_code}", retry_after(response)
            if attempt > self.settings.max_retries:
                raise AnnotationError(f"gave up after {attempt} attempts: {failure}")
            delay = wait if wait is not None else self._backoff(attempt)
            logger.info("attempt %d failed (%s); retrying in %.1f s", attempt, failure, delay)
            self.retries += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
        ceiling = min(
            self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempt - 1)
        )
        return random.uniform(0, ceiling)

    async def close(self) -> None:
        await self.http.aclose()


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _completion(payload: dict, attempts: int) -> Completion:
    try:
        text = payload["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as error:
        raise AnnotationError(f"unexpected response shape: {error}") from None
    usage = payload.get("usage") or {}
    return Completion(
        text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), attempts
    )
