"""optimum-onnx extension point for the tagger: a custom ``OnnxConfig``.

``NunerTagger`` is not a stock transformers class, so optimum needs to be told
its inputs and outputs. The whole model (encoder and head) is traced as one
graph with dynamic batch and sequence axes.
"""

from __future__ import annotations

from optimum.exporters.onnx.config import TextEncoderOnnxConfig
from optimum.utils import NormalizedTextConfig

from nuner.training.model import NunerTagger

DYNAMIC_AXES = {0: "batch_size", 1: "sequence_length"}
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"


class NunerTaggerOnnxConfig(TextEncoderOnnxConfig):
    NORMALIZED_CONFIG_CLASS = NormalizedTextConfig
    DEFAULT_ONNX_OPSET = 17
    ATOL_FOR_VALIDATION = 1e-4

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {name: dict(DYNAMIC_AXES) for name in INPUT_NAMES}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {OUTPUT_NAME: dict(DYNAMIC_AXES)}


def onnx_config_for(model: NunerTagger) -> NunerTaggerOnnxConfig:
    """Dummy inputs only need the encoder's vocabulary and sizes, so the config
    is built on the encoder's HF config."""
    return NunerTaggerOnnxConfig(model.encoder.config, task="token-classification")
