"""Head taggers over HTTP: served like taggers, several per request sharing one
encoder pass, pinned to their encoder version, made by fine-tune jobs in seconds."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nuner.app.head_builder import HeadBuild, build_and_publish_head
from nuner.app.main import create_app
from nuner.core.datasets import example_to_dict
from nuner.core.head import HeadTagger
from nuner.core.hyperparameters import HeadFitConfig
from nuner.core.onnx_encoder import OnnxEncoder
from tests.app.conftest import NUNER, finished, job_body, running, wait_for
from tests.app.test_service import _metric

pytestmark = pytest.mark.anyio
TEXTS = ["Angela Merkel met Emmanuel Macron in Paris 😀 and 東京   today .", "EU rejects it ."]
LABELS = ["person", "location"]


def publish_head(app, name: str, train, encoder_ref: str = "starter@1", **fit) -> str:
    registry = app.state.registry
    version = registry.encoders.resolve(encoder_ref)
    encoder = OnnxEncoder(version.path, variant="fp32", threads=1)
    config = HeadFitConfig(threshold=0.3, **fit)
    build = HeadBuild(name, train, config, descriptions={"PER": "person"})
    return build_and_publish_head(registry, build, version, encoder).ref


@pytest.fixture
def head_app(settings, make_bundle, make_encoder, conll_sample):
    application = create_app(settings.model_copy(update={"max_request_taggers": 4}))
    registry = application.state.registry
    registry.publish(make_bundle("conll", "1"))  # a fully fine-tuned tagger beside the heads
    registry.encoders.publish(make_encoder("starter", "1"))
    publish_head(application, "people", conll_sample)
    publish_head(application, "places", conll_sample, warm_start=False)
    return application


def triples(entities) -> list[tuple]:
    return [(e["start"], e["end"], e["label"]) for e in entities]


async def test_a_head_tagger_answers_like_its_head(head_app):
    version = head_app.state.registry.resolve("people")
    head = HeadTagger(version.path)
    encoder = OnnxEncoder(head_app.state.registry.encoders.resolve("starter@1").path, "fp32")
    expected = head.decode(encoder.encode_texts(TEXTS), head.manifest.threshold)
    async with running(head_app) as client:
        batch = await client.post("/v1/extract", json={"tagger": "people", "texts": TEXTS})
        listed = (await client.get("/v1/taggers")).json()["taggers"]
    assert batch.status_code == 200, batch.text
    assert batch.json()["tagger"] == "people@1"
    got = [triples(r["entities"]) for r in batch.json()["results"]]
    assert got == [[(e.start, e.end, e.label) for e in per_text] for per_text in expected]
    assert {t["name"]: t["encoder"] for t in listed} == {
        "conll": None,
        "people": "starter@1",
        "places": "starter@1",
    }


async def test_many_taggers_share_one_encoder_pass(head_app):
    sources = ["people", "conll", "places@1"]
    async with running(head_app) as client:
        singles = [
            (await client.post("/v1/extract", json={"tagger": t, "texts": TEXTS})).json()
            for t in sources
        ]
        zero_shot = await client.post("/v1/extract", json={"labels": LABELS, "texts": TEXTS})
        before = (await client.get("/metrics")).text
        many = await client.post(
            "/v1/extract", json={"taggers": sources, "labels": LABELS, "texts": TEXTS}
        )
        after = (await client.get("/metrics")).text
    assert many.status_code == 200, many.text
    answers = many.json()["answers"]
    assert [a.get("tagger") or a.get("encoder") for a in answers] == [
        "people@1",
        "conll@1",
        "places@1",
        "starter@1",
    ]
    for answer, single in zip(answers, [*singles, zero_shot.json()], strict=True):
        assert answer["results"] == single["results"]
    lane = 'nuner_texts_total{tagger="encoder:starter@1"}'
    assert _metric(after, lane) - _metric(before, lane) == len(TEXTS)  # one pass, three sources
    full = 'nuner_texts_total{tagger="conll@1"}'
    assert _metric(after, full) - _metric(before, full) == len(TEXTS)


@pytest.mark.parametrize(
    "body, code",
    [
        ({"taggers": ["people", "places", "conll", "people@1", "places@1"]}, "too_many_taggers"),
        ({"taggers": ["people", "people"]}, "invalid_request"),
        ({"taggers": []}, "invalid_request"),
        ({"tagger": "people", "labels": LABELS}, "invalid_request"),
        ({"tagger": "people", "encoder": "starter"}, "invalid_request"),
    ],
)
async def test_bad_multi_tagger_requests_are_4xx(head_app, body, code):
    async with running(head_app) as client:
        response = await client.post("/v1/extract", json={**body, "text": "Paris"})
    assert response.status_code == 422 and response.json()["error"]["code"] == code


async def test_an_unknown_tagger_among_many_is_404(head_app):
    async with running(head_app) as client:
        response = await client.post(
            "/v1/extract", json={"taggers": ["people", "nope"], "text": "Paris"}
        )
    assert response.status_code == 404 and response.json()["error"]["code"] == "tagger_not_found"


async def test_a_head_stays_on_its_encoder_version(head_app, make_encoder):
    registry = head_app.state.registry
    registry.encoders.publish(make_encoder("starter", "2"))  # the default ("starter") moves on
    async with running(head_app) as client:
        before = (await client.get("/metrics")).text
        head = await client.post("/v1/extract", json={"tagger": "people", "text": TEXTS[0]})
        zero_shot = await client.post("/v1/extract", json={"labels": LABELS, "text": TEXTS[0]})
        after = (await client.get("/metrics")).text
        refused = await client.delete("/v1/encoders/starter/versions/1")
        deleted_head = await client.delete("/v1/taggers/people")
        still = await client.delete("/v1/encoders/starter/versions/1")  # 'places' uses it
        await client.delete("/v1/taggers/places")
        freed = await client.delete("/v1/encoders/starter/versions/1")
    assert head.status_code == 200 and zero_shot.json()["encoder"] == "starter@2"
    for lane in ("encoder:starter@1", "encoder:starter@2"):
        metric = f'nuner_texts_total{{tagger="{lane}"}}'
        assert _metric(after, metric) - _metric(before, metric) == 1
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "encoder_in_use"
    assert refused.json()["error"]["details"] == {"taggers": ["people", "places"]}
    assert deleted_head.status_code == 204 and still.status_code == 409
    assert freed.status_code == 204


async def test_a_head_job_is_servable_in_seconds(job_settings, make_encoder, conll_sample):
    app = create_app(job_settings.model_copy(update={"embedded_worker": True}))
    app.state.registry.encoders.publish(make_encoder("starter", "1"))
    body = {**job_body(conll_sample, "fast"), "mode": "head", "hyperparameters": {}}
    body["descriptions"] = {"PER": "person", "LOC": "location"}
    async with running(app) as client:
        submitted = await client.post("/v1/finetune", json=body)
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["mode"] == "head"
        job = await wait_for(client, submitted.json()["id"], finished)
        assert job["state"] == "succeeded", job["error"]
        assert job["result"] == "fast@1" and job["metrics"]["encoder"] == "starter@1"
        events = (await client.get(f"/v1/finetune/{job['id']}/events")).json()["data"]
        assert any(e["message"].startswith("fitting a head on encoder starter@1") for e in events)
        answer = await client.post("/v1/extract", json={"tagger": "fast", "text": TEXTS[0]})
        assert answer.status_code == 200 and answer.json()["tagger"] == "fast@1"
        detail = (await client.get("/v1/taggers/fast")).json()["versions"][0]
        assert detail["training"]["mode"] == "head"
        assert detail["training"]["descriptions"] == body["descriptions"]

        refusals = [
            ({**body, "backbone": "default"}, 422, "invalid_request"),
            ({**body, "encoder": "nope"}, 404, "encoder_not_found"),
            ({**body, "descriptions": {"XYZ": "thing"}}, 422, "invalid_examples"),
            ({**body, "mode": "full", "encoder": "starter"}, 422, "invalid_request"),
        ]
        for refused_body, status, code in refusals:
            refused = await client.post("/v1/finetune", json=refused_body)
            assert refused.status_code == status, (refused_body, refused.text)
            assert refused.json()["error"]["code"] == code


def test_create_tagger_makes_a_head_from_the_command_line(tmp_path, make_encoder, conll_sample):
    env = {**os.environ, "NUNER_HOME": str(tmp_path / "home")}
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(example_to_dict(e)) + "\n" for e in conll_sample))
    run = [NUNER, "publish-encoder", str(make_encoder("starter", "1"))]
    subprocess.run(run, env=env, check=True, capture_output=True)
    make = [NUNER, "create-tagger", "cli-head", "--train", str(train), "--mode", "head"]
    made = subprocess.run(
        [*make, "--description", "PER=person"], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert "published cli-head@1 (a head over starter@1)" in made.stdout
    wrong = subprocess.run([*make, "--description", "PER"], env=env, capture_output=True, text=True)
    assert wrong.returncode != 0 and "LABEL=TEXT" in wrong.stderr
