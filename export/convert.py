"""Make the ONNX variants: fp32 with optimum-onnx, int8 by dynamic quantisation,
fp16 by float conversion with fp32 inputs and outputs kept."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from nuner.export.onnx_config import onnx_config_for
from nuner.training.model import NunerTagger


@contextmanager
def tracing_quietly() -> Iterator[None]:
    """Silence the tracer's warnings about values it records as constants (the
    attention-mask arithmetic of transformers' encoders): they are not for users
    to act on, and every bundle is checked against torch on labelled sentences
    after the export (nuner.export.verify), which is what catches a wrong trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def export_fp32(model: NunerTagger, path: Path) -> Path:
    from optimum.exporters.onnx import export

    model = model.to("cpu").eval()
    with tracing_quietly():
        export(model, onnx_config_for(model), path, device="cpu")
    return path


def quantize_int8(source: Path, target: Path, per_channel: bool = True) -> Path:
    """Dynamic quantisation: int8 weights, activations quantised at run time (CPU).

    ORT's recommended pre-processing (shape inference, graph optimisation) runs
    first, into a temporary file beside the target.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_name(f".{target.name}.prepared")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(prepared, target, weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        prepared.unlink(missing_ok=True)
    return target


def convert_fp16(source: Path, target: Path) -> Path:
    """Half-precision weights and compute for GPU; int64 inputs and fp32 logits unchanged."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
    return target


CONVERTERS = {"int8": quantize_int8, "fp16": convert_fp16}
