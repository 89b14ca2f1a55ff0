"""Zero-shot extraction over HTTP: labels at request time, encoders listed,
inspected and switched without a restart, label vectors cached and bounded,
every bad input a 4xx with a code."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from nuner.app.main import create_app
from nuner.core.datasets import read_jsonl
from nuner.core.onnx_encoder import OnnxEncoder
from tests.app.conftest import running
from tests.app.test_service import _metric, assert_offsets
from tests.conftest import dataset_path

pytestmark = pytest.mark.anyio
LABELS = ["person", "location", "organization"]
TEXT = "Angela Merkel met Emmanuel Macron in Paris 😀 and 東京   today ."


@pytest.fixture
def zero_shot_app(settings, make_encoder):
    application = create_app(settings)
    application.state.registry.encoders.publish(make_encoder("starter", "1"))
    return application


def triples(entities) -> list[tuple]:
    return [(e["start"], e["end"], e["label"]) for e in entities]


def direct(make_encoder, texts, labels, threshold, multi_label=False) -> list[list[tuple]]:
    encoder = OnnxEncoder(make_encoder("starter", "1"), variant="fp32", threads=1)
    found = encoder.extract(texts, labels, threshold, multi_label)
    return [[(e.start, e.end, e.label) for e in per_text] for per_text in found]


async def test_labels_in_place_of_a_tagger(zero_shot_app, make_encoder):
    async with running(zero_shot_app) as client:
        response = await client.post("/v1/extract", json={"labels": LABELS, "text": TEXT})
        low = await client.post(
            "/v1/extract", json={"labels": LABELS, "text": TEXT, "threshold": 0.0}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["encoder"] == "starter@1" and "tagger" not in body
    assert_offsets(TEXT, body["entities"])
    assert triples(body["entities"]) == direct(make_encoder, [TEXT], LABELS, 0.5)[0]
    # threshold 0: every word with content gets a label, runs merge, offsets hold
    everything = low.json()["entities"]
    assert everything and {e["label"] for e in everything} <= set(LABELS)
    assert_offsets(TEXT, everything)
    assert "   " not in "".join(e["text"] for e in everything)  # runs of spaces never join


async def test_descriptions_are_read_in_place_of_names(zero_shot_app, make_encoder):
    described = {"person": "name of a politician", "location": "a city or a country"}
    async with running(zero_shot_app) as client:
        response = await client.post(
            "/v1/extract", json={"labels": described, "text": TEXT, "threshold": 0.0}
        )
    assert response.status_code == 200
    entities = response.json()["entities"]
    assert {e["label"] for e in entities} <= set(described)  # entities carry the names
    encoder = OnnxEncoder(make_encoder("starter", "1"), variant="fp32", threads=1)
    encoded, vectors = encoder.encode_texts([TEXT])[0]
    from nuner.core.zero_shot import decode_zero_shot

    scores = encoder.score(vectors, encoder.label_vectors(list(described.values())))
    expected = decode_zero_shot(encoded, scores, list(described), 0.0)
    assert triples(entities) == [(e.start, e.end, e.label) for e in expected]


async def test_multi_label_batches_and_long_texts(zero_shot_app, make_encoder):
    sentences = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[:40]]
    long_text = "\n".join(sentences)  # beyond one window of the tiny encoder
    texts = [long_text, "", "   ", TEXT]
    async with running(zero_shot_app) as client:
        response = await client.post(
            "/v1/extract",
            json={"labels": LABELS, "texts": texts, "threshold": 0.3, "multi_label": True},
        )
    assert response.status_code == 200
    results = [r["entities"] for r in response.json()["results"]]
    assert [triples(r) for r in results] == direct(make_encoder, texts, LABELS, 0.3, True)
    assert results[1] == [] and results[2] == []
    assert max(e["end"] for e in results[0]) > len(long_text) // 2  # not truncated
    for text, entities in zip(texts, results, strict=True):
        assert_offsets(text, entities)


async def test_requests_with_different_labels_share_batches(zero_shot_app, make_encoder):
    texts = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[200:240]]
    label_sets = [LABELS, ["city", "company"], ["person"], ["date", "country", "team"]]
    async with running(zero_shot_app) as client:
        responses = await asyncio.gather(
            *[
                client.post(
                    "/v1/extract",
                    json={"labels": label_sets[i % 4], "text": t, "threshold": 0.4},
                )
                for i, t in enumerate(texts)
            ]
        )
        metrics = (await client.get("/metrics")).text
    for i, (text, response) in enumerate(zip(texts, responses, strict=True)):
        assert response.status_code == 200
        expected = direct(make_encoder, [text], label_sets[i % 4], 0.4)[0]
        assert triples(response.json()["entities"]) == expected
    assert _metric(metrics, "nuner_batch_texts_count") < len(texts) / 2
    # 8 distinct labels, each computed at most once per inference stream (two
    # batches running at once may both miss one); every other lookup is a hit
    misses = _metric(metrics, 'nuner_label_vectors_total{result="miss"}')
    hits = _metric(metrics, 'nuner_label_vectors_total{result="hit"}')
    assert 8 <= misses <= 8 * zero_shot_app.state.settings.inference_streams
    assert hits + misses == sum(len(label_sets[i % 4]) for i in range(len(texts)))


async def test_label_vectors_are_bounded(settings, make_encoder):
    app = create_app(settings.model_copy(update={"label_cache_size": 5}))
    app.state.registry.encoders.publish(make_encoder("starter", "1"))
    async with running(app) as client:
        for batch in range(6):
            labels = [f"kind {batch} {i}" for i in range(4)]
            response = await client.post("/v1/extract", json={"labels": labels, "text": TEXT})
            assert response.status_code == 200
            assert len(app.state.label_vectors) <= 5
            assert app.state.label_vectors.rows_held <= 10
        again = await client.post("/v1/extract", json={"labels": ["kind 5 3"], "text": TEXT})
        metrics = (await client.get("/metrics")).text
    assert again.status_code == 200
    assert _metric(metrics, 'nuner_label_vectors_total{result="miss"}') == 24
    assert _metric(metrics, 'nuner_label_vectors_total{result="hit"}') == 1  # most recent kept


@pytest.mark.parametrize(
    "body, status, code, problems",
    [
        ({"text": "a"}, 422, "invalid_request", 1),
        ({"tagger": "conll", "labels": ["a"], "text": "a"}, 422, "invalid_request", 1),
        ({"labels": ["a"], "text": "a", "threshold": 2}, 422, "invalid_request", 1),
        ({"labels": [], "text": "a"}, 422, "invalid_labels", 1),
        ({"labels": {}, "text": "a"}, 422, "invalid_labels", 1),
        ({"labels": ["person", " ", "person", "x" * 65], "text": "a"}, 422, "invalid_labels", 3),
        ({"labels": {"drug": "", "dose": "y" * 513}, "text": "a"}, 422, "invalid_labels", 2),
        ({"labels": [f"l{i}" for i in range(129)], "text": "a"}, 422, "invalid_labels", 1),
        ({"labels": ["a"], "text": "a", "encoder": "nope"}, 404, "encoder_not_found", None),
        ({"labels": ["a"], "text": "a", "encoder": "starter@9"}, 404, "encoder_not_found", None),
    ],
    ids=[
        "neither",
        "both",
        "threshold",
        "empty-list",
        "empty-map",
        "blank-duplicate-long",
        "bad-descriptions",
        "too-many",
        "unknown-encoder",
        "unknown-version",
    ],
)
async def test_bad_zero_shot_requests_are_named(zero_shot_app, body, status, code, problems):
    async with running(zero_shot_app) as client:
        response = await client.post("/v1/extract", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if problems is not None:
        assert len(error["details"]) == problems, error["details"]


async def test_no_encoder_at_all_says_how_to_get_one(settings):
    async with running(create_app(settings)) as client:
        response = await client.post("/v1/extract", json={"labels": ["person"], "text": "Ann"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_default_encoder"
    assert "publish-encoder" in response.json()["error"]["message"]


async def test_encoders_are_listed_inspected_and_switched_without_restart(
    zero_shot_app, make_encoder, tmp_path
):
    registry = zero_shot_app.state.registry
    # a second encoder whose manifest says it was pre-trained on non-commercial data
    other = tmp_path / "other"
    shutil.copytree(make_encoder("other", "1"), other)
    async with running(zero_shot_app) as client:
        listed = (await client.get("/v1/encoders")).json()
        registry.encoders.publish(other)  # published while serving (e.g. by the CLI)
        before = await client.post("/v1/extract", json={"labels": LABELS, "text": TEXT})
        switched = await client.put("/v1/encoders/default", json={"encoder": "other"})
        after = await client.post("/v1/extract", json={"labels": LABELS, "text": TEXT})
        pinned = await client.post(
            "/v1/extract", json={"labels": LABELS, "text": TEXT, "encoder": "starter@1"}
        )
        detail = (await client.get("/v1/encoders/other")).json()
        unknown = await client.get("/v1/encoders/nope")
        bad_default = await client.put("/v1/encoders/default", json={"encoder": "nope"})
        refused = await client.delete("/v1/encoders/other")
    assert listed["default"] == "starter@1" and listed["default_reference"] == "starter"
    assert [e["name"] for e in listed["encoders"]] == ["starter"]
    assert before.json()["encoder"] == "starter@1"  # the first published stays the default
    assert switched.status_code == 200 and switched.json()["default"] == "other@1"
    assert after.json()["encoder"] == "other@1" and pinned.json()["encoder"] == "starter@1"
    assert detail["is_default"] is True
    version = detail["versions"][0]
    assert version["licences"] == ["CC BY-NC 4.0", "MIT"] and version["non_commercial"] is True
    assert version["pretraining"]["data"] and version["verification"]["fp32"]["passed"] is True
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "encoder_not_found"
    assert bad_default.status_code == 404
    assert refused.status_code == 405  # encoders are deleted by operators, not over HTTP


async def test_a_pinned_default_cannot_be_switched(settings, make_encoder):
    app = create_app(settings.model_copy(update={"default_encoder": "starter@1"}))
    app.state.registry.encoders.publish(make_encoder("starter", "1"))
    async with running(app) as client:
        response = await client.put("/v1/encoders/default", json={"encoder": "starter"})
        extracted = await client.post("/v1/extract", json={"labels": ["person"], "text": TEXT})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "default_encoder_pinned"
    assert extracted.json()["encoder"] == "starter@1"


def test_the_default_encoder_version_cannot_be_deleted(zero_shot_app, make_encoder):
    from nuner.app.encoder_registry import EncoderInUse

    encoders = zero_shot_app.state.registry.encoders
    encoders.publish(make_encoder("other", "1"))
    with pytest.raises(EncoderInUse):
        encoders.delete_version("starter", "1")
    encoders.set_default("other@1")
    encoders.delete_version("starter", "1")
    assert encoders.names() == ["other"]
    assert not (encoders.root / "starter" / "1").exists()


def test_a_tampered_encoder_bundle_is_never_published(zero_shot_app, make_encoder, tmp_path):
    from nuner.core.bundle import BundleError

    broken = tmp_path / "broken"
    shutil.copytree(make_encoder("broken", "1"), broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / manifest["variants"]["fp32"]["text"]).write_bytes(b"half-written")
    with pytest.raises(BundleError):
        zero_shot_app.state.registry.encoders.publish(broken)
    assert zero_shot_app.state.registry.encoders.names() == ["starter"]
    assert not (zero_shot_app.state.registry.encoders.root / "broken" / "1").exists()


async def test_zero_shot_requests_get_the_same_backpressure(settings, make_encoder):
    app = create_app(settings.model_copy(update={"queue_max_texts": 2}))
    app.state.registry.encoders.publish(make_encoder("starter", "1"))
    async with running(app) as client:
        response = await client.post("/v1/extract", json={"labels": LABELS, "texts": ["a"] * 3})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"
