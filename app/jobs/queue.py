"""How a queued job reaches a worker.

Embedded: the job table is the queue; the worker polls it. Scale-out: each job
is also deferred through Procrastinate (PostgreSQL), whose LISTEN/NOTIFY wakes
a worker at once and whose per-tagger lock runs jobs for one tagger in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import make_url

from nuner.app.jobs.models import JobRow

logger = logging.getLogger("nuner.jobs")

TASK_NAME = "nuner.finetune"
QUEUE_NAME = "finetune"
SCHEMA_LOCK = 0x4E554E45  # pg advisory lock id: one replica applies the schema


class JobQueue(Protocol):
    def enqueue(self, job: JobRow) -> None: ...

    def close(self) -> None: ...


class PollingQueue:
    """Nothing to do: the embedded worker finds queued rows itself."""

    def enqueue(self, job: JobRow) -> None:
        return None

    def close(self) -> None:
        return None


def conninfo(database_url: str) -> str:
    """SQLAlchemy URL (``postgresql+psycopg://``) -> libpq connection string."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def procrastinate_app(database_url: str, handler: Callable[[str], None] | None = None):
    """The Procrastinate app; ``handler(job_id)`` is the task body (workers only)."""
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url))
    )

    @app.task(name=TASK_NAME, queue=QUEUE_NAME)
    def run_finetune_job(job_id: str) -> None:
        if handler is None:
            raise RuntimeError("this process only defers fine-tune jobs")
        handler(job_id)

    return app


def ensure_procrastinate_schema(database_url: str) -> None:
    """Apply Procrastinate's schema once, whichever replica or worker comes first."""
    import psycopg
    from procrastinate.schema import SchemaManager

    schema = SchemaManager.get_schema()
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            present = connection.execute(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
            ).fetchone()[0]
            if not present:
                connection.execute(schema)
                logger.info("applied the Procrastinate schema")
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class ProcrastinateQueue:
    def __init__(self, database_url: str) -> None:
        ensure_procrastinate_schema(database_url)
        self.app = procrastinate_app(database_url)
        self.app.open()

    def enqueue(self, job: JobRow) -> None:
        self.app.configure_task(TASK_NAME, lock=f"tagger:{job.tagger}").defer(job_id=job.id)

    def close(self) -> None:
        self.app.close()


def make_queue(database_url: str) -> JobQueue:
    if database_url.startswith("postgresql"):
        return ProcrastinateQueue(database_url)
    return PollingQueue()
