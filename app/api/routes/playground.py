"""The playground (``/ui``): static files shipped in the package and served
offline, with a Content-Security-Policy that allows this origin's scripts only.

The page is a plain API client: it holds no rights of its own, and sends the
API key its user types in (kept for the tab) like any other client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PLAYGROUND_DIR = Path(__file__).resolve().parents[2] / "ui"
PLAYGROUND_PATH = "/ui"

# No inline script or style, nothing from another origin; the API is same-origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag): an upgraded service serves its own page
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(f"{PLAYGROUND_PATH}/")


class PlaygroundFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)  # 304s too
        return response


def install_playground(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(PLAYGROUND_PATH, PlaygroundFiles(directory=PLAYGROUND_DIR, html=True), "playground")
