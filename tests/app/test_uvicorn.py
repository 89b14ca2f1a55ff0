"""The real server: `nuner publish` + `nuner serve` (uvicorn) on a local port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from nuner.core.datasets import read_jsonl
from tests.app.conftest import NUNER, start_server
from tests.conftest import dataset_path, free_port


@pytest.fixture
def server(tmp_path, make_bundle):
    base, process = start_server(tmp_path / "home", make_bundle("conll", "1"))
    yield base, process
    if process.poll() is None:
        process.kill()


def test_uvicorn_serves_extract_and_drains_on_sigterm(server):
    base, process = server
    text = "Peter Blackburn visited Paris ."
    response = httpx.post(f"{base}/v1/extract", json={"tagger": "conll", "text": text})
    assert response.status_code == 200
    assert all(text[e["start"] : e["end"]] == e["text"] for e in response.json()["entities"])
    assert response.headers["x-request-id"]

    texts = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[:64]]
    body = json.dumps({"tagger": "conll", "texts": texts}).encode()
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST /v1/extract HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=60) as client:
        # The request is in flight for certain: its headers are in, its body is not.
        client.sendall(head + body[:-1])
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        client.sendall(body[-1:])
        raw = b""
        while chunk := client.recv(65536):
            raw += chunk
    # uvicorn re-raises the captured SIGTERM after a graceful shutdown
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    status, _, payload = raw.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200"), status  # in flight when SIGTERM came: answered
    assert len(json.loads(payload)["results"]) == 64
    log = process.stdout.read()
    assert '"route": "/v1/extract"' in log and '"request_id"' in log
    assert "Application shutdown complete" in log


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples in the Prometheus text format."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


LISTEN, ESTABLISHED = "0A", "01"  # TCP states in /proc/net/tcp


def sockets_held(pid: int, port: int, state: str) -> int:
    """TCP sockets on local ``port`` in ``state`` that process ``pid`` holds (Linux /proc)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except FileNotFoundError:  # the process (or one of its fds) went away meanwhile
        return 0
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def worker_pids(server: subprocess.Popen) -> list[int]:
    """The supervisor's live worker processes (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    workers = []
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes() and running(child):
                workers.append(int(child))
        except FileNotFoundError:  # exited meanwhile
            pass
    return workers


def running(pid: int | str) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def listening_workers(server: subprocess.Popen, port: int, count: int) -> list[int]:
    """The worker processes listening on ``port``, once ``count`` of them do
    (/readyz answers as soon as the first one is ready)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listening = [pid for pid in worker_pids(server) if sockets_held(pid, port, LISTEN)]
        if len(listening) == count:
            return listening
        time.sleep(0.2)
    pytest.fail(f"{count} worker processes did not listen on {port}")


def test_a_worker_process_that_dies_is_replaced(tmp_path, make_bundle):
    base, process = start_server(tmp_path / "home", make_bundle("conll", "1"), NUNER_WORKERS="2")
    port = int(base.rsplit(":", 1)[1])
    try:
        before = listening_workers(process, port, 2)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while before[0] in worker_pids(process) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = listening_workers(process, port, 2)
        assert before[1] in after and before[0] not in after
        text = "Peter Blackburn visited Paris ."
        for _ in range(8):  # new connections reach both processes, the new one included
            response = httpx.post(f"{base}/v1/extract", json={"tagger": "conll", "text": text})
            assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_worker_processes_stop_when_their_supervisor_is_killed(tmp_path, make_bundle):
    base, process = start_server(tmp_path / "home", make_bundle("conll", "1"), NUNER_WORKERS="2")
    workers = worker_pids(process)
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.2)
    alive = [pid for pid in workers if running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "orphaned worker processes kept running"


def test_worker_processes_that_cannot_start_stop_the_server(tmp_path):
    env = {
        **os.environ,
        "NUNER_HOME": str(tmp_path / "home"),
        "NUNER_PORT": str(free_port()),
        "NUNER_WORKERS": "2",
        "NUNER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",  # nothing listens
    }
    serve = [NUNER, "serve"]
    finished = subprocess.run(serve, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert "keep failing at startup" in finished.stderr


def test_worker_processes_do_not_join_a_server_already_on_the_port(tmp_path):
    port = free_port()
    with socket.create_server(("127.0.0.1", port), reuse_port=True):  # another server
        env = {**os.environ, "NUNER_HOME": str(tmp_path), "NUNER_PORT": str(port)}
        serve = [NUNER, "serve"]
        finished = subprocess.run(
            serve, env={**env, "NUNER_WORKERS": "2"}, capture_output=True, text=True, timeout=60
        )
    assert finished.returncode != 0
    assert f"cannot serve on 127.0.0.1:{port}" in finished.stderr


def test_worker_processes_share_the_connections(tmp_path, make_bundle):
    base, process = start_server(tmp_path / "home", make_bundle("conll", "1"), NUNER_WORKERS="2")
    port = int(base.rsplit(":", 1)[1])
    workers = listening_workers(process, port, 2)
    clients = [httpx.Client(base_url=base) for _ in range(32)]
    try:
        for client in clients:  # 32 keep-alive connections, opened one after another
            assert client.get("/healthz").status_code == 200
        held = [sockets_held(pid, port, ESTABLISHED) for pid in workers]
        # Shared-socket accept put up to 63 of 64 on one process; hashing spreads
        # them (fewer than 6 of 32 on one side: p ~ 1e-4 by chance).
        assert sum(held) == 32 and min(held) >= 6, held
    finally:
        for client in clients:
            client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_several_worker_processes_share_metrics_and_one_embedded_worker(tmp_path, make_bundle):
    home = tmp_path / "home"
    base, process = start_server(home, make_bundle("conll", "1"), NUNER_WORKERS="2")
    try:
        deadline = time.monotonic() + 60
        loaded = 0.0
        while loaded < 2 and time.monotonic() < deadline:  # both processes warmed up
            loaded = metric(httpx.get(f"{base}/metrics").text, "nuner_loaded_taggers")
            time.sleep(0.2)
        assert loaded == 2  # a gauge summed over both processes, from either one
        text = "Peter Blackburn visited Paris ."
        for _ in range(12):  # a new connection each: the kernel spreads them over both
            response = httpx.post(f"{base}/v1/extract", json={"tagger": "conll", "text": text})
            assert response.status_code == 200
        for _ in range(4):  # whichever process answers the scrape reports all requests
            scraped = httpx.get(f"{base}/metrics").text
            assert metric(scraped, "nuner_texts_total") == 12
            assert metric(scraped, 'nuner_request_seconds_count{method="POST"') == 12
        assert (home / "embedded-worker.lock").is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    log = process.stdout.read()
    assert log.count("Started server process") == 2
    assert log.count("fine-tune worker process") == 1, log
