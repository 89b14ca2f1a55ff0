"""optimum-onnx extension point for the tagger: a custom ``OnnxConfig``.

``NunerTagger`` is not a stock transformers class, so optimum needs to be told
its inputs and outputs. The whole model (encoder and head) is traced as one
graph with dynamic batch and sequence axes.
"""

from __future__ import annotations

from optimum.exporters.onnx.config import TextEncoderOnnxConfig
from optimum.utils import DummyInputGenerator, DummyTextInputGenerator, NormalizedTextConfig

from nuner.core.shapes import NUM_SHAPES
from nuner.training.model import NunerTagger

DYNAMIC_AXES = {0: "batch_size", 1: "sequence_length"}
INPUT_NAMES = ("input_ids", "attention_mask")
SHAPE_INPUT = "shape_ids"  # taggers made with shape features only
OUTPUT_NAME = "logits"


class DummyShapeInputGenerator(DummyInputGenerator):
    """Random word-shape ids of the text inputs' batch and sequence size."""

    SUPPORTED_INPUT_NAMES = (SHAPE_INPUT,)

    def __init__(
        self, task: str, normalized_config, batch_size: int = 2, sequence_length: int = 16, **kwargs
    ) -> None:
        self.task = task
        self.batch_size = batch_size
        self.sequence_length = sequence_length

    def generate(
        self,
        input_name: str,
        framework: str = "pt",
        int_dtype: str = "int64",
        float_dtype: str = "fp32",
    ):
        shape = [self.batch_size, self.sequence_length]
        return self.random_int_tensor(
            shape, max_value=NUM_SHAPES, framework=framework, dtype=int_dtype
        )


class NunerTaggerOnnxConfig(TextEncoderOnnxConfig):
    NORMALIZED_CONFIG_CLASS = NormalizedTextConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (DummyTextInputGenerator, DummyShapeInputGenerator)
    DEFAULT_ONNX_OPSET = 17
    ATOL_FOR_VALIDATION = 1e-4

    def __init__(self, config, task: str, reads_shapes: bool = False) -> None:
        super().__init__(config, task=task)
        self.reads_shapes = reads_shapes

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        names = (*INPUT_NAMES, SHAPE_INPUT) if self.reads_shapes else INPUT_NAMES
        return {name: dict(DYNAMIC_AXES) for name in names}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {OUTPUT_NAME: dict(DYNAMIC_AXES)}


def onnx_config_for(model: NunerTagger) -> NunerTaggerOnnxConfig:
    """Dummy inputs only need the encoder's vocabulary and sizes, so the config
    is built on the encoder's HF config."""
    reads_shapes = model.config.shape_features != "none"
    return NunerTaggerOnnxConfig(
        model.encoder.config, task="token-classification", reads_shapes=reads_shapes
    )
