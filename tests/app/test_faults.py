"""Faults during fine-tune jobs, on real processes: the API restarted (gracefully
or killed), the worker killed while it writes a bundle, PostgreSQL restarted
with jobs queued. Afterwards every job ends in the right state, nothing is
lost or published twice, nothing half-written is served, and no one had to
step in."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from nuner.app.jobs.supervisor import WORKER_COMMAND, settings_env
from nuner.app.main import create_app
from nuner.app.registry import Registry, TaggerNotFound
from nuner.app.schema import upgrade
from tests.app.conftest import finished, job_body, no_build_leftovers, running, wait_for
from tests.conftest import free_port, wait_until_ready

NUNER = str(Path(sys.executable).with_name("nuner"))

pytestmark = pytest.mark.anyio


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}")


class Service:
    """``nuner serve`` (API + embedded worker) as a subprocess on a local port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.base = f"http://127.0.0.1:{env['NUNER_PORT']}"
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([NUNER, "serve"], env=self.env)
        if not wait_until_ready(self.base, timeout=90):
            self.process.kill()
            pytest.fail("nuner serve did not become ready")

    def job(self, job_id: str) -> dict:
        return self.client.get(f"/v1/finetune/{job_id}").json()

    def wait_for(self, job_id: str, until, timeout: float = 240) -> dict:
        wait_until(lambda: until(self.job(job_id)), timeout, f"job {job_id}")
        return self.job(job_id)

    def worker_pid(self) -> int:
        def seen() -> bool:
            return bool(self.client.get("/v1/workers").json()["data"])

        wait_until(seen, 60, "the embedded worker")
        return int(self.client.get("/v1/workers").json()["data"][0]["name"].rpartition(":")[2])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def service(tmp_path, tiny_bert_dir):
    env = {
        **os.environ,
        "NUNER_HOME": str(tmp_path / "home"),
        "NUNER_PORT": str(free_port()),
        "NUNER_BACKBONE": str(tiny_bert_dir),
        "NUNER_NUM_THREADS": "1",
        "NUNER_WORKER_POLL_SECONDS": "0.2",
        "NUNER_FINETUNE_MIN_EXAMPLES_PER_LABEL": "1",
        "NUNER_FINETUNE_HOLDOUT_MIN_EXAMPLES": "10000",
    }
    service = Service(env)
    yield service
    service.stop()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_api_restarted_during_a_fine_tune(service, conll_sample, stop):
    """A deploy (SIGTERM) or a crash (SIGKILL) of ``nuner serve`` mid-training: the
    job is requeued without using an attempt, the old worker leaves (no orphan
    beside the new one), and the restarted service finishes and serves it."""
    service.start()
    body = job_body(conll_sample * 10, tagger="restart", epochs=40)
    job_id = service.client.post("/v1/finetune", json=body).json()["id"]
    service.wait_for(job_id, lambda j: j["stage"] == "training" and j["progress"] > 0)
    old_worker = service.worker_pid()

    service.process.send_signal(stop)
    service.process.wait(timeout=90)
    wait_until(lambda: not alive(old_worker), 60, "the old worker to leave")

    service.start()
    job = service.wait_for(job_id, finished)
    assert job["state"] == "succeeded" and job["result"] == "restart@1", job
    assert job["attempts"] == 1  # a restart is not the job's fault
    assert service.worker_pid() != old_worker
    events = service.client.get(f"/v1/finetune/{job_id}/events").json()["data"]
    assert [e["message"] for e in events].count("requeued: the worker is shutting down") == 1
    tagger = service.client.get("/v1/taggers/restart").json()
    assert [v["version"] for v in tagger["versions"]] == ["1"]
    answer = service.client.post("/v1/extract", json={"tagger": "restart", "text": "Paris"})
    assert answer.status_code == 200 and answer.json()["tagger"] == "restart@1"


async def test_worker_killed_while_writing_a_bundle(job_settings, conll_sample):
    """SIGKILL once the bundle's files are being written: nothing is served from the
    dead attempt, the retry publishes version 1 (not 2), and no build is left."""
    settings = job_settings.model_copy(update={"finetune_holdout_min_examples": 10_000})
    bundles = settings.resolved_bundles_dir
    env = {**os.environ, **settings_env(settings)}

    async with running(create_app(settings)) as client:
        job_id = (await client.post("/v1/finetune", json=job_body(conll_sample))).json()["id"]

        def writing() -> bool:  # the bundle's staging directory has its first model file
            return any(bundles.glob(".build-job-*/.bundle.staging-*/*.onnx"))

        worker = subprocess.Popen(list(WORKER_COMMAND), env=env)
        try:
            wait_until(writing, 180, "the bundle to be written", interval=0.005)
            worker.kill()
            worker.wait()
        finally:
            worker.kill()
        assert (await client.get("/v1/taggers/demo")).status_code == 404
        assert list(bundles.glob(".build-job-*"))  # the dead attempt's half-written bundle

        retry = subprocess.Popen(list(WORKER_COMMAND), env=env)
        try:
            job = await wait_for(client, job_id, finished)
        finally:
            retry.send_signal(signal.SIGTERM)
            retry.wait(timeout=60)
        assert job["state"] == "succeeded" and job["result"] == "demo@1", job
        assert job["attempts"] == 2
        answer = await client.post("/v1/extract", json={"tagger": "demo", "text": "Paris"})
        assert answer.json()["tagger"] == "demo@1"
    assert no_build_leftovers(settings)


def restart_postgres() -> None:
    cluster = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart", "-m", "fast"],
        check=True,
    )


@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None or os.geteuid() != 0,
    reason="restarting PostgreSQL needs pg_ctlcluster and root",
)
async def test_postgres_restarts_while_jobs_are_queued(job_settings, postgres_url, conll_sample):
    """One job running and two queued behind it when PostgreSQL restarts (fast
    shutdown: every connection cut): all three succeed, in order, each once."""
    shared = job_settings.model_copy(
        update={"database_url": postgres_url, "finetune_holdout_min_examples": 10_000}
    )
    worker = subprocess.Popen(list(WORKER_COMMAND), env={**os.environ, **settings_env(shared)})
    try:
        async with running(create_app(shared)) as client:
            bodies = [job_body(conll_sample * 10, epochs=60)] + [job_body(conll_sample)] * 2
            ids = [(await client.post("/v1/finetune", json=b)).json()["id"] for b in bodies]
            await wait_for(client, ids[0], lambda j: j["stage"] == "training" and j["progress"] > 0)
            # Taken before the restart: pg_ctlcluster returns some time after the
            # server is back, and a job may finish in between.
            restart_began = datetime.now(timezone.utc)
            restart_postgres()
            assert (await client.get("/readyz")).status_code == 200
            jobs = [await wait_for(client, job_id, finished) for job_id in ids]
            assert [j["state"] for j in jobs] == ["succeeded"] * 3, jobs
            # Finishing writes to the database, so a job finished after the
            # restart began was still running when the connections were cut.
            assert datetime.fromisoformat(jobs[0]["finished_at"]) > restart_began
            assert [j["attempts"] for j in jobs] == [1, 1, 1]
            assert sorted(j["result"] for j in jobs) == ["demo@1", "demo@2", "demo@3"]
            assert worker.poll() is None  # the worker rode it out
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_a_publish_killed_before_its_insert_does_not_block_the_retry(tmp_path, make_bundle):
    """What SIGKILL between the copy into the store and the database insert leaves:
    the version's directory and a staging directory, but no row. Not served, and
    the retry publishes the same version over it."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "bundles")
    upgrade(registry.engine)
    bundle = make_bundle("conll", "1")
    shutil.copytree(bundle, registry.bundle_path("conll", "1"))
    shutil.copytree(bundle, registry.bundle_path("conll", "1").with_name(".1.staging-dead"))
    with pytest.raises(TaggerNotFound):
        registry.resolve("conll")
    assert registry.publish(bundle).ref == "conll@1"
    assert [p.name for p in registry.bundle_path("conll", "1").parent.iterdir()] == ["1"]
