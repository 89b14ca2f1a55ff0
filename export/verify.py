"""Check an ONNX variant against the torch checkpoint before it may be published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from pydantic import BaseModel, Field

from nuner.core.encoding import ModelInputs, TextEncoder, pad_batch
from nuner.core.inference import LogitsFn, TaggerPipeline, batches_by_token_budget
from nuner.core.types import Example
from nuner.training.predict import evaluate_pipeline


class Tolerances(BaseModel):
    """Refuse a variant that loses more than this against the torch checkpoint."""

    max_f1_drop_points: float = Field(default=0.5, ge=0, description="Entity F1 drop, points.")
    max_label_disagreement: float = Field(
        default=0.01, ge=0, le=1, description="Share of tokens whose argmax tag differs."
    )


@dataclass(frozen=True)
class VerificationReport:
    variant: str
    sentences: int
    tokens: int
    max_abs_logit_diff: float
    token_label_agreement: float
    f1_reference: float
    f1_variant: float
    f1_drop_points: float
    passed: bool
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VerificationBatch:
    inputs: ModelInputs
    real: np.ndarray  # True at real (non-special, non-padding) token positions


@dataclass(frozen=True)
class Reference:
    """The torch checkpoint's answers on the verification sentences: computed once,
    then compared with every variant."""

    examples: Sequence[Example]
    batches: list[VerificationBatch]
    logits: list[np.ndarray]
    f1: float

    @classmethod
    def compute(cls, pipeline: TaggerPipeline, examples: Sequence[Example]) -> Reference:
        batches = verification_batches(pipeline.encoder, [e.text for e in examples])
        logits = [np.asarray(pipeline.logits_fn(b.inputs), np.float32) for b in batches]
        return cls(examples, batches, logits, evaluate_pipeline(pipeline, examples).micro.f1)


def verification_batches(encoder: TextEncoder, texts: Sequence[str]) -> list[VerificationBatch]:
    windows = [w for i, t in enumerate(texts) for w in encoder.windows(encoder.encode(t), i)]
    batches = []
    for batch in batches_by_token_budget(windows, 4096):
        inputs = pad_batch([windows[i] for i in batch], encoder.pad_id)
        real = np.zeros(inputs.input_ids.shape, dtype=bool)
        for row, index in enumerate(batch):
            positions = windows[index].token_index >= 0
            real[row, : len(positions)] = positions
        batches.append(VerificationBatch(inputs, real))
    return batches


def compare_logits(reference: Reference, candidate: LogitsFn) -> tuple[float, float, int]:
    """Max |logit difference| and argmax agreement over real (non-special) tokens."""
    max_diff, agree, total = 0.0, 0, 0
    for batch, expected in zip(reference.batches, reference.logits, strict=True):
        actual = np.asarray(candidate(batch.inputs), np.float32)
        real = batch.real
        max_diff = max(max_diff, float(np.abs(expected - actual)[real].max(initial=0.0)))
        agree += int((expected.argmax(-1) == actual.argmax(-1))[real].sum())
        total += int(real.sum())
    return max_diff, agree / total if total else 1.0, total


def verify_variant(
    variant: str, reference: Reference, candidate: TaggerPipeline, tolerances: Tolerances
) -> VerificationReport:
    max_diff, agreement, tokens = compare_logits(reference, candidate.logits_fn)
    f1_variant = evaluate_pipeline(candidate, reference.examples).micro.f1
    drop = 100 * (reference.f1 - f1_variant)
    reasons = []
    if drop > tolerances.max_f1_drop_points:
        reasons.append(f"entity F1 drops {drop:.2f} points (> {tolerances.max_f1_drop_points})")
    if 1 - agreement > tolerances.max_label_disagreement:
        reasons.append(
            f"{100 * (1 - agreement):.2f}% of token labels disagree "
            f"(> {100 * tolerances.max_label_disagreement:.2f}%)"
        )
    return VerificationReport(
        variant=variant,
        sentences=len(reference.examples),
        tokens=tokens,
        max_abs_logit_diff=max_diff,
        token_label_agreement=agreement,
        f1_reference=reference.f1,
        f1_variant=f1_variant,
        f1_drop_points=drop,
        passed=not reasons,
        reason="; ".join(reasons),
    )
