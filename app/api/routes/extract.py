from __future__ import annotations

import asyncio

from fastapi import APIRouter

from nuner.app.api.deps import ExtractRuntimeDep, ReaderDep
from nuner.app.errors import ApiError
from nuner.app.registry import TaggerNotFound
from nuner.app.schemas import EntityOut, ErrorEnvelope, ExtractRequest, ExtractResponse, TextResult
from nuner.core.types import Entity

router = APIRouter(prefix="/v1", tags=["extract"])

ERRORS = {
    400: {"model": ErrorEnvelope, "description": "Body is not UTF-8 JSON."},
    404: {"model": ErrorEnvelope, "description": "Unknown tagger or version."},
    413: {"model": ErrorEnvelope, "description": "A text or the body is too large."},
    422: {"model": ErrorEnvelope, "description": "Invalid request."},
    503: {"model": ErrorEnvelope, "description": "Queue full: retry after `Retry-After`."},
}


def check_texts(texts: list[str], max_chars: int, max_texts: int) -> None:
    if len(texts) > max_texts:
        raise ApiError(
            422, "too_many_texts", f"{len(texts)} texts; at most {max_texts} per request"
        )
    for index, text in enumerate(texts):
        if len(text) > max_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text {index} has {len(text)} characters; at most {max_chars}",
                {"index": index, "length": len(text), "limit": max_chars},
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ApiError(
                422,
                "invalid_text",
                f"text {index} is not valid Unicode (lone surrogate at {error.start})",
                {"index": index, "position": error.start},
            ) from None


def to_out(entities: list[Entity]) -> list[EntityOut]:
    return [EntityOut(**e.to_dict()) for e in entities]


@router.post(
    "/extract",
    response_model=ExtractResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
    summary="Extract entities from one text or a batch",
)
async def extract(
    body: ExtractRequest, runtime: ExtractRuntimeDep, principal: ReaderDep
) -> ExtractResponse:
    """Offsets are Unicode code points (Python ``str`` indices) into each text
    exactly as sent, ``end`` exclusive. Texts longer than the model's window are
    split into overlapping windows and merged; nothing is truncated."""
    if not principal.owns(body.tagger.partition("@")[0]):
        raise TaggerNotFound(f"no tagger or alias named {body.tagger!r}")
    texts = body.all_texts
    check_texts(texts, runtime.settings.max_text_chars, runtime.settings.max_batch_texts)
    # fast paths stay on the event loop; database and disk work go to a thread
    resolver, cache = runtime.resolver, runtime.cache
    version = resolver.cached(body.tagger) or await asyncio.to_thread(resolver.resolve, body.tagger)
    tagger = cache.peek(version) or await asyncio.to_thread(cache.get, version)
    results = await runtime.batcher.submit(version.ref, tagger, texts, body.threshold)
    if body.text is not None:
        return ExtractResponse(tagger=version.ref, entities=to_out(results[0]))
    return ExtractResponse(
        tagger=version.ref, results=[TextResult(entities=to_out(r)) for r in results]
    )
