"""Start a tagger's head from the label names (issue 20's "head then fine-tune").

A `nuner pretrain` backbone keeps its concept encoder (``concept_encoder/``) and
the logit scale and bias it was trained with (``pretraining.json``). On unit
token vectors, ``scale * cos(token, name) + bias`` is the zero-shot logit of a
label; written into a linear head over unit features (B-X and I-X alike, O at
the logit of ``threshold``), the tagger starts as the zero-shot tagger of its
label names, and the examples move it from there instead of from a random head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from nuner.core.concepts import MAX_CONCEPT_TOKENS, concept_read
from nuner.core.labels import OUTSIDE_ID, LabelSet
from nuner.training.checkpoint import load_fast_tokenizer
from nuner.training.pretrain.model import CONCEPT_ENCODER, load_dual_encoder


@dataclass(frozen=True)
class LabelNameScorer:
    """The zero-shot scorer of a label set: unit name vectors and the logit's affine map."""

    vectors: torch.Tensor  # (types, hidden), unit rows, in the label set's order
    scale: float
    bias: float
    reads: dict[str, str]  # type -> the name its vector was read from


def names_read(label_set: LabelSet, reads: Mapping[str, str] | None = None) -> list[str]:
    """What the concept encoder reads for each type, in the label set's order."""
    return [concept_read(t, reads) for t in label_set.entity_types]


def label_name_scorer(
    backbone: str, label_set: LabelSet, reads: Mapping[str, str] | None = None
) -> LabelNameScorer:
    """Raises CheckpointError for a backbone with no concept encoder."""
    dual, info = load_dual_encoder(backbone)
    tokenizer = load_fast_tokenizer(f"{backbone}/{CONCEPT_ENCODER}")
    names = names_read(label_set, reads)
    batch = tokenizer(
        names,
        padding=True,
        truncation=True,
        max_length=MAX_CONCEPT_TOKENS,
        return_tensors="pt",
    )
    with torch.no_grad():
        vectors = dual.concept_vectors(batch["input_ids"], batch["attention_mask"])
    read = dict(zip(label_set.entity_types, names, strict=True))
    return LabelNameScorer(vectors, info["logit_scale"], info["logit_bias"], read)


def warm_head_parameters(
    scorer: LabelNameScorer, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of a linear head over unit features, tags ``O, B-X, I-X, ...``:
    a word takes a type when its zero-shot probability beats ``threshold``."""
    types, hidden = scorer.vectors.shape
    weight = torch.zeros(1 + 2 * types, hidden)
    bias = torch.zeros(1 + 2 * types)
    bias[OUTSIDE_ID] = math.log(threshold / (1 - threshold))
    rows = scorer.scale * scorer.vectors
    weight[1::2], weight[2::2] = rows, rows
    bias[1:] = scorer.bias
    return weight, bias
