"""The job state machine on the real store (SQLite here; PostgreSQL in the e2e test)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nuner.app.db import make_engine
from nuner.app.jobs.states import JobState
from nuner.app.jobs.store import IdempotencyConflict, JobFinished, JobNotFound, JobStore
from nuner.app.jobs.worker import orphan_check
from nuner.app.schema import upgrade

REQUEST = {"tagger": "demo", "examples": [{"text": "Paris", "spans": []}]}
SUMMARY = {"backbone": "default", "hyperparameters": {}, "train_examples": 1, "dev_examples": 0}


@pytest.fixture
def store(tmp_path) -> JobStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    upgrade(engine)
    return JobStore(engine)


def dead_worker() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    import socket

    return f"{socket.gethostname()}:{process.pid}"


def test_queued_running_succeeded(store):
    job, created = store.create("demo", REQUEST, SUMMARY)
    assert created and job.state == "queued" and job.attempts == 0
    claimed = store.claim("w1")
    assert claimed.id == job.id and claimed.state == "running" and claimed.attempts == 1
    assert store.claim("w2") is None  # nothing else queued
    assert store.heartbeat(job.id, progress=0.5, stage="training")
    assert store.get(job.id).progress == 0.5
    assert store.finish(job.id, JobState.succeeded, result="demo@1", metrics={"f1": 1.0})
    done = store.get(job.id)
    assert (done.state, done.result, done.progress) == ("succeeded", "demo@1", 1.0)
    assert done.finished_at is not None
    assert not store.heartbeat(job.id)  # finished jobs take no more updates
    assert not store.finish(job.id, JobState.failed, error=("x", "y"))  # no second ending
    messages = [e.message for e in store.events(job.id)]
    assert messages[0] == "job queued" and messages[-1] == "job succeeded"


def test_claim_takes_the_oldest_and_a_named_job_only_once(store):
    first, _ = store.create("a", REQUEST, SUMMARY)
    second, _ = store.create("b", {**REQUEST, "tagger": "b"}, SUMMARY)
    assert store.claim("w", second.id).id == second.id
    assert store.claim("w", second.id) is None
    assert store.claim("w").id == first.id


def test_cancel(store):
    queued, _ = store.create("demo", REQUEST, SUMMARY)
    assert store.request_cancel(queued.id).state == "cancelled"
    assert store.claim("w") is None  # a cancelled job never starts
    running, _ = store.create("demo", {**REQUEST, "x": 1}, SUMMARY)
    store.claim("w")
    after = store.request_cancel(running.id)
    assert after.state == "running" and after.cancel_requested
    assert store.cancel_requested(running.id)
    store.finish(running.id, JobState.cancelled)
    with pytest.raises(JobFinished):
        store.request_cancel(running.id)
    with pytest.raises(JobNotFound):
        store.request_cancel("ftjob-missing")


def test_idempotency_key(store):
    job, created = store.create("demo", REQUEST, SUMMARY, idempotency_key="k1")
    again, created_again = store.create("demo", REQUEST, SUMMARY, idempotency_key="k1")
    assert created and not created_again and again.id == job.id
    with pytest.raises(IdempotencyConflict):
        store.create("demo", {**REQUEST, "tagger": "other"}, SUMMARY, idempotency_key="k1")
    other, created_other = store.create("demo", REQUEST, SUMMARY, idempotency_key="k2")
    assert created_other and other.id != job.id


def test_list_filters_and_pages(store):
    ids = [store.create("demo", {**REQUEST, "n": n}, SUMMARY)[0].id for n in range(5)]
    store.claim("w")  # the oldest, ids[0]
    page, more = store.list(limit=2)
    assert [j.id for j in page] == ids[:2:-1][:2] and more
    rest, more = store.list(limit=10, after=page[-1].id)
    assert [j.id for j in rest] == [ids[2], ids[1], ids[0]] and not more
    running, _ = store.list(JobState.running)
    assert [j.id for j in running] == [ids[0]]


def test_orphaned_jobs_are_retried_then_failed(store):
    job, _ = store.create("demo", REQUEST, SUMMARY)
    store.claim(dead_worker())
    is_orphan = orphan_check(stale_seconds=3600)
    assert store.recover_orphans(is_orphan, max_attempts=2) == [job.id]
    assert store.get(job.id).state == "queued"
    store.claim(dead_worker())
    assert store.recover_orphans(is_orphan, max_attempts=2) == []
    failed = store.get(job.id)
    assert failed.state == "failed" and failed.error_code == "worker_lost"
    assert "2 of 2 attempts" in failed.error_message


def test_a_live_worker_keeps_its_job(store):
    import os
    import socket

    job, _ = store.create("demo", REQUEST, SUMMARY)
    store.claim(f"{socket.gethostname()}:{os.getppid()}")  # alive: the test runner's parent
    assert store.recover_orphans(orphan_check(3600), 2) == []
    assert store.recover_orphans(orphan_check(0), 2) == [job.id]  # heartbeat too old


def test_the_request_is_kept_for_the_worker_only(store):
    job, _ = store.create("demo", REQUEST, SUMMARY)
    assert store.request_of(job.id) == REQUEST
    assert store.get(job.id).summary == SUMMARY
    with pytest.raises(JobNotFound):
        store.request_of("ftjob-missing")


def test_workers_are_listed_while_their_heartbeat_is_fresh(store):
    store.worker_seen("host:1", "idle", mode="embedded", device="cpu")
    store.worker_seen("host:2", "busy", "ftjob-x", mode="procrastinate", device="cuda (H100)")
    store.worker_seen("host:3", "idle", mode="embedded", device="cpu")
    store.worker_seen("host:3", "stopped")
    live = store.live_workers(within_seconds=60)
    assert [(w.name, w.state, w.job_id, w.device) for w in live] == [
        ("host:1", "idle", None, "cpu"),
        ("host:2", "busy", "ftjob-x", "cuda (H100)"),
    ]
    assert store.live_workers(within_seconds=-1) == []
