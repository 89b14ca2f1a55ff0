"""Fine-tune jobs end to end: a real worker process, a real (tiny) fine-tune,
export and publish, and the API serving the new version. Both deployment modes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nuner.app.jobs.supervisor import WORKER_COMMAND, settings_env
from nuner.app.main import create_app
from tests.app.conftest import finished, job_body, no_build_leftovers, running, wait_for

pytestmark = pytest.mark.anyio


async def test_queued_job_survives_a_restart_and_is_served(job_settings, conll_sample):
    job_settings = job_settings.model_copy(
        update={"finetune_backbones": {"broken": "/no/such/backbone"}}
    )
    without_worker = create_app(job_settings)
    async with running(without_worker) as client:
        submitted = (await client.post("/v1/finetune", json=job_body(conll_sample))).json()
    assert submitted["state"] == "queued"

    with_worker = create_app(job_settings.model_copy(update={"embedded_worker": True}))
    async with running(with_worker) as client:
        job = await wait_for(client, submitted["id"], finished)
        assert job["state"] == "succeeded", job["error"]
        assert job["result"] == "demo@1" and job["progress"] == 1.0
        assert job["metrics"]["epochs_run"] == 8 and job["metrics"]["device"] == "cpu"
        events = [
            e["message"]
            for e in (await client.get(f"/v1/finetune/{job['id']}/events")).json()["data"]
        ]
        assert any(m.startswith("epoch 8/8: loss") for m in events)
        assert {"exporting", "publishing", "job succeeded"} <= set(events)
        workers = (await client.get("/v1/workers")).json()["data"]
        assert [(w["mode"], w["device"]) for w in workers] == [("embedded", "cpu")]
        assert workers[0]["name"].endswith(f":{with_worker.state.worker.pid}")

        text = conll_sample[0].text
        answer = await client.post("/v1/extract", json={"tagger": "demo", "text": text})
        assert answer.status_code == 200 and answer.json()["tagger"] == "demo@1"

        arbitrary = {**job_body(conll_sample), "backbone": "/no/such/backbone"}
        refused = await client.post("/v1/finetune", json=arbitrary)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_backbone"
        assert refused.json()["error"]["details"]["allowed"] == ["broken", "default"]
        listed = (await client.get("/v1/finetune/backbones")).json()
        assert listed == {"backbones": ["broken", "default"]}
        broken = {**job_body(conll_sample), "backbone": "broken"}  # listed, but not there
        failed_id = (await client.post("/v1/finetune", json=broken)).json()["id"]
        failed = await wait_for(client, failed_id, finished)
        assert failed["state"] == "failed" and failed["error"]["code"] == "invalid_backbone"
        assert "/no/such/backbone" in failed["error"]["message"]
        versions = (await client.get("/v1/taggers/demo")).json()["versions"]
        assert [v["version"] for v in versions] == ["1"]  # the failed job published nothing


async def test_cancel_a_running_job_publishes_nothing(job_settings, conll_sample):
    settings = job_settings.model_copy(
        update={"embedded_worker": True, "finetune_holdout_min_examples": 10_000}
    )
    async with running(create_app(settings)) as client:
        body = job_body(conll_sample * 20, tagger="slow", epochs=100)
        job_id = (await client.post("/v1/finetune", json=body)).json()["id"]
        await wait_for(client, job_id, lambda j: j["stage"] == "training" and j["progress"] > 0)
        response = await client.post(f"/v1/finetune/{job_id}/cancel")
        assert response.json()["cancel_requested"]
        job = await wait_for(client, job_id, finished, timeout=60)
        assert job["state"] == "cancelled" and job["result"] is None
        assert job["progress"] < 0.85  # stopped during training, not after 100 epochs
        assert (await client.get("/v1/taggers/slow")).status_code == 404
    assert no_build_leftovers(settings)


async def test_a_worker_crash_leaves_the_api_up_and_the_job_is_retried(job_settings, conll_sample):
    settings = job_settings.model_copy(
        update={
            "embedded_worker": True,
            "job_max_attempts": 2,
            "finetune_holdout_min_examples": 10_000,
        }
    )
    app = create_app(settings)
    async with running(app) as client:
        body = job_body(conll_sample * 10, tagger="crash", epochs=40)
        job_id = (await client.post("/v1/finetune", json=body)).json()["id"]
        await wait_for(client, job_id, lambda j: j["stage"] == "training" and j["progress"] > 0)
        supervisor = app.state.worker
        first_pid = supervisor.pid
        os.kill(first_pid, signal.SIGKILL)  # what an out-of-memory kill looks like
        assert (await client.get("/healthz")).status_code == 200
        job = await wait_for(client, job_id, finished)
        assert job["state"] == "succeeded" and job["attempts"] == 2, job
        assert supervisor.pid != first_pid and supervisor.restarts == 1
        assert "nuner_embedded_worker_restarts_total 1.0" in (await client.get("/metrics")).text
        events = (await client.get(f"/v1/finetune/{job_id}/events")).json()["data"]
        assert any(e["message"].startswith("requeued: the worker running it") for e in events)
        answer = await client.post("/v1/extract", json={"tagger": "crash", "text": "Paris"})
        assert answer.json()["tagger"] == "crash@1"


async def test_scale_out_two_replicas_one_procrastinate_worker(
    job_settings, postgres_url, conll_sample
):
    shared = job_settings.model_copy(update={"database_url": postgres_url})
    replica_a, replica_b = create_app(shared), create_app(shared)
    nuner_cli = str(Path(sys.executable).with_name("nuner"))  # as the chart runs it
    worker = subprocess.Popen([nuner_cli, "worker"], env={**os.environ, **settings_env(shared)})
    try:
        async with running(replica_a) as a, running(replica_b) as b:
            for expected in ("demo@1", "demo@2"):
                job_id = (await a.post("/v1/finetune", json=job_body(conll_sample))).json()["id"]
                job = await wait_for(b, job_id, finished)
                assert job["state"] == "succeeded" and job["result"] == expected, job
                answer = await b.post("/v1/extract", json={"tagger": "demo", "text": "Paris"})
                assert answer.json()["tagger"] == expected
        assert worker.poll() is None  # the worker is still up, waiting for more
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


async def test_sigterm_requeues_the_running_job_without_using_an_attempt(
    job_settings, conll_sample
):
    settings = job_settings.model_copy(update={"finetune_holdout_min_examples": 10_000})
    worker = subprocess.Popen(
        list(WORKER_COMMAND),
        env={**os.environ, **settings_env(settings)},
    )
    try:
        async with running(create_app(settings)) as client:
            body = job_body(conll_sample * 20, tagger="deploy", epochs=100)
            job_id = (await client.post("/v1/finetune", json=body)).json()["id"]
            await wait_for(client, job_id, lambda j: j["stage"] == "training" and j["progress"] > 0)
            worker.send_signal(signal.SIGTERM)  # what a rolling deploy does
            assert worker.wait(timeout=60) == 0
            job = (await client.get(f"/v1/finetune/{job_id}")).json()
            assert job["state"] == "queued" and job["attempts"] == 0
            events = (await client.get(f"/v1/finetune/{job_id}/events")).json()["data"]
            assert events[-1]["message"] == "requeued: the worker is shutting down"
            assert (await client.get("/v1/workers")).json()["data"] == []
    finally:
        worker.kill()
