"""The states a fine-tune job and a worker go through: one definition that the
store, the runner, the worker, the API schemas and the metrics all use."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """queued -> running -> succeeded | failed | cancelled (docs/jobs.md)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class JobStage(str, Enum):
    """Where a job is: its state, or inside ``running``, the step it is on."""

    queued = "queued"
    starting = "starting"
    training = "training"
    exporting = "exporting"
    publishing = "publishing"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class WorkerState(str, Enum):
    starting = "starting"
    idle = "idle"
    busy = "busy"
    stopped = "stopped"


LIVE_WORKER_STATES = (WorkerState.starting, WorkerState.idle, WorkerState.busy)
