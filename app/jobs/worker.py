"""``nuner worker`` (or ``nuner-worker``, ``python -m nuner.app.jobs.worker``):
the process that runs fine-tune jobs.

Embedded (SQLite): polls the job table, one job at a time. Scale-out
(PostgreSQL): a Procrastinate worker; run one per GPU. Both recover jobs
orphaned by a dead worker at start and then periodically.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from nuner.app.jobs.builds import sweep_builds
from nuner.app.jobs.models import JobRow
from nuner.app.jobs.queue import QUEUE_NAME, JobQueue, make_queue, procrastinate_app
from nuner.app.jobs.runner import JobRunner
from nuner.app.jobs.states import WorkerState
from nuner.app.jobs.store import JobStore
from nuner.app.registry import Registry
from nuner.app.settings import Settings

logger = logging.getLogger("nuner.jobs")

RECOVERY_INTERVAL_S = 30.0
PARENT_CHECK_S = 1.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphan_check(stale_seconds: float) -> Callable[[JobRow], bool]:
    """A running job is orphaned when its worker process on this host is gone, or
    (any host) its heartbeat is older than ``stale_seconds``."""
    host = socket.gethostname()
    me = worker_name()

    def is_orphan(job: JobRow) -> bool:
        if job.worker == me:
            return False
        worker_host, _, pid = (job.worker or "").rpartition(":")
        if worker_host == host and pid.isdigit() and not _process_alive(int(pid)):
            return True
        beat = job.heartbeat_at or job.started_at
        if beat is None:
            return True
        return datetime.now(timezone.utc) - beat > timedelta(seconds=stale_seconds)

    return is_orphan


def warm_up() -> str:
    """Import the training and export stack now, not in the first job's time;
    returns the device fine-tuning will use."""
    import nuner.app.tagger_builder  # noqa: F401  (torch, transformers, optimum, onnx)
    from nuner.training.finetune import pick_device

    device = pick_device("auto")
    if device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


class Worker:
    def __init__(self, settings: Settings, parent_pid: int | None = None) -> None:
        self.settings = settings
        self.parent_pid = parent_pid
        self.name = worker_name()
        self.registry = Registry.from_settings(settings)
        # retry through a database restart, but not past the point where the
        # job would be taken for an orphan
        self.store = JobStore(self.registry.engine, outage_seconds=settings.job_stale_seconds / 2)
        self.queue: JobQueue = make_queue(settings.resolved_database_url)
        self.stopping = threading.Event()
        self.runner = JobRunner(
            self.store, self.registry, settings, self.stopping, requeue=self.queue.enqueue
        )
        self.is_orphan = orphan_check(settings.job_stale_seconds)
        self.device = "unknown"
        self.state: tuple[WorkerState, str | None] = (WorkerState.starting, None)

    def recover(self) -> list[str]:
        """Retry or fail the jobs of dead workers and remove what their builds left."""
        requeued = self.store.recover_orphans(self.is_orphan, self.settings.job_max_attempts)
        for job_id in requeued:
            self.queue.enqueue(self.store.get(job_id))
        sweep_builds(self.registry.bundles_dir, self.store.is_running)
        return requeued

    def run_job(self, job_id: str | None = None) -> bool:
        """Claim and run one job (the oldest queued, or ``job_id``); False if none."""
        job = self.store.claim(self.name, job_id)
        if job is None:
            return False
        logger.info("running %s for tagger %s", job.id, job.tagger)
        self._announce(WorkerState.busy, job.id)
        try:
            self.runner.run(job)
        finally:
            self._announce(WorkerState.idle)
        return True

    def serve(self) -> None:
        self._install_signal_handlers()
        self._announce(WorkerState.starting)
        self.device = warm_up()
        self._announce(WorkerState.idle)
        self._touch_heartbeat_file()
        threading.Thread(target=self._beat, daemon=True).start()
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, daemon=True).start()
        logger.info("fine-tune worker %s ready (%s, %s)", self.name, self._mode(), self.device)
        try:
            if self.settings.uses_postgres:
                self._serve_procrastinate()
            else:
                self._serve_polling()
        finally:
            self._announce(WorkerState.stopped)
            self.queue.close()
        logger.info("fine-tune worker %s stopped", self.name)

    def _announce(self, state: WorkerState, job_id: str | None = None) -> None:
        self.state = (state, job_id)
        self.store.worker_seen(
            self.name, state.value, job_id, mode=self._mode(), device=self.device
        )

    def _beat(self) -> None:
        while not self.stopping.wait(self.settings.job_stale_seconds / 4):
            try:
                self._announce(*self.state)
            except Exception:
                logger.exception("worker heartbeat failed")
            else:
                self._touch_heartbeat_file()

    def _watch_parent(self) -> None:
        """An embedded worker whose API was killed (SIGKILL, OOM) would live on,
        orphaned, beside the worker of the restarted API: stop gracefully instead,
        so its job is requeued for the new worker."""
        while not self.stopping.wait(PARENT_CHECK_S):
            if os.getppid() != self.parent_pid:
                logger.warning("the API process %d is gone; stopping", self.parent_pid)
                self.stopping.set()

    def _touch_heartbeat_file(self) -> None:
        if self.settings.worker_heartbeat_file is not None:
            self.settings.worker_heartbeat_file.touch()

    def _mode(self) -> str:
        return "procrastinate" if self.settings.uses_postgres else "embedded"

    def _serve_polling(self) -> None:
        next_recovery = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_recovery:
                self.recover()
                next_recovery = now + RECOVERY_INTERVAL_S
            if not self.run_job():
                self.stopping.wait(self.settings.worker_poll_seconds)

    def _serve_procrastinate(self) -> None:
        import asyncio

        app = procrastinate_app(self.settings.resolved_database_url, handler=self.run_job)

        async def main() -> None:
            async with app.open_async():
                worker = asyncio.create_task(
                    app.run_worker_async(
                        queues=[QUEUE_NAME], concurrency=1, install_signal_handlers=False
                    )
                )
                recovery = asyncio.create_task(self._recover_periodically(app))
                await asyncio.to_thread(self.stopping.wait)
                recovery.cancel()
                worker.cancel()  # graceful: the running job requeues itself at its next check
                await asyncio.gather(worker, recovery, return_exceptions=True)

        asyncio.run(main())

    async def _recover_periodically(self, app) -> None:
        import asyncio

        while True:
            try:
                await self._release_stalled(app)
                await asyncio.to_thread(self.recover)
            except Exception:
                logger.exception("job recovery failed; trying again later")
            await asyncio.sleep(RECOVERY_INTERVAL_S)

    async def _release_stalled(self, app) -> None:
        """A Procrastinate job of a dead worker stays 'doing' and keeps its tagger
        lock; mark it failed so that the requeued job can run."""
        from procrastinate.jobs import Status

        stalled = await app.job_manager.get_stalled_jobs(
            queue=QUEUE_NAME, seconds_since_heartbeat=self.settings.job_stale_seconds
        )
        for job in stalled:
            logger.warning("releasing stalled procrastinate job %s", job.id)
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)

    def _install_signal_handlers(self) -> None:
        def stop(signum, _frame) -> None:
            logger.info("signal %d: finishing at the next epoch, requeueing the job", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def run_worker(settings: Settings, threads: int | None, parent_pid: int | None) -> None:
    """Set up torch and logging for this process, then serve jobs until stopped."""
    from nuner.training.torch_setup import prepare_torch

    prepare_torch(threads or settings.num_threads)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("nuner").setLevel(logging.INFO)  # not ORT's chatty quantiser
    Worker(settings, parent_pid=parent_pid).serve()


def main(argv: list[str] | None = None) -> None:
    """The worker's own entry point: what the API's supervisor starts."""
    from nuner.app.settings import get_settings

    parser = argparse.ArgumentParser(prog="nuner-worker", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch.")
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="Stop when this process is gone."
    )
    args = parser.parse_args(argv)
    run_worker(get_settings(), args.threads, args.parent_pid)


if __name__ == "__main__":
    main()
