"""API keys: off by default; scopes; namespaces; constant-time, never logged."""

from __future__ import annotations

import hashlib
import logging

import pytest

from nuner.app.auth import KeyRing
from nuner.app.main import create_app
from tests.app.conftest import running

pytestmark = pytest.mark.anyio

KEYS = {"reader": "rk-1111", "writer": "wk-2222", "team-a": "ak-3333", "team-b": "bk-4444"}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


CONFIG = [
    {"name": "reader", "sha256": sha(KEYS["reader"]), "scope": "read"},
    {"name": "writer", "sha256": sha(KEYS["writer"]), "scope": "write"},
    {"name": "team-a", "sha256": sha(KEYS["team-a"]), "scope": "write", "namespace": "team-a"},
    {"name": "team-b", "sha256": sha(KEYS["team-b"]), "scope": "read", "namespace": "team-b"},
]
JOB = {
    "tagger": "team-a.products",
    "examples": [
        {"text": "Paris and Rome", "spans": [{"start": 0, "end": 5, "label": "LOC"}]},
        {"text": "Rome", "spans": [{"start": 0, "end": 4, "label": "LOC"}]},
    ],
}


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


@pytest.fixture
def secured(settings, make_bundle):
    app = create_app(settings.model_copy(update={"api_keys": CONFIG}))
    app.state.registry.publish(make_bundle("conll", "1"))
    app.state.registry.publish(make_bundle("team-a.conll", "1"))
    return app


async def test_keys_are_required_and_checked(secured, caplog):
    caplog.set_level(logging.INFO, logger="nuner.access")
    async with running(secured) as client:
        body = {"tagger": "conll", "text": "Paris"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEYS["reader"]}):
            response = await client.post("/v1/extract", json=body, headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        ok = await client.post("/v1/extract", json=body, headers=bearer("reader"))
        assert ok.status_code == 200
        assert (await client.get("/healthz")).status_code == 200  # probes stay open
    logged = caplog.text
    assert all(key not in logged for key in KEYS.values())
    assert '"key": "reader"' in logged


async def test_read_only_keys_cannot_write(secured):
    async with running(secured) as client:
        denied = await client.post("/v1/finetune", json=JOB, headers=bearer("reader"))
        assert denied.status_code == 403 and "read-only" in denied.json()["error"]["message"]
        gone = await client.delete("/v1/taggers/conll", headers=bearer("reader"))
        assert gone.status_code == 403
        assert (await client.get("/v1/taggers/conll", headers=bearer("reader"))).status_code == 200
        assert (
            await client.delete("/v1/taggers/conll", headers=bearer("writer"))
        ).status_code == 204


async def test_namespaces_isolate_teams(secured):
    async with running(secured) as client:
        names = lambda who: client.get("/v1/taggers", headers=bearer(who))  # noqa: E731
        assert [t["name"] for t in (await names("team-a")).json()["taggers"]] == ["team-a.conll"]
        assert (await names("team-b")).json()["taggers"] == []
        assert {t["name"] for t in (await names("writer")).json()["taggers"]} == {
            "conll",
            "team-a.conll",
        }
        body = {"tagger": "team-a.conll", "text": "Paris"}
        hidden = await client.post("/v1/extract", json=body, headers=bearer("team-b"))
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "tagger_not_found"
        assert (
            await client.post(
                "/v1/extract", json={**body, "tagger": "conll"}, headers=bearer("team-a")
            )
        ).status_code == 404
        mine = await client.post("/v1/extract", json=body, headers=bearer("team-a"))
        assert mine.status_code == 200
        for path in ("/v1/taggers/team-a.conll",):
            assert (await client.get(path, headers=bearer("team-b"))).status_code == 404
        assert (
            await client.delete("/v1/taggers/conll", headers=bearer("team-a"))
        ).status_code == 404

        foreign = await client.post(
            "/v1/finetune", json={**JOB, "tagger": "products"}, headers=bearer("team-a")
        )
        assert foreign.status_code == 403 and "team-a.*" in foreign.json()["error"]["message"]
        job = (await client.post("/v1/finetune", json=JOB, headers=bearer("team-a"))).json()
        assert (
            await client.get(f"/v1/finetune/{job['id']}", headers=bearer("team-b"))
        ).status_code == 404
        assert (await client.get("/v1/finetune", headers=bearer("team-b"))).json()["data"] == []
        listed = (await client.get("/v1/finetune", headers=bearer("team-a"))).json()["data"]
        assert [j["id"] for j in listed] == [job["id"]]


async def test_idempotency_keys_are_per_caller(secured):
    async with running(secured) as client:
        headers = {**bearer("team-a"), "Idempotency-Key": "same"}
        first = (await client.post("/v1/finetune", json=JOB, headers=headers)).json()
        other = {**bearer("writer"), "Idempotency-Key": "same"}
        second = (await client.post("/v1/finetune", json=JOB, headers=other)).json()
        assert first["id"] != second["id"]


def test_every_digest_is_compared():
    ring = KeyRing([])
    assert not ring.enabled
    from nuner.app.auth import ApiKeyConfig

    ring = KeyRing([ApiKeyConfig.model_validate(c) for c in CONFIG])
    assert ring.authenticate(KEYS["team-b"]).namespace == "team-b"
    assert ring.authenticate("nope") is None
    with pytest.raises(ValueError):
        ApiKeyConfig.model_validate({"name": "x", "sha256": "not-hex"})


async def test_encoders_are_changed_by_global_write_keys_only(secured, make_encoder):
    secured.state.registry.encoders.publish(make_encoder("starter", "1"))
    async with running(secured) as client:
        for who, status in (("reader", 403), ("team-a", 403)):
            switch = await client.put(
                "/v1/encoders/default", json={"encoder": "starter"}, headers=bearer(who)
            )
            delete = await client.delete("/v1/encoders/starter/versions/1", headers=bearer(who))
            assert (switch.status_code, delete.status_code) == (status, status), who
            assert switch.json()["error"]["code"] == "forbidden"
        switched = await client.put(
            "/v1/encoders/default", json={"encoder": "starter@1"}, headers=bearer("writer")
        )
        assert switched.status_code == 200 and switched.json()["default"] == "starter@1"
