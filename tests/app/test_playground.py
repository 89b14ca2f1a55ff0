"""The playground's files and headers, without a browser (that is
test_playground_browser.py): served offline from the package, under a strict
Content-Security-Policy, and written so that data can only ever become text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from nuner.app.api.routes.playground import PLAYGROUND_DIR
from nuner.app.main import create_app
from tests.app.conftest import running

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for p in PLAYGROUND_DIR.rglob("*") if p.is_file())
SCRIPTS = [p for p in FILES if p.suffix == ".js"]


async def test_root_leads_to_the_playground_under_a_strict_policy(app):
    async with running(app) as client:
        root = await client.get("/")
        page = await client.get("/ui/")
        script = await client.get("/ui/js/main.js")
        again = await client.get("/ui/", headers={"If-None-Match": page.headers["etag"]})
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    assert page.status_code == 200 and "NuNER playground" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert script.headers["content-type"].startswith("text/javascript")
    assert again.status_code == 304 and again.headers["content-security-policy"] == policy


async def test_the_playground_can_be_turned_off(settings, make_bundle):
    app = create_app(settings.model_copy(update={"playground": False}))
    async with running(app) as client:
        assert (await client.get("/ui/")).status_code == 404
        assert (await client.get("/")).status_code == 404


def test_nothing_is_fetched_from_another_origin():
    for path in FILES:
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path


def test_data_reaches_the_page_as_text_only():
    """No HTML parsing of strings in the scripts, no inline script or style in the page."""
    for path in SCRIPTS:
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (path.name, sink)
    page = (PLAYGROUND_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"\s(on[a-z]+|style)=", page)


def test_every_referenced_file_is_shipped():
    page = (PLAYGROUND_DIR / "index.html").read_text()
    local = re.findall(r'(?:src|href)="(?!data:|/|#)([^"]+)"', page)
    imports = [
        (path.parent / name).resolve()
        for path in SCRIPTS
        for name in re.findall(r'from "(\./[^"]+)"', path.read_text())
    ]
    assert local and imports
    for target in [PLAYGROUND_DIR / name for name in local] + imports:
        assert target.is_file(), target
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globbed = {
        p for g in packaged["package-data"]["nuner.app"] for p in PLAYGROUND_DIR.parent.glob(g)
    }
    assert set(FILES) <= globbed, set(FILES) - globbed  # what a wheel leaves out
