"""The metadata database: SQLite embedded, PostgreSQL scaled out (SQLAlchemy)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from sqlalchemy import DateTime, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from nuner.core.errors import Unavailable

logger = logging.getLogger("nuner.db")
T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class StoreUnavailable(Unavailable):
    """The metadata database cannot be reached (restarting, failing over)."""

    code = "store_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the metadata store is unreachable ({reason}); try again shortly",
            headers={"Retry-After": "5"},
        )


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, also on SQLite (which drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def outlasting_outages(method: Callable[..., T]) -> Callable[..., T]:
    """Retry a store method through a database restart or failover, for up to
    ``self.outage_seconds`` (0: fail at once, as the API should: it answers 503
    and the client retries). Workers set it, so a restart of PostgreSQL costs a
    running job a pause, not its life."""

    @functools.wraps(method)
    def retrying(self, *args, **kwargs) -> T:
        if not self.outage_seconds:
            return method(self, *args, **kwargs)
        for attempt in Retrying(
            retry=retry_if_exception_type(OperationalError),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(self.outage_seconds),
            before_sleep=lambda state: logger.warning(
                "%s: database unreachable (%s); retrying",
                method.__name__,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        ):
            with attempt:
                return method(self, *args, **kwargs)
        raise AssertionError("unreachable: Retrying re-raises")

    return retrying
