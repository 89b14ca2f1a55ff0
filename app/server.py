"""Run the service under uvicorn: in this process, or in several worker
processes that each listen on the port with ``SO_REUSEPORT``.

Why not uvicorn's own ``workers``: its processes share one listening socket,
and whichever wakes first accepts every pending connection, so a client
opening 64 keep-alive connections at once often lands 63 of them on one
process (seen with ``ss`` under bench/serve.py's load). With one socket per
process the kernel spreads connections over them by hash.
"""

from __future__ import annotations

import copy
import logging
import logging.config
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

logger = logging.getLogger("nuner.server")

APP = "nuner.app.main:create_app"
GRACEFUL_SHUTDOWN_S = 30
EARLY_EXIT_S = 10.0  # a worker dying this soon after its start counts as failing at startup
MAX_EARLY_EXITS = 3  # in a row: give up rather than restart a crash loop forever
ORPHAN_CHECK_S = 1.0


def serve(host: str, port: int, workers: int) -> None:
    """Serve until SIGTERM / SIGINT, then drain in-flight requests."""
    if workers == 1:
        uvicorn.Server(uvicorn_config(host=host, port=port)).run()
        return
    created = share_metrics_between_workers()
    logging.config.dictConfig(logging_config())
    try:
        Supervisor(host, port, workers).run()
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def uvicorn_config(**address: str | int) -> uvicorn.Config:
    return uvicorn.Config(
        APP,
        **address,
        factory=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_config=logging_config(),
        access_log=False,  # the app logs each request as JSON, with its request id
    )


def logging_config() -> dict:
    """uvicorn's own logging, plus every other logger's records as they are (the
    app writes JSON lines)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["plain"] = {
        "class": "logging.StreamHandler",
        "formatter": "plain",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["plain"], "level": "INFO"}
    return config


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def share_metrics_between_workers() -> str | None:
    """prometheus_client's multiprocess mode, in a directory emptied for this run
    (stale files from an earlier run would add up); returns the directory if it
    was created here, to be removed at the end."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
        return None
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nuner-metrics-")
    return directory


def run_worker(host: str, port: int, supervisor_pid: int) -> None:
    """One worker process: the app on its own socket in the port's group. A
    Ctrl+C reaches it directly and again as the supervisor's SIGTERM, which
    uvicorn takes as one request to shut down gracefully."""
    threading.Thread(target=stop_when_orphaned, args=(supervisor_pid,), daemon=True).start()
    uvicorn.Server(uvicorn_config()).run([listening_socket(host, port, reuse_port=True)])


def stop_when_orphaned(supervisor_pid: int) -> None:
    """A worker whose supervisor was killed (SIGKILL, OOM) would keep the port
    and serve on beside a restarted server: drain and stop instead."""
    while os.getppid() == supervisor_pid:
        time.sleep(ORPHAN_CHECK_S)
    logger.warning("the supervisor %d is gone; stopping", supervisor_pid)
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Starts the worker processes, restarts one that dies, and on SIGTERM or
    SIGINT passes SIGTERM on and waits for their graceful shutdown."""

    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host, self.port, self.workers = host, port, workers
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False

    def run(self) -> None:
        self._check_port_free()
        # Bound but never listening: holds the port for the workers' group.
        with listening_socket(self.host, self.port, reuse_port=True):
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._stop)
            processes = [self._start() for _ in range(self.workers)]
            address = (self.host, self.port, self.workers)
            logger.info("serving on http://%s:%d with %d worker processes", *address)
            try:
                self._watch(processes)
            finally:
                self._shut_down(processes)

    def _check_port_free(self) -> None:
        """``SO_REUSEPORT`` would let the workers join another server already on
        the port (and share its traffic): bind once without it to find out."""
        try:
            listening_socket(self.host, self.port, reuse_port=False).close()
        except OSError as error:
            raise SystemExit(f"cannot serve on {self.host}:{self.port}: {error}") from None

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, float]:
        arguments = (self.host, self.port, os.getpid())
        process = self.context.Process(target=run_worker, args=arguments)
        process.start()
        return process, time.monotonic()

    def _watch(self, processes: list) -> None:
        early_exits = 0
        while not self.stopping:
            time.sleep(0.2)
            for index, (process, started) in enumerate(processes):
                if process.is_alive() or self.stopping:
                    continue
                early = time.monotonic() - started < EARLY_EXIT_S
                early_exits = early_exits + 1 if early else 0
                if early_exits >= MAX_EARLY_EXITS:
                    raise SystemExit(
                        f"worker processes keep failing at startup (exit code {process.exitcode})"
                    )
                logger.warning("worker %d exited (%s); restarting", process.pid, process.exitcode)
                processes[index] = self._start()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _shut_down(self, processes: list) -> None:
        for process, _ in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_S + 5
        for process, _ in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
