"""/v1/finetune: fine-tune jobs (shaped after OpenAI's fine-tuning jobs API).

Plain ``def`` routes: the store is synchronous SQLAlchemy, so FastAPI runs
them in its thread pool, off the event loop that serves /v1/extract.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from nuner.app.api.deps import (
    JobQueueDep,
    JobStoreDep,
    ReaderDep,
    RegistryDep,
    SettingsDep,
    WriterDep,
)
from nuner.app.auth import Principal
from nuner.app.errors import ApiError
from nuner.app.jobs.models import JobRow
from nuner.app.jobs.schemas import (
    BackboneList,
    EventListOut,
    EventOut,
    FinetuneRequest,
    JobListOut,
    JobOut,
    WorkerListOut,
    WorkerOut,
)
from nuner.app.jobs.states import JobState
from nuner.app.jobs.store import JobNotFound, JobStore
from nuner.app.jobs.validation import find_problems
from nuner.app.registry import Registry
from nuner.app.schemas import ErrorEnvelope
from nuner.app.settings import Settings

router = APIRouter(prefix="/v1/finetune", tags=["finetune"])
workers_router = APIRouter(prefix="/v1/workers", tags=["finetune"])
NOT_FOUND = {404: {"model": ErrorEnvelope, "description": "Unknown job."}}


@router.get("/backbones", response_model=BackboneList, summary="Backbones a job may name")
async def list_backbones(settings: SettingsDep, principal: ReaderDep) -> BackboneList:
    return BackboneList(backbones=sorted(settings.job_backbones))


def visible_job(store: JobStore, job_id: str, principal: Principal) -> JobRow:
    """Another namespace's job looks exactly like one that does not exist."""
    job = store.get(job_id)
    if not principal.owns(job.tagger):
        raise JobNotFound(f"no fine-tune job {job_id!r}")
    return job


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses={
        400: {"model": ErrorEnvelope, "description": "Body is not UTF-8 JSON."},
        409: {"model": ErrorEnvelope, "description": "Idempotency-Key reused with another body."},
        422: {"model": ErrorEnvelope, "description": "Invalid examples, names or ranges."},
    },
)
def create_job(
    request: FinetuneRequest,
    response: Response,
    store: JobStoreDep,
    queue: JobQueueDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: WriterDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobOut:
    """Queue a fine-tune job; poll it, or watch its events, until it succeeds."""
    if not principal.owns(request.tagger):
        raise ApiError(
            403,
            "forbidden",
            f"API key {principal.name!r} may only create taggers named '{principal.namespace}.*'",
        )
    request = request.model_copy(update={"mode": request.mode or settings.finetune_mode})
    check_mode(request, settings, registry)
    problems = find_problems(request, settings)
    if problems:
        details = [{"location": p.location, "problem": p.problem} for p in problems]
        raise ApiError(422, "invalid_examples", str(problems[0]), details)
    job, created = store.create(
        request.tagger,
        request.model_dump(mode="json"),
        request.summary(),
        # keys are per caller: one team's key can never return another team's job
        f"{principal.name}:{idempotency_key}" if idempotency_key else None,
    )
    if created:
        try:
            queue.enqueue(job)
        except Exception as error:
            store.discard(job.id)
            raise ApiError(
                503,
                "queue_unavailable",
                f"the job queue is unavailable: {error}",
                headers={"Retry-After": "5"},
            ) from None
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/finetune/{job.id}"
    return JobOut.from_row(job)


def check_mode(request: FinetuneRequest, settings: Settings, registry: Registry) -> None:
    """A head job names a published encoder, a full one a backbone from the list."""
    if request.mode == "head":
        if request.backbone is not None:
            raise ApiError(
                422, "invalid_request", "'backbone' is for mode 'full'; a head names an 'encoder'"
            )
        registry.encoders.resolve(request.encoder)  # 404 encoder_not_found / no_default_encoder
        return
    if request.encoder is not None or request.descriptions:
        raise ApiError(422, "invalid_request", "'encoder' and 'descriptions' are for mode 'head'")
    backbones = settings.job_backbones
    if request.backbone is not None and request.backbone not in backbones:
        raise ApiError(
            422,
            "unknown_backbone",
            f"backbone {request.backbone!r} is not on this server's list: {sorted(backbones)}",
            {"allowed": sorted(backbones)},
        )


@router.get(
    "",
    response_model=JobListOut,
    responses={404: {"model": ErrorEnvelope, "description": "Unknown `after` cursor."}},
)
def list_jobs(
    store: JobStoreDep,
    principal: ReaderDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(description="Last job id of the previous page.")] = None,
) -> JobListOut:
    """Newest first."""
    prefix = f"{principal.namespace}." if principal.namespace else None
    jobs, has_more = store.list(state, limit, after, tagger_prefix=prefix)
    return JobListOut(data=[JobOut.from_row(job) for job in jobs], has_more=has_more)


@router.get("/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(job_id: str, store: JobStoreDep, principal: ReaderDep) -> JobOut:
    return JobOut.from_row(visible_job(store, job_id, principal))


@router.get("/{job_id}/events", response_model=EventListOut, responses=NOT_FOUND)
def job_events(
    job_id: str,
    store: JobStoreDep,
    principal: ReaderDep,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Last event id already seen.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventListOut:
    """Oldest first: state changes, one event per epoch (loss, dev F1), export, publish."""
    visible_job(store, job_id, principal)
    return EventListOut(
        data=[EventOut.model_validate(e) for e in store.events(job_id, after, limit)]
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses={**NOT_FOUND, 409: {"model": ErrorEnvelope, "description": "Already finished."}},
)
def cancel_job(job_id: str, store: JobStoreDep, principal: WriterDep) -> JobOut:
    """A queued job is cancelled at once, a running one at its next epoch; either
    way nothing is published."""
    visible_job(store, job_id, principal)
    return JobOut.from_row(store.request_cancel(job_id))


@workers_router.get("", response_model=WorkerListOut)
def list_workers(store: JobStoreDep, settings: SettingsDep, principal: ReaderDep) -> WorkerListOut:
    """Fine-tune workers with a heartbeat within ``NUNER_JOB_STALE_SECONDS``: jobs
    stay queued while this list is empty."""
    workers = store.live_workers(settings.job_stale_seconds)
    return WorkerListOut(data=[WorkerOut.model_validate(w) for w in workers])
