"""One error root: every domain error derives from NunerError, names one code,
and the codes are the ones docs/service.md lists."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections import Counter
from pathlib import Path

import nuner
from nuner.core.errors import NunerError

SERVICE_DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"


def error_classes() -> list[type[NunerError]]:
    for module in pkgutil.walk_packages(nuner.__path__, "nuner."):
        if ".migrations" not in module.name:  # env.py runs only under Alembic
            importlib.import_module(module.name)
    found, todo = [], [NunerError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def declared_codes() -> Counter:
    return Counter(cls.code for cls in error_classes() if "code" in vars(cls))


def test_one_code_per_condition():
    codes = declared_codes()
    assert len(codes) > 15
    assert [code for code, n in codes.items() if n > 1] == []


def test_every_code_is_listed_in_the_service_docs():
    listed = set(re.findall(r"`([a-z_]+)`", SERVICE_DOC.read_text().split("## Errors", 1)[1]))
    assert set(declared_codes()) - listed == set()


def test_the_api_answers_a_domain_error_with_its_own_code_and_status():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from nuner.app.errors import install_error_handlers
    from nuner.app.registry import TaggerNotFound
    from nuner.app.runtime import Overloaded

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    def missing() -> None:
        raise TaggerNotFound("no tagger named 'x'")

    @app.get("/busy")
    def busy() -> None:
        raise Overloaded("3 texts waiting")

    client = TestClient(app)
    answer = client.get("/missing")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "tagger_not_found")
    answer = client.get("/busy")
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "overloaded")
    assert answer.headers["Retry-After"] == "1"
