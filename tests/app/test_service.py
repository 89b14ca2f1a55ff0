"""The extraction service, end to end through its ASGI app."""

from __future__ import annotations

import asyncio
import json

import pytest

from nuner.app.main import create_app
from nuner.core.datasets import read_jsonl
from nuner.core.onnx_tagger import OnnxTagger
from tests.app.conftest import running
from tests.conftest import dataset_path

pytestmark = pytest.mark.anyio


def assert_offsets(text: str, entities: list[dict]) -> None:
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert 0 <= entity["start"] < entity["end"] <= len(text)


async def test_extract_one_text_and_a_batch(app):
    text = "Peter  Blackburn\tvisited Zürich 😀 and 東京 ."
    async with running(app) as client:
        single = await client.post("/v1/extract", json={"tagger": "conll", "text": text})
        batch = await client.post(
            "/v1/extract", json={"tagger": "conll@1", "texts": [text, "", "   "]}
        )
    assert single.status_code == 200 and batch.status_code == 200
    assert single.json()["tagger"] == "conll@1" and batch.json()["tagger"] == "conll@1"
    assert_offsets(text, single.json()["entities"])
    results = batch.json()["results"]
    assert [len(r["entities"]) for r in results][1:] == [0, 0]
    assert results[0]["entities"] == single.json()["entities"]


@pytest.mark.parametrize(
    "text",
    [
        "😀😀😀",
        "👩\u200d👩\u200d👧\u200d👦🇫🇷",
        "\x00\x01\x1f\x7f",
        "Paris\x00Berlin\u200b\u202eLondon",
        "e\u0301" * 50,
        "\n\t\r" * 100,
    ],
    ids=["emoji", "emoji-sequences", "control", "nul-zero-width-rtl", "combining", "whitespace"],
)
async def test_odd_but_valid_texts_are_answered(app, text):
    """Valid strings a client may well send (a tweet of emoji, a scraped page with
    control bytes): 200, offsets still into the text as sent, and no harm done."""
    async with running(app) as client:
        response = await client.post("/v1/extract", json={"tagger": "conll", "text": text})
        assert response.status_code == 200, response.text
        assert_offsets(text, response.json()["entities"])
        healthy = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert healthy.status_code == 200


async def test_threshold_filters_by_score(app):
    text = "Peter Blackburn went to Paris with Maria ."
    async with running(app) as client:
        everything = await client.post("/v1/extract", json={"tagger": "conll", "text": text})
        confident = await client.post(
            "/v1/extract", json={"tagger": "conll", "text": text, "threshold": 0.99}
        )
    scores = [e["score"] for e in everything.json()["entities"]]
    kept = [e["score"] for e in confident.json()["entities"]]
    assert kept == [s for s in scores if s >= 0.99]


async def test_long_text_is_windowed_with_global_offsets(app, make_bundle):
    sentences = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[:60]]
    text = "\n".join(sentences)  # far beyond the 32-token windows of the test tagger
    async with running(app) as client:
        response = await client.post("/v1/extract", json={"tagger": "conll", "text": text})
    entities = response.json()["entities"]
    assert_offsets(text, entities)
    assert max(e["end"] for e in entities) > len(text) // 2  # not truncated
    direct = OnnxTagger(make_bundle("conll", "1"), variant="fp32", threads=1)([text])[0]
    assert [(e["start"], e["end"], e["label"]) for e in entities] == [
        (e.start, e.end, e.label) for e in direct
    ]


async def test_concurrent_requests_are_batched_and_answered_in_order(app, make_bundle):
    texts = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[100:160]]
    direct = OnnxTagger(make_bundle("conll", "1"), variant="fp32", threads=1)(texts)
    async with running(app) as client:
        responses = await asyncio.gather(
            *[client.post("/v1/extract", json={"tagger": "conll", "text": t}) for t in texts]
        )
        metrics = (await client.get("/metrics")).text
    for _text, response, expected in zip(texts, responses, direct):
        assert response.status_code == 200
        got = [(e["start"], e["end"], e["label"]) for e in response.json()["entities"]]
        assert got == [(e.start, e.end, e.label) for e in expected]
    batches = _metric(metrics, "nuner_batch_texts_count")
    assert _metric(metrics, "nuner_batch_texts_sum") == len(texts)
    assert batches < len(texts) / 2, "concurrent requests should share batches"


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"tagger": "nope", "text": "a"}, 404, "tagger_not_found"),
        ({"tagger": "conll@9", "text": "a"}, 404, "tagger_not_found"),
        ({"tagger": "conll"}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "a", "texts": ["b"]}, 422, "invalid_request"),
        ({"tagger": "conll", "text": 5}, 422, "invalid_request"),
        ({"tagger": "conll", "texts": "not a list"}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "a", "threshold": 2}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "a", "threshold": False}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "a", "threshold": "0.5"}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "a", "unknown": 1}, 422, "invalid_request"),
        ({"tagger": "conll", "text": "x" * 20_001}, 413, "text_too_long"),
        ({"tagger": "conll", "texts": ["a"] * 65}, 422, "too_many_texts"),
        ([1, 2], 422, "invalid_request"),
    ],
)
async def test_client_mistakes_get_clear_4xx_envelopes(app, body, status, code):
    async with running(app) as client:
        response = await client.post("/v1/extract", json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
        assert response.json()["request_id"] == response.headers["x-request-id"]
        healthy = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert healthy.status_code == 200


@pytest.mark.parametrize(
    "raw, status, code",
    [
        (b"{not json", 422, "invalid_request"),
        (b'{"tagger": "conll", "text": "\\ud800"}', 422, "invalid_text"),
        (b'{"tagger": "conll", "text": "\xff\xfe"}', 400, "invalid_body"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_body"),
    ],
)
async def test_malformed_bodies(app, raw, status, code):
    async with running(app) as client:
        response = await client.post(
            "/v1/extract", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == status and response.json()["error"]["code"] == code


async def test_body_too_large_is_413(app):
    async with running(app) as client:
        response = await client.post(
            "/v1/extract", content=b"x" * 300_000, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        async def chunks():  # no Content-Length: limited while streaming
            for _ in range(30):
                yield b"x" * 10_000

        streamed = await client.post(
            "/v1/extract", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


async def test_full_queue_answers_503_with_retry_after(settings, make_bundle):
    app = create_app(settings.model_copy(update={"queue_max_texts": 4}))
    app.state.registry.publish(make_bundle("conll", "1"))
    async with running(app) as client:
        response = await client.post("/v1/extract", json={"tagger": "conll", "texts": ["a"] * 5})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
        burst = await asyncio.gather(
            *[
                client.post("/v1/extract", json={"tagger": "conll", "texts": ["Paris is big"] * 3})
                for _ in range(6)
            ]
        )
    statuses = sorted(r.status_code for r in burst)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses


async def test_registry_routes(app, make_bundle):
    async with running(app) as client:
        app.state.registry.publish(make_bundle("conll", "2"))
        listing = (await client.get("/v1/taggers")).json()["taggers"]
        assert listing == [
            {
                "name": "conll",
                "latest": "conll@2",
                "versions": ["1", "2"],
                "labels": ["LOC", "MISC", "ORG", "PER"],
                "encoder": None,  # a fully fine-tuned tagger carries its own
            }
        ]
        detail = (await client.get("/v1/taggers/conll")).json()
        assert detail["aliases"] == {"conll": "conll@2"}
        assert [v["version"] for v in detail["versions"]] == ["1", "2"]
        assert detail["versions"][0]["variants"] == ["fp32", "int8"]
        assert "token_label_agreement" in detail["versions"][0]["verification"]["int8"]
        assert (await client.get("/v1/taggers/nope")).status_code == 404

        assert (await client.delete("/v1/taggers/conll/versions/2")).status_code == 204
        answer = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert answer.json()["tagger"] == "conll@1"  # alias moved back
        assert (await client.delete("/v1/taggers/conll/versions/2")).status_code == 404
        assert (await client.delete("/v1/taggers/conll")).status_code == 204
        gone = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert gone.status_code == 404
        assert (await client.get("/v1/taggers")).json() == {"taggers": []}
        assert not list(app.state.registry.bundles_dir.glob("conll/*"))


async def test_new_version_is_served_by_another_replica_without_restart(settings, make_bundle):
    replica_a, replica_b = create_app(settings), create_app(settings)
    replica_a.state.registry.publish(make_bundle("conll", "1"))
    async with running(replica_a), running(replica_b) as b:
        first = await b.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert first.json()["tagger"] == "conll@1"
        replica_a.state.registry.publish(make_bundle("conll", "2"))
        second = await b.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert second.json()["tagger"] == "conll@2"
        pinned = await b.post("/v1/extract", json={"tagger": "conll@1", "text": "Paris"})
        assert pinned.json()["tagger"] == "conll@1"


async def test_lru_keeps_at_most_the_configured_number_loaded(settings, make_bundle):
    app = create_app(settings.model_copy(update={"loaded_taggers": 1}))
    for version in ("1", "2"):
        app.state.registry.publish(make_bundle("conll", version))
    async with running(app) as client:
        for reference in ("conll@1", "conll@2", "conll@1"):
            response = await client.post("/v1/extract", json={"tagger": reference, "text": "a"})
            assert response.status_code == 200
        metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "nuner_model_loads_total") == 3
    assert _metric(metrics, "nuner_loaded_taggers") == 1


async def test_lru_evicts_the_least_recently_used_not_the_first_loaded(settings, make_bundle):
    app = create_app(settings.model_copy(update={"loaded_taggers": 2}))
    for version in ("1", "2", "3"):
        app.state.registry.publish(make_bundle("conll", version))
    async with running(app) as client:
        # 1 and 2 load; 1 is used again; 3 loads and must evict 2, so 1 is still loaded
        for reference in ("conll@1", "conll@2", "conll@1", "conll@3", "conll@1"):
            response = await client.post("/v1/extract", json={"tagger": reference, "text": "a"})
            assert response.status_code == 200
        metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "nuner_model_loads_total") == 3
    assert _metric(metrics, "nuner_loaded_taggers") == 2


async def test_health_readiness_and_metrics(app, settings):
    async with running(app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        await client.post("/v1/extract", json={"tagger": "conll", "text": "Peter in Paris"})
        await client.post("/v1/extract", json={"tagger": "nope", "text": "x"})
        metrics = (await client.get("/metrics")).text
    for name in (
        "nuner_request_seconds_bucket",
        "nuner_batch_texts_bucket",
        "nuner_queue_texts",
        "nuner_tokens_total",
        "nuner_inference_seconds_bucket",
        "nuner_model_load_seconds_bucket",
        "nuner_model_loads_total",
        "nuner_errors_total",
    ):
        assert name in metrics, name
    assert 'route="/v1/extract"' in metrics and 'status="404"' in metrics
    assert 'nuner_errors_total{code="tagger_not_found"} 1.0' in metrics
    not_started = create_app(settings)
    import httpx

    transport = httpx.ASGITransport(app=not_started)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"


async def test_openapi_documents_routes_and_examples(app):
    async with running(app) as client:
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200
    for path in (
        "/v1/extract",
        "/v1/taggers",
        "/v1/taggers/{name}",
        "/v1/taggers/{name}/versions/{version}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in schema["paths"], path
    assert "examples" in json.dumps(schema["components"]["schemas"]["ExtractRequest"])
