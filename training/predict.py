"""Run a torch tagger through the core (torch-free) inference pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nuner.core.decoding import Aggregation, Decoding
from nuner.core.encoding import ModelInputs, TextEncoder
from nuner.core.inference import LogitsFn, TaggerPipeline
from nuner.core.types import Example, Span
from nuner.training.checkpoint import label_set_of, load_checkpoint, window_encoder
from nuner.training.metrics import EntityReport, entity_scores
from nuner.training.model import NunerTagger


def torch_logits_fn(model: NunerTagger) -> LogitsFn:
    device = next(model.parameters()).device

    def run(inputs: ModelInputs) -> np.ndarray:
        with torch.inference_mode():
            logits = model(
                input_ids=torch.from_numpy(inputs.input_ids).to(device),
                attention_mask=torch.from_numpy(inputs.attention_mask).to(device),
                shape_ids=torch.from_numpy(inputs.shape_ids).to(device),
            ).logits
        return logits.float().cpu().numpy()

    return run


def torch_pipeline(
    model: NunerTagger,
    encoder: TextEncoder,
    aggregation: Aggregation = "average",
    max_batch_tokens: int = 8192,
    decoding: Decoding = "lenient",
) -> TaggerPipeline:
    return TaggerPipeline(
        encoder,
        label_set_of(model),
        torch_logits_fn(model),
        max_batch_tokens,
        aggregation,
        decoding=decoding,
    )


def load_pipeline(directory: str | Path, max_batch_tokens: int = 8192) -> TaggerPipeline:
    """A checkpoint directory as a pipeline, windowed and decoded as it was trained."""
    model, tokenizer, info = load_checkpoint(directory)
    config = info.get("config", {})
    aggregation = config.get("aggregation", "average")
    decoding = config.get("decoding", "lenient")  # checkpoints made before viterbi
    encoder = window_encoder(model, tokenizer)
    return torch_pipeline(model, encoder, aggregation, max_batch_tokens, decoding)


def predict_spans(pipeline: TaggerPipeline, texts: Sequence[str]) -> list[list[Span]]:
    return [[entity.span for entity in entities] for entities in pipeline(texts)]


def evaluate_pipeline(pipeline: TaggerPipeline, examples: Sequence[Example]) -> EntityReport:
    """Strict entity-level scores of a pipeline on labelled examples."""
    predicted = predict_spans(pipeline, [e.text for e in examples])
    return entity_scores([e.spans for e in examples], predicted)
