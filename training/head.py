"""Train a head tagger on the token vectors a served encoder bundle computes.

The head is one logistic scorer per label over the encoder's unit token
vectors (nuner.core.head): training reads the features from the very ONNX
encoder that will serve it (so serving and training agree), once, then fits
the weights with full-batch Adam in numpy: no torch, a second or so on a CPU.

Warm start: the weights begin as the zero-shot scorer of the label names (or
their descriptions), ``scale * label_vector`` and ``bias``, and an L2 pull
towards that start keeps what the names know where the examples say
nothing; with no example (or no step) the head is the zero-shot tagger.
Cold start: zero weights, each bias at its label's share of tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nuner.core.alignment import align_spans
from nuner.core.concepts import concept_read
from nuner.core.head import HeadWeights, TokenVectors, decode_head
from nuner.core.hyperparameters import HEAD_DEFAULTS, HeadFitConfig
from nuner.core.labels import LabelSet
from nuner.core.onnx_encoder import OnnxEncoder, sigmoid
from nuner.core.types import Example
from nuner.training.metrics import EntityReport, entity_scores


@dataclass
class FittedHead:
    labels: list[str]
    weights: HeadWeights
    threshold: float
    history: list[dict] = field(default_factory=list)


def head_labels(examples: Sequence[Example]) -> list[str]:
    """The labels a head learns: every label of the examples, sorted (as taggers' are)."""
    return list(LabelSet.from_types(label for e in examples for label in e.labels).entity_types)


def token_targets(
    features: TokenVectors, examples: Sequence[Example], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Content tokens of every example: vectors ``(n, hidden)`` and 0/1 targets
    ``(n, labels)``, spans aligned to sub-words as for every tagger."""
    label_set = LabelSet(tuple(labels))
    inputs, targets = [], []
    for (encoded, vectors), example in zip(features, examples, strict=True):
        tag_ids = align_spans(encoded, example.spans, label_set).tag_ids
        content = encoded.has_content
        target = np.zeros((len(encoded), len(labels)), np.float32)
        for index, label in enumerate(labels):
            inside = (tag_ids == label_set.begin_id(label)) | (
                tag_ids == label_set.inside_id(label)
            )
            target[inside, index] = 1.0
        inputs.append(vectors[content])
        targets.append(target[content])
    return np.concatenate(inputs), np.concatenate(targets)


def cold_start(targets: np.ndarray, hidden: int) -> HeadWeights:
    share = np.clip(targets.mean(axis=0), 1e-3, 1 - 1e-3)
    return HeadWeights(
        np.zeros((targets.shape[1], hidden), np.float32),
        np.log(share / (1 - share)).astype(np.float32),
    )


def fit_weights(
    inputs: np.ndarray, targets: np.ndarray, start: HeadWeights, config: HeadFitConfig
) -> tuple[HeadWeights, list[dict]]:
    """Full-batch Adam on the mean binary cross-entropy plus ``l2 * |W - W0|^2 / 2``."""
    weights, bias = start.weights.copy(), start.bias.copy()
    moments = [np.zeros_like(weights), np.zeros_like(bias)]
    squares = [np.zeros_like(weights), np.zeros_like(bias)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    history = []
    for step in range(1, config.steps + 1):
        probs = sigmoid(inputs @ weights.T + bias)
        error = (probs - targets) / len(inputs)
        grads = [error.T @ inputs + config.l2 * (weights - start.weights), error.sum(axis=0)]
        for param, grad, moment, square in zip(
            (weights, bias), grads, moments, squares, strict=True
        ):
            moment *= beta1
            moment += (1 - beta1) * grad
            square *= beta2
            square += (1 - beta2) * grad * grad
            corrected = moment / (1 - beta1**step)
            param -= config.learning_rate * corrected / (np.sqrt(square / (1 - beta2**step)) + eps)
        if step == config.steps or step % 50 == 0:
            clipped = np.clip(probs, 1e-7, 1 - 1e-7)
            loss = -np.mean(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped))
            history.append({"step": step, "loss": round(float(loss), 5)})
    return HeadWeights(weights, bias), history


def head_report(
    outputs: TokenVectors,
    weights: HeadWeights,
    labels: Sequence[str],
    threshold: float,
    examples: Sequence[Example],
) -> EntityReport:
    """Strict entity scores of a head on ``examples`` (``outputs``: their token
    vectors), decoded as the service decodes it."""
    found = decode_head(outputs, weights, labels, threshold)
    predicted = [[entity.span for entity in entities] for entities in found]
    return entity_scores([e.spans for e in examples], predicted)


def fit_head(
    encoder: OnnxEncoder,
    train: Sequence[Example],
    config: HeadFitConfig = HEAD_DEFAULTS,
    descriptions: Mapping[str, str] | None = None,
) -> FittedHead:
    """A head for the labels of ``train``, on ``encoder``'s token vectors."""
    labels = head_labels(train)
    features = encoder.encode_texts([e.text for e in train])
    inputs, targets = token_targets(features, train, labels)
    if config.warm_start:
        reads = [concept_read(label, descriptions) for label in labels]
        start = HeadWeights.from_labels(encoder, reads)
    else:
        start = cold_start(targets, inputs.shape[1])
    weights, history = fit_weights(inputs, targets, start, config)
    threshold = encoder.manifest.threshold if config.threshold is None else config.threshold
    return FittedHead(labels, weights, threshold, history)
