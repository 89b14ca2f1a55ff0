"""The embedded worker: a separate process started, watched and restarted by
the API, so that a fine-tune that crashes (or runs out of memory) cannot take
the API down, and the API keeps no torch in its own memory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

from nuner.app.settings import Settings

logger = logging.getLogger("nuner.jobs")

MAX_BACKOFF_S = 30.0
# the worker's own entry point (nuner.app.jobs.worker.main), in this interpreter
WORKER_COMMAND = (sys.executable, "-m", "nuner.app.jobs.worker")


def settings_env(settings: Settings) -> dict[str, str]:
    """The API's settings as ``NUNER_*`` variables, so the worker sees the same store
    even when the API was built from a Settings object rather than the environment."""
    env = {}
    for name, value in settings.model_dump(mode="json", exclude_none=True).items():
        env[f"NUNER_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


class WorkerSupervisor:
    def __init__(self, settings: Settings, stop_timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.stop_timeout_s = stop_timeout_s
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._watch: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        await self._spawn()
        self._watch = asyncio.create_task(self._keep_alive())

    async def _spawn(self) -> None:
        env = {**os.environ, **settings_env(self.settings)}
        self.process = await asyncio.create_subprocess_exec(
            *WORKER_COMMAND, "--parent-pid", str(os.getpid()), env=env
        )
        logger.info("fine-tune worker process %d started", self.process.pid)

    async def _keep_alive(self) -> None:
        backoff = 1.0
        while not self._stopping:
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping:
                return
            self.restarts += 1
            logger.error("fine-tune worker exited with %s; restarting in %.0f s", code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            if not self._stopping:
                await self._spawn()

    async def stop(self) -> None:
        """SIGTERM: a running job is requeued at its next epoch; kill after the timeout."""
        self._stopping = True
        if self._watch:
            self._watch.cancel()
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.stop_timeout_s)
        except asyncio.TimeoutError:
            logger.warning("fine-tune worker did not stop in time; killing it")
            process.kill()
            await process.wait()
