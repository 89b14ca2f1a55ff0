from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter

from nuner.app.api.deps import ExtractRuntimeDep, ReaderDep
from nuner.app.errors import ApiError
from nuner.app.extraction import Extraction, SourceAnswer, Sources
from nuner.app.schemas import Answer as AnswerOut
from nuner.app.schemas import EntityOut, ErrorEnvelope, ExtractRequest, ExtractResponse, TextResult
from nuner.core.types import Entity

A = TypeVar("A", bound=AnswerOut)
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
    summary="Extract entities from one text or a batch: a tagger, several, or zero-shot labels",
)
async def extract(
    body: ExtractRequest, runtime: ExtractRuntimeDep, principal: ReaderDep
) -> ExtractResponse:
    """Offsets are Unicode code points (Python ``str`` indices) into each text
    exactly as sent, ``end`` exclusive. Texts longer than the model's window are
    split into overlapping windows and merged; nothing is truncated.

    With ``labels`` in place of ``tagger``, the default (or the named) encoder
    scores every word against each label's name or description, with no
    trained tagger at all (decoding policy: docs/spans.md). With ``taggers``
    (and ``labels`` if given), one answer per source under ``answers``; head
    taggers over one encoder and the labels share one encoder pass."""
    texts = body.all_texts
    settings = runtime.settings
    check_texts(texts, settings.max_text_chars, settings.max_batch_texts)
    if body.taggers is not None and len(body.taggers) > settings.max_request_taggers:
        raise ApiError(
            422,
            "too_many_taggers",
            f"{len(body.taggers)} taggers; at most {settings.max_request_taggers} per request",
            {"count": len(body.taggers), "limit": settings.max_request_taggers},
        )
    sources = Sources(
        body.taggers or ([body.tagger] if body.tagger else []),
        body.labels,
        body.encoder,
        body.threshold,
        body.multi_label,
    )
    answers = await Extraction(runtime, principal, texts).run(sources)
    if body.taggers is None:
        return answer_out(body, answers[0], ExtractResponse)
    return ExtractResponse(answers=[answer_out(body, answer, AnswerOut) for answer in answers])


def answer_out(body: ExtractRequest, answer: SourceAnswer, model: type[A]) -> A:
    if body.text is not None:
        return model(**answer.by, entities=to_out(answer.entities[0]))
    return model(**answer.by, results=[TextResult(entities=to_out(r)) for r in answer.entities])
