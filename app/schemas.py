"""Request and response models of the HTTP API (with OpenAPI examples)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZERO_SHOT_EXAMPLE = {
    "labels": ["person", "organization", "location"],
    "text": "Angela Merkel met Emmanuel Macron in Paris.",
}
DESCRIBED_EXAMPLE = {
    "labels": {"drug": "medication or drug name", "dose": "amount of a medication"},
    "text": "Take 200 mg of ibuprofen twice a day.",
    "encoder": "starter",
    "threshold": 0.4,
}
EXTRACT_EXAMPLE = {"tagger": "conll", "text": "Angela Merkel met Emmanuel Macron in Paris."}
MANY_EXAMPLE = {
    "taggers": ["conll", "products@2"],
    "labels": ["drug"],
    "text": "Angela Merkel took 200 mg of ibuprofen in Paris.",
}
BATCH_EXAMPLE = {
    "tagger": "conll@1",
    "texts": ["Angela Merkel visited Paris.", "Apple opened an office in Berlin."],
    "threshold": 0.5,
}


class ExtractRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                ZERO_SHOT_EXAMPLE,
                DESCRIBED_EXAMPLE,
                EXTRACT_EXAMPLE,
                MANY_EXAMPLE,
                BATCH_EXAMPLE,
            ],
            # what the validator below enforces, stated in the schema too
            "allOf": [
                {
                    "oneOf": [
                        {"required": ["text"], "properties": {"text": {"type": "string"}}},
                        {"required": ["texts"], "properties": {"texts": {"type": "array"}}},
                    ]
                },
                {
                    "anyOf": [
                        {"required": ["tagger"]},
                        {"required": ["taggers"]},
                        {"required": ["labels"]},
                    ]
                },
            ],
        },
    )

    tagger: str | None = Field(
        default=None,
        min_length=1,
        max_length=130,
        description="An alias (a tagger's name points at its latest version) or `name@version`.",
    )
    taggers: list[Annotated[str, Field(min_length=1, max_length=130)]] | None = Field(
        default=None,
        min_length=1,
        description="Several taggers (aliases or `name@version`) on the same texts, beside "
        "`labels` if given: one answer each, in order, under `answers`; head taggers over "
        "one encoder share its pass (at most `NUNER_MAX_REQUEST_TAGGERS`).",
    )
    labels: list[str] | dict[str, str] | None = Field(
        default=None,
        description="Zero-shot: entity labels, or a map from label to the description the "
        "encoder reads in its place (limits: `NUNER_ZERO_SHOT_MAX_LABELS`, "
        "`NUNER_MAX_LABEL_CHARS`, `NUNER_ZERO_SHOT_MAX_DESCRIPTION_CHARS`).",
    )
    encoder: str | None = Field(
        default=None,
        min_length=1,
        max_length=130,
        description="Zero-shot: `name` (its latest version) or `name@version`; default: the "
        "default encoder.",
    )
    multi_label: bool = Field(
        default=False,
        strict=True,
        description="Zero-shot: decode every label on its own, so one stretch of text may "
        "carry several labels.",
    )
    text: str | None = Field(default=None, description="One text.")
    texts: list[str] | None = Field(default=None, description="Several texts, tagged together.")
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        description="Drop entities below (default: 0 for a tagger; the encoder's calibrated "
        "threshold for labels).",
    )

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> ExtractRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        if self.tagger is not None and (self.taggers is not None or self.labels is not None):
            raise ValueError("'tagger' stands alone: name several sources with 'taggers'")
        if self.tagger is None and self.taggers is None and self.labels is None:
            raise ValueError("give 'tagger', 'taggers' or 'labels' (zero-shot)")
        if self.labels is None and (self.encoder is not None or self.multi_label):
            raise ValueError("'encoder' and 'multi_label' go with 'labels'")
        if self.taggers is not None and len(set(self.taggers)) != len(self.taggers):
            raise ValueError("'taggers' names a tagger twice")
        return self

    @property
    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class EntityOut(BaseModel):
    start: int = Field(description="Start offset, Unicode code points, into the text as sent.")
    end: int = Field(description="End offset (exclusive).")
    text: str
    label: str
    score: float


class TextResult(BaseModel):
    entities: list[EntityOut]


class Answer(BaseModel):
    tagger: str | None = Field(default=None, description="The tagger `name@version` that answered.")
    encoder: str | None = Field(
        default=None, description="Zero-shot: the encoder `name@version` that answered."
    )
    entities: list[EntityOut] | None = Field(default=None, description="For `text`.")
    results: list[TextResult] | None = Field(default=None, description="For `texts`, in order.")


class ExtractResponse(Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tagger": "conll@1",
                    "entities": [
                        {
                            "start": 0,
                            "end": 13,
                            "text": "Angela Merkel",
                            "label": "PER",
                            "score": 0.98,
                        },
                        {"start": 37, "end": 42, "text": "Paris", "label": "LOC", "score": 0.97},
                    ],
                }
            ]
        }
    )

    answers: list[Answer] | None = Field(
        default=None, description="For `taggers`: one answer per tagger, then the labels'."
    )


class VersionOut(BaseModel):
    version: str
    labels: list[str]
    created_at: datetime
    base_model: str
    variants: list[str]
    metrics: dict
    verification: dict
    training: dict
    encoder: str | None = Field(
        default=None, description="A head tagger's encoder `name@version`; none: a full tagger."
    )


class TaggerSummary(BaseModel):
    name: str
    latest: str | None
    versions: list[str]
    labels: list[str]
    encoder: str | None = Field(
        default=None, description="A head tagger's encoder `name@version` (latest version)."
    )


class TaggerDetail(BaseModel):
    name: str
    aliases: dict[str, str] = Field(description="alias -> name@version")
    versions: list[VersionOut]


class TaggerList(BaseModel):
    taggers: list[TaggerSummary]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: object | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    request_id: str | None = None


class EncoderVersionOut(BaseModel):
    version: str
    created_at: datetime
    base_model: str
    variants: list[str]
    threshold: float = Field(description="Decoding threshold for requests that give none.")
    licences: list[str] = Field(description="Licences of the pre-training data.")
    non_commercial: bool = Field(
        description="Pre-trained on non-commercial data (e.g. CC BY-NC): the weights inherit it."
    )
    pretraining: dict = Field(description="Pre-training data summary and configuration.")
    metrics: dict
    verification: dict


class EncoderSummary(BaseModel):
    name: str
    latest: str
    versions: list[str]
    non_commercial: bool = Field(description="The latest version's pre-training data is.")


class EncoderList(BaseModel):
    default: str | None = Field(description="The default encoder's `name@version`, if any.")
    default_reference: str | None = Field(
        description="What the default is set to (a bare name follows its latest version)."
    )
    encoders: list[EncoderSummary]


class EncoderDetail(BaseModel):
    name: str
    is_default: bool
    versions: list[EncoderVersionOut]


class DefaultEncoderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(
        min_length=1, max_length=130, description="`name` (follows its latest) or `name@version`."
    )
