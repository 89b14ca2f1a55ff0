"""Schema migrations (Alembic) on both engines: an install made before
migrations existed upgrades with nothing lost, the models and the revisions
cannot drift, and a scaled-out database behind head is refused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from nuner.app.db import make_engine
from nuner.app.jobs.store import JobStore, request_hash
from nuner.app.main import create_app
from nuner.app.schema import (
    FIRST_REVISION,
    SchemaBehind,
    alembic_config,
    current_revision,
    head_revision,
    metadata,
    upgrade,
)
from tests.app.conftest import running

NUNER = str(Path(sys.executable).with_name("nuner"))
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)

# The tables as revision 0001 has them, written without the models, so that
# this fixture keeps describing an old install when the models move on.
VERSIONS = sa.table(
    "tagger_versions",
    *(sa.column(c) for c in ("name", "version", "path")),
    sa.column("labels", sa.JSON),
    sa.column("manifest", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
ALIASES = sa.table("aliases", *(sa.column(c) for c in ("alias", "name", "version")))
JOBS = sa.table(
    "finetune_jobs",
    *(sa.column(c) for c in ("id", "tagger", "state", "stage", "progress", "request_hash")),
    *(sa.column(c) for c in ("idempotency_key", "attempts", "cancel_requested", "result")),
    sa.column("request", sa.JSON),
    sa.column("summary", sa.JSON),
    sa.column("metrics", sa.JSON),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "finished_at")),
)
EVENTS = sa.table(
    "finetune_job_events",
    *(sa.column(c) for c in ("job_id", "level", "message")),
    sa.column("data", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
REQUEST = {"tagger": "conll", "examples": [{"text": "Paris", "spans": []}]}
SUMMARY = {"backbone": "default", "hyperparameters": {}, "train_examples": 8, "dev_examples": 0}


def make_old_install(url: str, bundles_dir: Path, make_bundle) -> None:
    """A database as `create_all` left it before migrations (no alembic_version),
    holding two versions of a tagger, an extra alias, two jobs (one made with an
    Idempotency-Key) and their events; the bundles in the store."""
    engine = make_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), FIRST_REVISION)
        connection.execute(sa.text("DROP TABLE alembic_version"))
        for version in ("1", "2"):
            target = bundles_dir / "conll" / version
            shutil.copytree(make_bundle("conll", version), target)
            manifest = json.loads((target / "manifest.json").read_text())
            connection.execute(
                VERSIONS.insert().values(
                    name="conll",
                    version=version,
                    path=str(target),
                    labels=manifest["labels"],
                    manifest=manifest,
                    created_at=NOW,
                )
            )
        connection.execute(
            ALIASES.insert(),
            [
                {"alias": "conll", "name": "conll", "version": "2"},
                {"alias": "prod", "name": "conll", "version": "1"},
            ],
        )
        common = {"tagger": "conll", "request": REQUEST, "summary": SUMMARY, "attempts": 1}
        common |= {"request_hash": request_hash(REQUEST), "cancel_requested": False}
        connection.execute(
            JOBS.insert(),
            [
                {
                    **common,
                    "id": "ftjob-old-done",
                    "state": "succeeded",
                    "stage": "succeeded",
                    "progress": 1.0,
                    "idempotency_key": "anonymous:key-1",
                    "result": "conll@2",
                    "metrics": {"dev_f1": 0.5},
                    "created_at": NOW,
                    "finished_at": NOW,
                },
                {
                    **common,
                    "id": "ftjob-old-queued",
                    "state": "queued",
                    "stage": "queued",
                    "progress": 0.0,
                    "idempotency_key": None,
                    "result": None,
                    "metrics": None,
                    "attempts": 0,
                    "created_at": NOW,
                    "finished_at": None,
                },
            ],
        )
        connection.execute(
            EVENTS.insert(),
            [
                {"job_id": "ftjob-old-done", "level": "info", "message": m, "created_at": NOW}
                | {"data": {"epoch": i}}
                for i, m in enumerate(["queued", "epoch 1", "published conll@2"])
            ],
        )
    engine.dispose()


async def assert_everything_still_served(app) -> None:
    async with running(app) as client:
        taggers = (await client.get("/v1/taggers")).json()["taggers"]
        assert [t["name"] for t in taggers] == ["conll"]
        detail = (await client.get("/v1/taggers/conll")).json()
        assert [v["version"] for v in detail["versions"]] == ["1", "2"]
        assert detail["aliases"] == {"conll": "conll@2", "prod": "conll@1"}
        for reference, served in (("prod", "conll@1"), ("conll", "conll@2")):
            answer = await client.post("/v1/extract", json={"tagger": reference, "text": "Paris"})
            assert answer.status_code == 200 and answer.json()["tagger"] == served
        done = (await client.get("/v1/finetune/ftjob-old-done")).json()
        assert (done["state"], done["result"], done["metrics"]) == (
            "succeeded",
            "conll@2",
            {"dev_f1": 0.5},
        )
        events = (await client.get("/v1/finetune/ftjob-old-done/events")).json()["data"]
        assert [e["message"] for e in events] == ["queued", "epoch 1", "published conll@2"]
        listed = (await client.get("/v1/finetune")).json()["data"]
        assert {j["id"] for j in listed} == {"ftjob-old-done", "ftjob-old-queued"}
    replay, created = JobStore(app.state.registry.engine).create(
        "conll", REQUEST, SUMMARY, "anonymous:key-1"
    )
    assert (replay.id, created) == ("ftjob-old-done", False)  # the key survived


def test_an_embedded_install_from_before_migrations_upgrades_on_start(settings, make_bundle):
    settings.home_dir.mkdir(parents=True)
    make_old_install(settings.resolved_database_url, settings.resolved_bundles_dir, make_bundle)
    app = create_app(settings)  # the embedded default migrates as it opens the store
    assert current_revision(app.state.registry.engine) == head_revision()
    asyncio.run(assert_everything_still_served(app))


def test_a_scaled_out_install_from_before_migrations_upgrades_with_nuner_migrate(
    settings, make_bundle, empty_postgres_url
):
    shared = settings.model_copy(update={"database_url": empty_postgres_url})
    make_old_install(empty_postgres_url, shared.resolved_bundles_dir, make_bundle)
    with pytest.raises(SchemaBehind, match="run `nuner migrate`"):
        create_app(shared)  # the API refuses a database behind head
    env = {**os.environ, "NUNER_DATABASE_URL": empty_postgres_url, "NUNER_HOME": str(shared.home)}
    migrated = subprocess.run([NUNER, "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert f"-> {head_revision()}" in migrated.stdout and "database ready" in migrated.stdout
    app = create_app(shared)
    asyncio.run(assert_everything_still_served(app))
    app.state.registry.engine.dispose()


def test_the_scaled_out_api_refuses_an_empty_database_and_names_the_command(
    settings, empty_postgres_url
):
    shared = settings.model_copy(update={"database_url": empty_postgres_url})
    with pytest.raises(SchemaBehind) as refused:
        create_app(shared)
    assert "revision none" in str(refused.value) and "nuner migrate" in str(refused.value)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_models_and_migrations_do_not_drift(engine_name, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'drift.db'}"
        if engine_name == "sqlite"
        else request.getfixturevalue("empty_postgres_url")
    )
    engine = make_engine(url)
    assert upgrade(engine) == (None, head_revision())
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata()) == []
    assert upgrade(engine) == (head_revision(), head_revision())  # idempotent
    engine.dispose()
