from __future__ import annotations

import asyncio

from fastapi import APIRouter

from nuner.app.api.deps import ExtractRuntime, ExtractRuntimeDep, ReaderDep
from nuner.app.errors import ApiError
from nuner.app.registry import TaggerNotFound
from nuner.app.runtime import keep_above
from nuner.app.schemas import EntityOut, ErrorEnvelope, ExtractRequest, ExtractResponse, TextResult
from nuner.app.zero_shot import LabelQuery, check_labels, encoder_run, zero_shot_finish
from nuner.core.types import Entity

router = APIRouter(prefix="/v1", tags=["extract"])

ERRORS = {
    400: {"model": ErrorEnvelope, "description": "Body is not UTF-8 JSON."},
    404: {"model": ErrorEnvelope, "description": "Unknown tagger, encoder or version."},
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
    summary="Extract entities from one text or a batch, with a tagger or zero-shot labels",
)
async def extract(
    body: ExtractRequest, runtime: ExtractRuntimeDep, principal: ReaderDep
) -> ExtractResponse:
    """Offsets are Unicode code points (Python ``str`` indices) into each text
    exactly as sent, ``end`` exclusive. Texts longer than the model's window are
    split into overlapping windows and merged; nothing is truncated.

    With ``labels`` in place of ``tagger``, the default (or the named) encoder
    scores every word against each label's name or description, with no
    trained tagger at all (decoding policy: docs/spans.md)."""
    texts = body.all_texts
    check_texts(texts, runtime.settings.max_text_chars, runtime.settings.max_batch_texts)
    if body.labels is not None:
        return await extract_zero_shot(body, body.labels, texts, runtime)
    reference = body.tagger or ""
    if not principal.owns(reference.partition("@")[0]):
        raise TaggerNotFound(f"no tagger or alias named {reference!r}")
    # fast paths stay on the event loop; database and disk work go to a thread
    resolver, cache = runtime.resolver, runtime.cache
    version = resolver.cached(reference) or await asyncio.to_thread(resolver.resolve, reference)
    tagger = cache.peek(version) or await asyncio.to_thread(cache.get, version)
    finish = keep_above(body.threshold or 0.0)
    results = await runtime.batcher.submit(version.ref, tagger.tag, texts, finish)
    return respond(body, results, tagger=version.ref)


async def extract_zero_shot(
    body: ExtractRequest,
    labels: list[str] | dict[str, str],
    texts: list[str],
    runtime: ExtractRuntime,
) -> ExtractResponse:
    names, reads = check_labels(labels, runtime.settings)
    resolver, cache = runtime.encoder_resolver, runtime.encoder_cache
    version = resolver.cached(body.encoder) or await asyncio.to_thread(
        resolver.resolve, body.encoder
    )
    encoder = cache.peek(version) or await asyncio.to_thread(cache.get, version)
    threshold = encoder.manifest.threshold if body.threshold is None else body.threshold
    query = LabelQuery(names, reads, threshold, body.multi_label)
    finish = zero_shot_finish(version.ref, encoder, query, runtime.label_vectors)
    lane = f"encoder:{version.ref}"  # one lane per encoder, whatever the labels
    results = await runtime.batcher.submit(lane, encoder_run(encoder), texts, finish)
    return respond(body, results, encoder=version.ref)


def respond(body: ExtractRequest, results: list[list[Entity]], **answered: str) -> ExtractResponse:
    if body.text is not None:
        return ExtractResponse(**answered, entities=to_out(results[0]))
    return ExtractResponse(**answered, results=[TextResult(entities=to_out(r)) for r in results])
