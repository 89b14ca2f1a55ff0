"""The /v1/finetune request and response bodies (shaped after OpenAI's fine-tuning jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from nuner.app.jobs.models import JobRow
from nuner.app.jobs.states import JobStage, JobState, WorkerState
from nuner.core.bundle import BundleError, check_name
from nuner.core.hyperparameters import (
    DEFAULTS,
    HEAD_DEFAULTS,
    FeatureKind,
    HeadFitConfig,
    HeadKind,
    ShapeFeatures,
)


class SpanIn(BaseModel):
    start: StrictInt = Field(description="First character (Unicode code point index).")
    end: StrictInt = Field(description="One past the last character.")
    label: StrictStr


class ExampleIn(BaseModel):
    """The shared span format; other keys (``tokens``, ``id``) are ignored."""

    text: StrictStr = Field(min_length=1)
    spans: list[SpanIn] = Field(default_factory=list)


class Hyperparameters(BaseModel):
    """What a job may set, in the ranges the API allows (narrower than the
    trainer's); the defaults are the trainer's own (nuner.core.hyperparameters)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # `"seed": false` is not 0

    epochs: int = Field(default=DEFAULTS.epochs, ge=1, le=100)
    learning_rate: float | None = Field(
        default=DEFAULTS.learning_rate,
        ge=1e-6,
        le=1e-2,
        description="The encoder's; null: 1e-4 under a warm-started head, else 2e-4.",
    )
    batch_size: int = Field(default=DEFAULTS.batch_size, ge=1, le=64)
    head: HeadKind = DEFAULTS.head
    features: FeatureKind = DEFAULTS.features
    shape_features: ShapeFeatures = DEFAULTS.shape_features
    freeze_encoder: bool = DEFAULTS.freeze_encoder
    freeze_word_embeddings: bool = Field(
        default=DEFAULTS.freeze_word_embeddings,
        description="Keep the encoder's sub-word embeddings as pre-trained (0.73x the "
        "training time, the same accuracy on dev).",
    )
    warm_start: bool = Field(
        default=DEFAULTS.warm_start,
        description="Where the backbone has a concept encoder (the starter's does), start "
        "the head from the label names (or `descriptions`).",
    )
    max_length: int = Field(default=DEFAULTS.max_length, ge=32, le=512)
    soup: int = Field(
        default=DEFAULTS.soup,
        ge=1,
        le=4,
        description="Fine-tunes from one start whose weights are averaged into the tagger "
        "(a model soup); each adds the time of one.",
    )
    seed: int = Field(default=DEFAULTS.seed, ge=0, le=2**31 - 1)


class HeadOptions(BaseModel):
    """A head job's fit (mode ``head``); the defaults were chosen on dev data
    (docs/heads.md, nuner.training.head.HeadConfig)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    warm_start: bool = Field(
        default=HEAD_DEFAULTS.warm_start,
        description="Start from the concept encoder's vectors of the label names (or "
        "`descriptions`): with no step the head is zero-shot extraction.",
    )
    steps: int = Field(default=HEAD_DEFAULTS.steps, ge=0, le=5000)
    learning_rate: float = Field(default=HEAD_DEFAULTS.learning_rate, gt=0, le=1)
    l2: float = Field(default=HEAD_DEFAULTS.l2, ge=0, le=10, description="Pull to the start.")
    threshold: float | None = Field(
        default=HEAD_DEFAULTS.threshold,
        ge=0,
        le=1,
        description="Decoding threshold; null: the encoder's calibrated one.",
    )

    def config(self) -> HeadFitConfig:
        return HeadFitConfig(**self.model_dump())


EXAMPLE_REQUEST = {
    "tagger": "products",
    "examples": [
        {
            "text": "Apple unveiled the iPhone 16 in Cupertino.",
            "spans": [
                {"start": 0, "end": 5, "label": "ORG"},
                {"start": 19, "end": 28, "label": "PRODUCT"},
                {"start": 32, "end": 41, "label": "LOC"},
            ],
        },
        {
            "text": "Samsung showed the Galaxy S24 in Seoul.",
            "spans": [
                {"start": 0, "end": 7, "label": "ORG"},
                {"start": 19, "end": 29, "label": "PRODUCT"},
                {"start": 33, "end": 38, "label": "LOC"},
            ],
        },
    ],
    "hyperparameters": {"epochs": 30},
}


class FinetuneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    tagger: StrictStr = Field(description="Name to publish under: letters, digits, '.', '_', '-'.")
    examples: list[ExampleIn] = Field(min_length=1, description="Training examples.")
    dev: list[ExampleIn] | None = Field(
        default=None,
        description="Dev examples (early stopping); held out of `examples` if "
        "absent and there are enough.",
    )
    backbone: StrictStr | None = Field(
        default=None,
        description="A backbone from the server's list (`GET /v1/finetune/backbones`); "
        "default: 'default' (NUNER_BACKBONE: the starter's pre-trained encoder where it is "
        "built, else the packaged all-MiniLM-L6-v2).",
    )
    mode: Literal["head", "full"] | None = Field(
        default=None,
        description="`head`: a small head over a published encoder (seconds, a few KB, "
        "shares the encoder's pass); `full`: fine-tune a whole encoder (`backbone`, "
        "`hyperparameters`). Default: the server's `NUNER_FINETUNE_MODE`.",
    )
    encoder: StrictStr | None = Field(
        default=None,
        description="Head mode: the encoder (`name` or `name@version`, see /v1/encoders); "
        "default: the default encoder.",
    )
    descriptions: dict[StrictStr, StrictStr] = Field(
        default_factory=dict,
        description="What the concept encoder reads in place of a label's name for the "
        "warm start (head mode, and full mode on a backbone with a concept encoder), e.g. "
        '{"ACTOR": "actor name"}; CoNLL and OntoNotes tags such as PER read as their names.',
    )
    head: HeadOptions = Field(default_factory=HeadOptions)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    licences: list[StrictStr] = Field(default_factory=list, description="Licences of the data.")

    def summary(self) -> dict:
        """What a job listing shows of the request (the examples stay in the store)."""
        return {
            "mode": self.mode or "full",
            "backbone": self.backbone or "default",
            "encoder": self.encoder,
            "hyperparameters": self.hyperparameters.model_dump(),
            "head": self.head.model_dump(),
            "train_examples": len(self.examples),
            "dev_examples": len(self.dev or []),
        }

    @field_validator("tagger")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        try:
            return check_name("tagger name", value)
        except BundleError as error:
            raise ValueError(str(error)) from None


class JobErrorOut(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    id: str
    object: Literal["finetune.job"] = "finetune.job"
    tagger: str
    state: JobState
    stage: JobStage = Field(description="starting, training, exporting, publishing, or the state.")
    progress: float = Field(description="0 to 1.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    cancel_requested: bool
    mode: Literal["head", "full"] = "full"  # jobs queued before heads existed were full
    backbone: str
    encoder: str | None = None
    hyperparameters: Hyperparameters
    head: HeadOptions = Field(default_factory=HeadOptions)
    train_examples: int
    dev_examples: int
    result: str | None = Field(description="The published `name@version` once succeeded.")
    metrics: dict | None
    error: JobErrorOut | None

    @classmethod
    def from_row(cls, row: JobRow) -> JobOut:
        error = (
            JobErrorOut(code=row.error_code, message=row.error_message or "")
            if row.error_code
            else None
        )
        return cls(
            id=row.id,
            tagger=row.tagger,
            state=row.state,
            stage=row.stage,
            progress=round(row.progress, 4),
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            attempts=row.attempts,
            cancel_requested=row.cancel_requested,
            result=row.result,
            metrics=row.metrics,
            error=error,
            **row.summary,
        )


class JobListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobOut]
    has_more: bool


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from a JobEventRow

    id: int
    created_at: datetime
    level: str
    message: str
    data: dict | None


class EventListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventOut]


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from a WorkerRow

    name: str = Field(description="host:pid")
    mode: str = Field(description="embedded (polling) or procrastinate")
    device: str
    state: WorkerState = Field(
        description="starting, idle or busy (stopped workers are not listed)."
    )
    job_id: str | None
    started_at: datetime
    heartbeat_at: datetime


class WorkerListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[WorkerOut]


class BackboneList(BaseModel):
    backbones: list[str] = Field(
        description="Names a job's `backbone` may take (NUNER_FINETUNE_BACKBONES, 'default')."
    )
