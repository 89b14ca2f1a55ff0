"""The Grafana dashboard only charts metrics the service really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.app.conftest import running

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "nuner-dashboard.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


@pytest.mark.anyio
async def test_dashboard_metrics_exist(app):
    panels = json.loads(DASHBOARD.read_text())["panels"]
    used = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bnuner_[a-z_]+", target["expr"])
    }
    async with running(app) as client:
        await client.post("/v1/extract", json={"tagger": "conll", "text": "Paris"})
        exported = (await client.get("/metrics")).text
        app.state.worker = type("Supervisor", (), {"restarts": 0})()  # an embedded worker's
        exported += (await client.get("/metrics")).text
        app.state.worker = None
    families = set(re.findall(r"^# TYPE (\w+) ", exported, flags=re.M))

    def family(name: str) -> str:
        for suffix in SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in families:
                return name.removesuffix(suffix)
        return name

    assert len(used) >= 12
    assert {family(name) for name in used} <= families, {family(n) for n in used} - families
