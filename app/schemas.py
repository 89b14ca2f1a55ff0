"""Request and response models of the HTTP API (with OpenAPI examples)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXTRACT_EXAMPLE = {"tagger": "conll", "text": "Angela Merkel met Emmanuel Macron in Paris."}
BATCH_EXAMPLE = {
    "tagger": "conll@1",
    "texts": ["Angela Merkel visited Paris.", "Apple opened an office in Berlin."],
    "threshold": 0.5,
}


class ExtractRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [EXTRACT_EXAMPLE, BATCH_EXAMPLE],
            # what the validator below enforces, stated in the schema too
            "oneOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
                {"required": ["texts"], "properties": {"texts": {"type": "array"}}},
            ],
        },
    )

    tagger: str = Field(
        min_length=1,
        max_length=130,
        description="An alias (a tagger's name points at its latest version) or `name@version`.",
    )
    text: str | None = Field(default=None, description="One text.")
    texts: list[str] | None = Field(default=None, description="Several texts, tagged together.")
    threshold: float = Field(
        default=0.0, ge=0.0, le=1.0, strict=True, description="Drop entities below."
    )

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> ExtractRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
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


class ExtractResponse(BaseModel):
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

    tagger: str = Field(description="The `name@version` that answered.")
    entities: list[EntityOut] | None = Field(default=None, description="For `text`.")
    results: list[TextResult] | None = Field(default=None, description="For `texts`, in order.")


class VersionOut(BaseModel):
    version: str
    labels: list[str]
    created_at: datetime
    base_model: str
    variants: list[str]
    metrics: dict
    verification: dict
    training: dict


class TaggerSummary(BaseModel):
    name: str
    latest: str | None
    versions: list[str]
    labels: list[str]


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
