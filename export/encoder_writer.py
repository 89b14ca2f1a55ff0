"""A pre-trained dual encoder (the directory ``nuner pretrain`` writes) -> a
verified encoder bundle (``nuner export-encoder``; format in
nuner.core.encoder_bundle).

Both sub-networks become ONNX graphs that output unit vectors: the text
encoder per token, the concept encoder per name (mean over its sub-words).
Each variant is checked against torch on labelled sentences before anything
is written: the cosine of every token vector and every label vector, and the
label each token would take, and the zero-shot entities decoded from them.
fp32 must pass; int8 is kept only where it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn

from nuner.core.atomic import atomic_directory
from nuner.core.bundle import TOKENIZER, BundleError, check_name, file_hashes
from nuner.core.concepts import MAX_CONCEPT_TOKENS, normalize_concept
from nuner.core.decoding import merge_windows
from nuner.core.encoder_bundle import (
    ENCODER_FILES,
    ENCODER_FORMAT_VERSION,
    EncoderManifest,
    EncoderVariant,
    is_non_commercial,
)
from nuner.core.encoding import EncodedText, TextEncoder, Window, pad_batch, pad_batch_ids
from nuner.core.onnx_encoder import VECTORS, OnnxEncoder, sigmoid
from nuner.core.onnx_tagger import CPU, open_session
from nuner.core.types import Example
from nuner.core.zero_shot import decode_zero_shot
from nuner.export.calibrate import CalibrationSet, calibrate_threshold
from nuner.export.convert import quantize_int8, tracing_quietly
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.pretrain.model import DualEncoder, load_dual_encoder

INPUTS = ("input_ids", "attention_mask")
OPSET = 17


class EncoderTolerances(BaseModel):
    min_cosine: dict[str, float] = Field(
        default_factory=lambda: {"fp32": 0.9999, "int8": 0.95},
        description="Smallest cosine between a variant's vector and torch's, per variant.",
    )
    min_label_agreement: float = Field(
        default=0.98, ge=0, le=1, description="Share of tokens that take torch's label."
    )
    min_entity_agreement: float = Field(
        default=0.95,
        ge=0,
        le=1,
        description="Zero-shot entities (threshold 0.5) found by both / by either.",
    )


@dataclass(frozen=True)
class EncoderCheck:
    variant: str
    tokens: int
    labels: int
    min_token_cosine: float
    min_label_cosine: float
    token_label_agreement: float
    entity_agreement: float
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class Probe:
    """What verification feeds both backends: the sentences' padded windows and
    their label names (and what it takes to decode entities from them)."""

    windows: tuple[np.ndarray, np.ndarray]
    labels: tuple[np.ndarray, np.ndarray]
    texts: list[EncodedText]
    window_list: list[Window]
    names: list[str]


class _TokenVectors(nn.Module):
    def __init__(self, dual: DualEncoder) -> None:
        super().__init__()
        self.dual = dual

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.dual.token_vectors(input_ids, attention_mask)


class _ConceptVectors(_TokenVectors):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.dual.concept_vectors(input_ids, attention_mask)


def write_encoder_bundle(
    backbone: str | Path,
    target: str | Path,
    name: str,
    version: str,
    verification_examples: Sequence[Example],
    variants: Sequence[str] = ("fp32", "int8"),
    tolerances: EncoderTolerances | None = None,
    licences: Sequence[str] = (),
    calibration: CalibrationSet | None = None,
) -> EncoderManifest:
    """Export, verify and write atomically; int8 (always optional) is left out,
    with the reason in the manifest, when it fails verification. With held-out
    ``calibration`` data, the default threshold is the one that does best there
    (with the variant CPUs serve)."""
    check_name("encoder name", name)
    check_name("version", version)
    backbone, target = Path(backbone), Path(target)
    if target.exists():
        raise BundleError(f"{target} already exists: bundles are immutable")
    if not verification_examples:
        raise BundleError("verification needs labelled example sentences")
    dual, info = load_dual_encoder(backbone)
    tokenizer = load_fast_tokenizer(str(backbone))
    encoder = text_encoder_for(tokenizer, 256, 32)
    probe = _probe(encoder, tokenizer, verification_examples)
    reference = _torch_outputs(dual, probe)
    tolerances = tolerances or EncoderTolerances()
    scorer = (info["logit_scale"], info["logit_bias"])
    with atomic_directory(target) as staging:
        tokenizer.backend_tokenizer.save(str(staging / TOKENIZER))
        text_file, concept_file = ENCODER_FILES["fp32"]
        _export(_TokenVectors(dual), staging / text_file, per_token=True)
        _export(_ConceptVectors(dual), staging / concept_file, per_token=False)
        records, refused = {}, {}
        for variant in ["fp32", *[v for v in variants if v != "fp32"]]:
            files = _make_variant(staging, variant)
            candidate = _onnx_outputs(staging, files, probe)
            check = _check(variant, reference, candidate, probe, scorer, tolerances)
            if check.passed:
                records[variant] = EncoderVariant(
                    text=files[0], concept=files[1], verification=asdict(check)
                )
            elif variant == "fp32":
                raise BundleError(f"fp32 encoder export refused: {check.reason}")
            else:
                refused[variant] = check.reason
                for file in files:
                    (staging / file).unlink()
        all_licences = sorted({*licences, *info.get("licences", [])})
        manifest = EncoderManifest(
            format_version=ENCODER_FORMAT_VERSION,
            name=name,
            version=version,
            base_model=info.get("base_model", ""),
            max_length=encoder.max_length,
            stride=encoder.stride,
            max_concept_tokens=MAX_CONCEPT_TOKENS,
            logit_scale=info["logit_scale"],
            logit_bias=info["logit_bias"],
            created_at=datetime.now(timezone.utc),
            pretraining={k: info.get(k) for k in ("data", "config", "concepts", "history")},
            licences=all_licences,
            non_commercial=is_non_commercial(all_licences),
            metrics={"refused_variants": refused} if refused else {},
            variants=records,
            files=file_hashes(staging),
        )
        (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2))
        if calibration is not None:
            found = calibrate_threshold(OnnxEncoder(staging, device="cpu"), calibration)
            metrics = {
                **manifest.metrics,
                "calibration": {**found.to_dict(), "data": calibration.source},
            }
            manifest = manifest.model_copy(
                update={"threshold": found.threshold, "metrics": metrics}
            )
            (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return manifest


def _export(module: nn.Module, path: Path, per_token: bool) -> None:
    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes[VECTORS] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
    with tracing_quietly():
        torch.onnx.export(
            module.eval(),
            (dummy, dummy),
            str(path),
            input_names=list(INPUTS),
            output_names=[VECTORS],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter, as optimum-onnx uses for taggers
        )


def _make_variant(staging: Path, variant: str) -> tuple[str, str]:
    files = ENCODER_FILES[variant]
    if variant == "int8":
        for fp32, int8 in zip(ENCODER_FILES["fp32"], files, strict=True):
            quantize_int8(staging / fp32, staging / int8)
    elif variant != "fp32":
        raise BundleError(f"unknown encoder variant {variant!r} (fp32, int8)")
    return files


def _probe(encoder: TextEncoder, tokenizer, examples: Sequence[Example]) -> Probe:
    texts = [encoder.encode(e.text) for e in examples]
    windows = [w for i, encoded in enumerate(texts) for w in encoder.windows(encoded, i)]
    names = sorted({normalize_concept(s.label) for e in examples for s in e.spans}) or ["entity"]
    ids = [tokenizer(n, truncation=True, max_length=MAX_CONCEPT_TOKENS)["input_ids"] for n in names]
    batch = pad_batch(windows, encoder.pad_id)
    padded = (batch.input_ids, batch.attention_mask), pad_batch_ids(ids, encoder.pad_id)
    return Probe(*padded, texts, windows, names)


@dataclass(frozen=True)
class _Outputs:
    tokens: np.ndarray  # (windows, seq, hidden), padding included
    labels: np.ndarray  # (labels, hidden)


def _torch_outputs(dual: DualEncoder, probe: Probe) -> _Outputs:
    with torch.no_grad():
        tokens = dual.token_vectors(*(torch.from_numpy(a) for a in probe.windows))
        labels = dual.concept_vectors(*(torch.from_numpy(a) for a in probe.labels))
    return _Outputs(tokens.numpy(), labels.numpy())


def _onnx_outputs(staging: Path, files: tuple[str, str], probe: Probe) -> _Outputs:
    text, concept = (open_session(staging / f, CPU) for f in files)
    return _Outputs(_run(text, probe.windows), _run(concept, probe.labels))


def _run(session, arrays: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.asarray(session.run([VECTORS], dict(zip(INPUTS, arrays, strict=True)))[0])


def _check(
    variant: str,
    reference: _Outputs,
    candidate: _Outputs,
    probe: Probe,
    scorer: tuple[float, float],
    tolerances: EncoderTolerances,
) -> EncoderCheck:
    real = probe.windows[1].astype(bool)  # the attention mask: real tokens only
    tokens = _cosines(reference.tokens[real], candidate.tokens[real])
    labels = _cosines(reference.labels, candidate.labels)
    agreement = float(
        np.mean(
            _decisions(reference.tokens[real], reference.labels, scorer)
            == _decisions(candidate.tokens[real], candidate.labels, scorer)
        )
    )
    entities = _jaccard(_entities(reference, probe, scorer), _entities(candidate, probe, scorer))
    least = tolerances.min_cosine.get(variant, 1.0)
    problems = [
        f"{what} cosine {value:.5f} < {least}"
        for what, value in (("token", tokens.min()), ("label", labels.min()))
        if value < least
    ]
    if agreement < tolerances.min_label_agreement:
        problems.append(f"token labels agree {agreement:.4f} < {tolerances.min_label_agreement}")
    if entities < tolerances.min_entity_agreement:
        problems.append(f"entities agree {entities:.4f} < {tolerances.min_entity_agreement}")
    return EncoderCheck(
        variant=variant,
        tokens=int(real.sum()),
        labels=len(labels),
        min_token_cosine=float(tokens.min()),
        min_label_cosine=float(labels.min()),
        token_label_agreement=agreement,
        entity_agreement=entities,
        passed=not problems,
        reason="; ".join(problems),
    )


def _entities(outputs: _Outputs, probe: Probe, scorer: tuple[float, float]) -> set[tuple]:
    """The zero-shot entities of every probe sentence, decoded as the service does."""
    scale, bias = scorer
    lengths = probe.windows[1].sum(axis=1)
    rows: list[list[int]] = [[] for _ in probe.texts]
    for row, window in enumerate(probe.window_list):
        rows[window.text_index].append(row)
    found = set()
    for index, (encoded, ids) in enumerate(zip(probe.texts, rows, strict=True)):
        scores = [
            sigmoid(scale * outputs.tokens[r, : lengths[r]] @ outputs.labels.T + bias) for r in ids
        ]
        merged = merge_windows(len(encoded), [probe.window_list[r] for r in ids], scores)
        entities = decode_zero_shot(encoded, merged, probe.names)
        found |= {(index, e.start, e.end, e.label) for e in entities}
    return found


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return (a * b).sum(-1) / np.maximum(norms, 1e-12)


def _decisions(tokens: np.ndarray, labels: np.ndarray, scorer: tuple[float, float]) -> np.ndarray:
    """The label each token takes (its best above 0.5), or -1 for none."""
    scale, bias = scorer
    logits = scale * tokens @ labels.T + bias
    return np.where(logits.max(-1) > 0, logits.argmax(-1), -1)
