"""/v1/finetune without a worker: validation, states, idempotency, cancel, paging."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from nuner.app.main import create_app
from tests.app.conftest import running

pytestmark = pytest.mark.anyio

PARIS = {
    "text": "Paris is in France.",
    "spans": [{"start": 0, "end": 5, "label": "LOC"}, {"start": 12, "end": 18, "label": "LOC"}],
}
BERLIN = {
    "text": "Berlin hosts Siemens.",
    "spans": [{"start": 0, "end": 6, "label": "LOC"}, {"start": 13, "end": 20, "label": "ORG"}],
}
SIEMENS = {"text": "Siemens builds trains.", "spans": [{"start": 0, "end": 7, "label": "ORG"}]}


def body(**changes) -> dict:
    return {"tagger": "demo", "examples": [PARIS, BERLIN, SIEMENS], **changes}


@pytest.fixture
def jobs_app(settings):
    return create_app(
        settings.model_copy(
            update={
                "finetune_max_examples": 5,
                "finetune_max_chars": 400,
                "max_label_chars": 10,
            }
        )
    )


async def test_submit_get_list_events_cancel(jobs_app):
    async with running(jobs_app) as client:
        response = await client.post("/v1/finetune", json=body(hyperparameters={"epochs": 3}))
        assert response.status_code == 202
        job = response.json()
        assert response.headers["location"] == f"/v1/finetune/{job['id']}"
        assert job["state"] == "queued" and job["progress"] == 0
        assert job["hyperparameters"]["epochs"] == 3 and job["train_examples"] == 3
        assert job["backbone"] == "default" and job["result"] is None and job["error"] is None
        fetched = (await client.get(f"/v1/finetune/{job['id']}")).json()
        assert fetched["id"] == job["id"] and fetched["state"] == "queued"
        assert fetched["created_at"] == job["created_at"] and job["created_at"].endswith("Z")
        listing = (await client.get("/v1/finetune", params={"state": "queued"})).json()
        assert [j["id"] for j in listing["data"]] == [job["id"]]
        events = (await client.get(f"/v1/finetune/{job['id']}/events")).json()["data"]
        assert events[0]["message"] == "job queued"
        cancelled = await client.post(f"/v1/finetune/{job['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        again = await client.post(f"/v1/finetune/{job['id']}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"
        assert (await client.get("/v1/finetune", params={"state": "queued"})).json()["data"] == []
        metrics = (await client.get("/metrics")).text
        assert 'nuner_finetune_jobs{state="cancelled"} 1.0' in metrics
        assert 'nuner_finetune_jobs{state="queued"} 0.0' in metrics
        assert 'nuner_finetune_workers{state="idle"} 0.0' in metrics
        missing = await client.get("/v1/finetune/ftjob-nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
        bad_state = await client.get("/v1/finetune", params={"state": "done"})
        assert bad_state.status_code == 422


async def test_paging(jobs_app):
    async with running(jobs_app) as client:
        ids = [
            (await client.post("/v1/finetune", json=body(tagger=f"t{n}"))).json()["id"]
            for n in range(3)
        ]
        first = (await client.get("/v1/finetune", params={"limit": 2})).json()
        assert [j["id"] for j in first["data"]] == ids[::-1][:2] and first["has_more"]
        after = first["data"][-1]["id"]
        rest = (await client.get("/v1/finetune", params={"limit": 2, "after": after})).json()
        assert [j["id"] for j in rest["data"]] == [ids[0]] and not rest["has_more"]


async def test_idempotency_key_returns_the_same_job(jobs_app):
    async with running(jobs_app) as client:
        headers = {"Idempotency-Key": "retry-1"}
        first = await client.post("/v1/finetune", json=body(), headers=headers)
        second = await client.post("/v1/finetune", json=body(), headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        assert second.headers["idempotent-replayed"] == "true"
        listing = (await client.get("/v1/finetune")).json()["data"]
        assert len(listing) == 1
        conflict = await client.post("/v1/finetune", json=body(tagger="x"), headers=headers)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "idempotency_key_reused"


def span(start, end, label="LOC") -> dict:
    return {"start": start, "end": end, "label": label}


INVALID = {
    "span past the end": (
        body(examples=[{"text": "Paris", "spans": [span(0, 9)]}, PARIS, BERLIN]),
        "examples[0].spans[0]: span [0, 9) is outside the text (text length 5)",
    ),
    "empty span": (
        body(examples=[PARIS, {"text": "Paris", "spans": [span(3, 3)]}, BERLIN]),
        "examples[1].spans[0]: span [3, 3) is empty",
    ),
    "negative start": (
        body(examples=[PARIS, BERLIN, {"text": "Paris", "spans": [span(-1, 2)]}]),
        "examples[2].spans[0]: span [-1, 2) is outside the text",
    ),
    "overlap": (
        body(examples=[PARIS, BERLIN, {"text": "New York", "spans": [span(0, 8), span(4, 8)]}]),
        "examples[2].spans[1]: [4, 8) overlaps spans[0] [0, 8)",
    ),
    "empty label": (
        body(examples=[PARIS, BERLIN, {"text": "Paris", "spans": [span(0, 5, "  ")]}]),
        "examples[2].spans[0]: label is empty",
    ),
    "long label": (
        body(examples=[PARIS, BERLIN, {"text": "Paris", "spans": [span(0, 5, "L" * 11)]}]),
        "examples[2].spans[0]: label is 11 characters; at most 10",
    ),
    "too few per label": (
        body(examples=[PARIS, BERLIN]),
        "examples: label 'ORG' appears in 1 example(s); each label needs at least 2",
    ),
    "too many examples": (body(examples=[PARIS, BERLIN, SIEMENS] * 2), "6 examples"),
    "too much text": (
        body(examples=[PARIS, BERLIN, {**SIEMENS, "text": "Siemens" + "x" * 400}]),
        "characters of text; at most 400",
    ),
    "dev label unknown": (
        body(dev=[{"text": "Bob", "spans": [span(0, 3, "PER")]}]),
        "dev[0].spans[0]: label 'PER' does not occur in the training examples",
    ),
    "nothing to learn": (
        body(examples=[{"text": "nothing here", "spans": []}]),
        "examples: no example has a span",
    ),
}

INVALID_TYPES = {
    "float start": (
        body(examples=[PARIS, {"text": "Paris", "spans": [span(0.5, 5)]}]),
        "body.examples.1.spans.0.start",
    ),
    "string end": (
        body(examples=[PARIS, {"text": "Paris", "spans": [span(0, "5")]}]),
        "body.examples.1.spans.0.end",
    ),
    "path tricks": (body(tagger="../../etc"), "invalid tagger name '../../etc'"),
    "slash": (body(tagger="a/b"), "invalid tagger name"),
    "learning rate range": (
        body(hyperparameters={"learning_rate": 1.0}),
        "body.hyperparameters.learning_rate",
    ),
    "unknown hyperparameter": (body(hyperparameters={"epoch": 3}), "body.hyperparameters.epoch"),
    "no examples": (body(examples=[]), "body.examples"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_validation_names_the_example(jobs_app, case):
    request, expected = INVALID[case]
    async with running(jobs_app) as client:
        response = await client.post("/v1/finetune", json=request)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_examples"
        assert expected in error["message"]
        assert (await client.get("/v1/finetune")).json()["data"] == []  # nothing queued


@pytest.mark.parametrize("case", sorted(INVALID_TYPES))
async def test_malformed_requests_are_422(jobs_app, case):
    request, expected = INVALID_TYPES[case]
    async with running(jobs_app) as client:
        response = await client.post("/v1/finetune", json=request)
        assert response.status_code == 422, response.text
        assert expected in response.json()["error"]["message"]


async def test_all_problems_are_listed(jobs_app):
    bad = {"text": "Paris", "spans": [span(0, 9), span(2, 2)]}
    async with running(jobs_app) as client:
        response = await client.post("/v1/finetune", json=body(examples=[PARIS, BERLIN, bad]))
        locations = [d["location"] for d in response.json()["error"]["details"]]
        assert locations[:2] == ["examples[2].spans[0]", "examples[2].spans[1]"]


async def test_a_job_the_queue_refuses_is_not_left_behind(jobs_app):
    class BrokenQueue:
        def enqueue(self, job):
            raise ConnectionError("connection refused")

        def close(self):
            pass

    async with running(jobs_app) as client:
        jobs_app.state.job_queue = BrokenQueue()
        headers = {"Idempotency-Key": "k"}
        response = await client.post("/v1/finetune", json=body(), headers=headers)
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.json()["error"]["code"] == "queue_unavailable"
        assert (await client.get("/v1/finetune")).json()["data"] == []


async def test_method_not_allowed_lists_every_method_of_the_path(jobs_app):
    async with running(jobs_app) as client:
        response = await client.request("OPTIONS", "/v1/finetune")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        response = await client.request("PUT", "/v1/taggers/x")
        assert response.headers["allow"] == "DELETE, GET"


async def test_hyperparameters_are_strict(jobs_app):
    async with running(jobs_app) as client:
        response = await client.post("/v1/finetune", json=body(hyperparameters={"seed": False}))
        assert response.status_code == 422
        assert "body.hyperparameters.seed" in response.json()["error"]["message"]


async def test_an_unreachable_database_is_503_not_500(jobs_app, monkeypatch):
    """What a client sees while PostgreSQL restarts: retry later, not a server bug."""
    async with running(jobs_app) as client:

        def down(*_args, **_kwargs):
            raise OperationalError("SELECT", {}, Exception("the database system is shutting down"))

        monkeypatch.setattr(jobs_app.state.jobs, "get", down)
        response = await client.get("/v1/finetune/ftjob-0")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "store_unavailable"
