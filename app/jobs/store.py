"""The job store: every state change is one conditional UPDATE, so the API,
any number of workers and a restart never disagree on who owns a job."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from nuner.app.db import outlasting_outages
from nuner.app.jobs.models import JobEventRow, JobRow, WorkerRow
from nuner.app.jobs.states import JobStage, JobState, WorkerState
from nuner.core.errors import Conflict, NotFound


class JobNotFound(NotFound):
    code = "job_not_found"


class JobFinished(Conflict):
    code = "job_finished"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def request_hash(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


class JobStore:
    def __init__(self, engine: Engine, outage_seconds: float = 0) -> None:
        self.outage_seconds = outage_seconds  # see app.db.outlasting_outages
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # --- the API side ------------------------------------------------------

    def create(
        self, tagger: str, request: dict, summary: dict, idempotency_key: str | None = None
    ) -> tuple[JobRow, bool]:
        """A new queued job, or the job an earlier POST with this key created."""
        digest = request_hash(request)
        if idempotency_key and (earlier := self._by_key(idempotency_key, digest)):
            return earlier, False
        row = JobRow(
            id=f"ftjob-{uuid.uuid4().hex[:24]}",
            tagger=tagger,
            state=JobState.queued.value,
            stage=JobStage.queued.value,
            progress=0.0,
            request=request,
            summary=summary,
            request_hash=digest,
            idempotency_key=idempotency_key,
            created_at=utcnow(),
            attempts=0,
            cancel_requested=False,
        )
        try:
            with self.sessions.begin() as session:
                session.add(row)
                session.flush()  # the job row first: events reference it
                session.add(_event(row.id, "job queued", data={"tagger": tagger}))
        except IntegrityError:  # a concurrent POST with the same key won the race
            if idempotency_key and (earlier := self._by_key(idempotency_key, digest)):
                return earlier, False
            raise
        return row, True

    def _by_key(self, key: str, digest: str) -> JobRow | None:
        with self.sessions() as session:
            row = session.scalar(select(JobRow).where(JobRow.idempotency_key == key))
        if row is not None and row.request_hash != digest:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for job {row.id} with a different body"
            )
        return row

    def discard(self, job_id: str) -> None:
        """Forget a job that never reached the queue (its key may then be reused)."""
        with self.sessions.begin() as session:
            session.execute(delete(JobEventRow).where(JobEventRow.job_id == job_id))
            session.execute(delete(JobRow).where(JobRow.id == job_id))

    @outlasting_outages
    def get(self, job_id: str) -> JobRow:
        with self.sessions() as session:
            row = session.get(JobRow, job_id)
        if row is None:
            raise JobNotFound(f"no fine-tune job {job_id!r}")
        return row

    @outlasting_outages
    def is_running(self, job_id: str) -> bool:
        with self.sessions() as session:
            state = session.scalar(select(JobRow.state).where(JobRow.id == job_id))
        return state == JobState.running.value

    @outlasting_outages
    def request_of(self, job_id: str) -> dict:
        """The full request (examples included): only the worker needs it."""
        with self.sessions() as session:
            request = session.scalar(select(JobRow.request).where(JobRow.id == job_id))
        if request is None:
            raise JobNotFound(f"no fine-tune job {job_id!r}")
        return request

    def list(
        self,
        state: JobState | None = None,
        limit: int = 20,
        after: str | None = None,
        tagger_prefix: str | None = None,
    ) -> tuple[list[JobRow], bool]:
        """Newest first; ``after`` is the last id of the previous page."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id.desc())
        if state is not None:
            query = query.where(JobRow.state == state.value)
        if tagger_prefix is not None:
            query = query.where(JobRow.tagger.startswith(tagger_prefix, autoescape=True))
        if after is not None:
            anchor = self.get(after)
            query = query.where(
                (JobRow.created_at < anchor.created_at)
                | ((JobRow.created_at == anchor.created_at) & (JobRow.id < anchor.id))
            )
        with self.sessions() as session:
            rows = list(session.scalars(query.limit(limit + 1)).all())
        return rows[:limit], len(rows) > limit

    def count_by_state(self) -> dict[str, int]:
        query = select(JobRow.state, func.count()).group_by(JobRow.state)
        with self.sessions() as session:
            return {state: count for state, count in session.execute(query).all()}

    def events(self, job_id: str, after: int | None = None, limit: int = 100) -> list[JobEventRow]:
        self.get(job_id)
        query = select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(JobEventRow.id)
        if after is not None:
            query = query.where(JobEventRow.id > after)
        with self.sessions() as session:
            return list(session.scalars(query.limit(limit)).all())

    def request_cancel(self, job_id: str) -> JobRow:
        """A queued job is cancelled at once; a running one when its worker next checks."""
        now = utcnow()
        if self._transition(
            job_id,
            JobState.queued,
            state=JobState.cancelled.value,
            stage=JobStage.cancelled.value,
            finished_at=now,
        ):
            self.add_event(job_id, "job cancelled before it started")
        elif self._transition(job_id, JobState.running, cancel_requested=True):
            self.add_event(job_id, "cancellation requested")
        else:
            job = self.get(job_id)
            raise JobFinished(f"job {job_id} already {job.state}; nothing to cancel")
        return self.get(job_id)

    # --- the worker side ---------------------------------------------------

    @outlasting_outages
    def claim(self, worker: str, job_id: str | None = None) -> JobRow | None:
        """Take a queued job (the oldest, or ``job_id``) for ``worker``."""
        while True:
            candidate = job_id or self._oldest_queued()
            if candidate is None:
                return None
            now = utcnow()
            if self._transition(
                candidate,
                JobState.queued,
                state=JobState.running.value,
                stage=JobStage.starting.value,
                started_at=now,
                heartbeat_at=now,
                worker=worker,
                attempts=JobRow.attempts + 1,
            ):
                job = self.get(candidate)
                self.add_event(candidate, f"started on {worker} (attempt {job.attempts})")
                return job
            if job_id is not None:
                return None  # not queued (cancelled, or another worker has it)

    def _oldest_queued(self) -> str | None:
        query = (
            select(JobRow.id)
            .where(JobRow.state == JobState.queued.value)
            .order_by(JobRow.created_at, JobRow.id)
            .limit(1)
        )
        with self.sessions() as session:
            return session.scalar(query)

    @outlasting_outages
    def heartbeat(self, job_id: str, **fields: object) -> bool:
        """Record liveness (and progress fields); False once the job is not running."""
        return self._transition(job_id, JobState.running, heartbeat_at=utcnow(), **fields)

    @outlasting_outages
    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.get(job_id).cancel_requested)

    @outlasting_outages
    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: str | None = None,
        metrics: dict | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        code, message = error or (None, None)
        done = self._transition(
            job_id,
            JobState.running,
            state=state.value,
            stage=state.value,
            progress=1.0 if state is JobState.succeeded else JobRow.progress,
            finished_at=utcnow(),
            result=result,
            metrics=metrics,
            error_code=code,
            error_message=message,
        )
        if done:
            level = "error" if state is JobState.failed else "info"
            text = f"job {state.value}" + (f": {message}" if message else "")
            self.add_event(job_id, text, level, {"result": result} if result else None)
        return done

    @outlasting_outages
    def requeue(self, job_id: str, reason: str, refund_attempt: bool = False) -> bool:
        done = self._transition(
            job_id,
            JobState.running,
            state=JobState.queued.value,
            stage=JobStage.queued.value,
            progress=0.0,
            worker=None,
            attempts=JobRow.attempts - (1 if refund_attempt else 0),
        )
        if done:
            self.add_event(job_id, f"requeued: {reason}", "warning")
        return done

    @outlasting_outages
    def recover_orphans(self, is_orphan: Callable[[JobRow], bool], max_attempts: int) -> list[str]:
        """Running jobs whose worker is gone: retried while attempts remain, else failed.
        Returns the ids put back in the queue."""
        with self.sessions() as session:
            running = session.scalars(
                select(JobRow).where(JobRow.state == JobState.running.value)
            ).all()
        requeued = []
        for job in filter(is_orphan, running):
            lost = f"the worker running it ({job.worker}) stopped: crash, kill or restart"
            if job.attempts < max_attempts:
                if self.requeue(job.id, f"{lost}; retrying"):
                    requeued.append(job.id)
            else:
                message = f"{lost}, on {job.attempts} of {max_attempts} attempts; giving up"
                self.finish(job.id, JobState.failed, error=("worker_lost", message))
        return requeued

    # --- workers -----------------------------------------------------------

    @outlasting_outages
    def worker_seen(self, name: str, state: str, job_id: str | None = None, **info: str) -> None:
        now = utcnow()
        with self.sessions.begin() as session:
            row = session.get(WorkerRow, name)
            if row is None:
                row = WorkerRow(name=name, started_at=now, mode="", device="")
                session.add(row)
            row.state, row.job_id, row.heartbeat_at = state, job_id, now
            for key, value in info.items():
                setattr(row, key, value)

    def live_workers(self, within_seconds: float) -> list[WorkerRow]:
        since = utcnow() - timedelta(seconds=within_seconds)
        query = (
            select(WorkerRow)
            .where(WorkerRow.heartbeat_at >= since, WorkerRow.state != WorkerState.stopped.value)
            .order_by(WorkerRow.name)
        )
        with self.sessions() as session:
            return list(session.scalars(query).all())

    @outlasting_outages
    def add_event(
        self, job_id: str, message: str, level: str = "info", data: dict | None = None
    ) -> None:
        with self.sessions.begin() as session:
            session.add(_event(job_id, message, level, data))

    def _transition(self, job_id: str, current: JobState, **values: object) -> bool:
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == current.value)
            .values(**values)
        )
        with self.sessions.begin() as session:
            return session.execute(statement).rowcount == 1


def _event(job_id: str, message: str, level: str = "info", data: dict | None = None):
    return JobEventRow(job_id=job_id, created_at=utcnow(), level=level, message=message, data=data)
