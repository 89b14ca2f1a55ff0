"""A real tiny tagger bundle, and the app running on a temporary store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from nuner.app.db import make_engine
from nuner.app.main import create_app, lifespan
from nuner.app.schema import upgrade
from nuner.app.settings import Settings
from nuner.core.datasets import example_to_dict, read_jsonl
from nuner.export.bundle_writer import write_bundle
from nuner.export.verify import Tolerances
from tests.conftest import (
    dataset_path,
    free_port,
    pretrain_tiny_dual_encoder,
    train_tiny_checkpoint,
    wait_until_ready,
)

LOOSE = Tolerances(max_f1_drop_points=10, max_label_disagreement=0.1)
NUNER = str(Path(sys.executable).with_name("nuner"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_bert_dir, conll_sample, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("app-ckpt") / "ckpt"
    return train_tiny_checkpoint(str(tiny_bert_dir), conll_sample, directory, 32, stride=8)


@pytest.fixture(scope="session")
def make_bundle(tiny_checkpoint, tmp_path_factory):
    """Export the tiny checkpoint as ``name@version`` (fp32 + int8)."""
    verification = read_jsonl(dataset_path("conll2003", "dev"))[:30]
    root = tmp_path_factory.mktemp("bundles")

    def make(name: str = "conll", version: str = "1") -> Path:
        target = root / f"{name}-{version}"
        if not target.exists():
            write_bundle(
                tiny_checkpoint,
                target,
                name,
                version,
                verification,
                variants=["fp32", "int8"],
                tolerances=LOOSE,
            )
        return target

    return make


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        alias_cache_seconds=0,
        max_text_chars=20_000,
        max_batch_texts=64,
        max_body_bytes=200_000,
        batch_max_wait_ms=20,
        num_threads=1,
        variant="fp32",
        embedded_worker=False,  # tests that need the worker process start it
    )


@asynccontextmanager
async def running(app):
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
def app(settings, make_bundle):
    application = create_app(settings)
    application.state.registry.publish(make_bundle("conll", "1"))
    return application


ADMIN_URL = os.environ.get(
    "NUNER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)


@pytest.fixture
def empty_postgres_url():
    """A fresh, empty database per test, dropped afterwards."""
    name = f"nuner_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(empty_postgres_url):
    """A fresh database at the schema's head, as the chart's migration Job leaves it."""
    engine = make_engine(empty_postgres_url)
    upgrade(engine)
    engine.dispose()
    return empty_postgres_url


# --- fine-tune jobs -----------------------------------------------------------

FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def job_settings(settings, tiny_bert_dir):
    return settings.model_copy(
        update={
            "backbone": str(tiny_bert_dir),
            "worker_poll_seconds": 0.2,
            "finetune_min_examples_per_label": 1,
        }
    )


def job_body(examples, tagger: str = "demo", **hyperparameters) -> dict:
    hyper = {"epochs": 8, "learning_rate": 3e-3, "batch_size": 4, "max_length": 64}
    return {
        "tagger": tagger,
        "examples": [example_to_dict(e) for e in examples],
        "hyperparameters": {**hyper, **hyperparameters},
    }


async def wait_for(client, job_id: str, until, timeout: float = 240.0) -> dict:
    """Poll until ``until(job)`` holds; fail with the job's events on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = (await client.get(f"/v1/finetune/{job_id}")).json()
        if until(job):
            return job
        await asyncio.sleep(0.2)
    events = (await client.get(f"/v1/finetune/{job_id}/events")).json()["data"]
    pytest.fail(f"job {job_id} stuck: {job}\n" + "\n".join(e["message"] for e in events))


def finished(job: dict) -> bool:
    return job["state"] in FINISHED


def no_build_leftovers(settings) -> bool:
    return not [p for p in settings.resolved_bundles_dir.iterdir() if p.name.startswith(".")]


# --- encoders (zero-shot) -----------------------------------------------------


@pytest.fixture(scope="session")
def tiny_dual_encoder(tiny_bert_dir, tmp_path_factory) -> Path:
    return pretrain_tiny_dual_encoder(str(tiny_bert_dir), tmp_path_factory.mktemp("dual") / "d")


@pytest.fixture(scope="session")
def make_encoder(tiny_dual_encoder, tmp_path_factory):
    """Export the tiny dual encoder as an encoder bundle ``name@version`` (fp32)."""
    from nuner.export.encoder_writer import write_encoder_bundle

    verification = read_jsonl(dataset_path("conll2003", "dev"))[:20]
    root = tmp_path_factory.mktemp("encoder-bundles")

    def make(name: str = "starter", version: str = "1") -> Path:
        target = root / f"{name}-{version}"
        if not target.exists():
            write_encoder_bundle(
                tiny_dual_encoder, target, name, version, verification, variants=["fp32"]
            )
        return target

    return make


# --- a real server ------------------------------------------------------------


def start_server(
    home: Path, bundle: Path, encoder: Path | None = None, **settings: str
) -> tuple[str, subprocess.Popen]:
    """`nuner publish` the tagger (and `publish-encoder --default` the encoder),
    then `nuner serve` on a free port until /readyz answers."""
    port = free_port()
    env = {
        **os.environ,
        "NUNER_HOME": str(home),
        "NUNER_PORT": str(port),
        "NUNER_VARIANT": "fp32",
        "NUNER_NUM_THREADS": "1",
        "NUNER_WARMUP_TAGGERS": '["conll"]',
        **settings,
    }
    subprocess.run([NUNER, "publish", str(bundle)], env=env, check=True, capture_output=True)
    if encoder is not None:
        publish = [NUNER, "publish-encoder", str(encoder), "--default"]
        subprocess.run(publish, env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [NUNER, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_until_ready(base):
        process.kill()
        pytest.fail(f"server did not become ready: {process.stdout.read()}")
    return base, process
