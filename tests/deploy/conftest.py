"""Render the Helm chart offline (helm-python-sdk: Helm's Go SDK, no helm binary)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "nuner"
PROFILES = ("default", "gpu", "s3")


def profile_values(profile: str) -> dict:
    return yaml.safe_load((CHART / "ci" / f"{profile}-values.yaml").read_text())


def render(values: dict) -> list[dict]:
    import helm_python

    chart = helm_python.Chart.load(str(CHART))
    chart.validate_schema(values)
    rendered = chart.render(values, name="nuner", namespace="nuner", is_install=True)
    return [
        doc
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def find(manifests: list[dict], kind: str, name_suffix: str = "") -> dict:
    matches = [
        m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(name_suffix)
    ]
    assert len(matches) == 1, f"{kind} *{name_suffix}: {len(matches)} found"
    return matches[0]


@pytest.fixture(scope="session", params=PROFILES)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(profile_values(request.param))
