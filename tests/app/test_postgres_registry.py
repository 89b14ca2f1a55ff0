"""The registry on the real PostgreSQL on localhost (scale-out metadata)."""

from __future__ import annotations

import pytest

from nuner.app.main import create_app
from nuner.app.registry import Registry, TaggerNotFound
from tests.app.conftest import running


def test_publish_resolve_delete_on_postgres(postgres_url, make_bundle, tmp_path):
    registry = Registry(postgres_url, tmp_path / "bundles")
    registry.publish(make_bundle("conll", "1"))
    registry.publish(make_bundle("conll", "2"))
    other = Registry(postgres_url, tmp_path / "bundles")  # another replica's view
    assert other.resolve("conll").ref == "conll@2"
    assert other.next_version("conll") == "3"
    registry.delete_version("conll", "2")
    assert other.resolve("conll").ref == "conll@1"
    registry.delete_tagger("conll")
    with pytest.raises(TaggerNotFound):
        other.resolve("conll")
    registry.engine.dispose()
    other.engine.dispose()


@pytest.mark.anyio
async def test_two_replicas_share_a_postgres_registry(postgres_url, settings, make_bundle):
    shared = settings.model_copy(update={"database_url": postgres_url})
    replica_a, replica_b = create_app(shared), create_app(shared)
    replica_a.state.registry.publish(make_bundle("conll", "1"))
    async with running(replica_b) as client:
        response = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert response.json()["tagger"] == "conll@1"
        replica_a.state.registry.publish(make_bundle("conll", "2"))
        response = await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        assert response.json()["tagger"] == "conll@2"
        assert (await client.get("/readyz")).status_code == 200
    for app in (replica_a, replica_b):
        app.state.registry.engine.dispose()
