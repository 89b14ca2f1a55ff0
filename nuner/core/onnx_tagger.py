"""Run a verified tagger bundle with ONNX Runtime: tokenizers + numpy, no torch.

Execution provider: CUDA only when onnxruntime offers it *and* a session
really initialises on it (a missing CUDA/cuDNN library makes ORT fall back
silently, so the session's providers are checked), else CPU.
Variant ``auto``: fp16 on CUDA, int8 on CPU, when the bundle has them; fp32 otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from nuner.core.bundle import TOKENIZER, VARIANT_FILES, BundleError, Manifest, verify_bundle
from nuner.core.decoding import Aggregation
from nuner.core.encoding import ModelInputs, TextEncoder
from nuner.core.inference import LogitsFn, TaggerPipeline
from nuner.core.labels import LabelSet
from nuner.core.types import Entity

logger = logging.getLogger(__name__)
Device = Literal["auto", "cpu", "cuda"]
T = TypeVar("T")
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
PREFERRED_VARIANT = {CUDA: "fp16", CPU: "int8"}


def session_options(threads: int | None, spinning: bool = True):
    """``spinning=False`` stops ORT's idle threads from busy-waiting between
    batches, which a server needs so its event loop gets the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def cuda_offered() -> bool:
    import onnxruntime as ort

    return CUDA in ort.get_available_providers()


def open_session(
    model_path: Path, provider: str, threads: int | None = None, spinning: bool = True
):
    """An InferenceSession on ``provider``; raises BundleError if it does not run there."""
    import onnxruntime as ort

    providers = [CUDA, CPU] if provider == CUDA else [CPU]
    options = session_options(threads, spinning)
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as error:  # ORT raises its own exception types
        raise BundleError(f"cannot open {model_path.name} on {provider}: {error}") from error
    if session.get_providers()[0] != provider:
        raise BundleError(f"{model_path.name}: {provider} did not initialise")
    return session


def session_logits_fn(session) -> LogitsFn:
    """The pipeline's backend function for an ONNX Runtime session."""
    names = {i.name for i in session.get_inputs()}

    def run(inputs: ModelInputs) -> np.ndarray:
        return session.run(["logits"], inputs.feeds(names))[0]

    return run


def open_on_best_provider(device: Device, open_on: Callable[[str], T]) -> tuple[str, T]:
    """``open_on(provider)`` on CUDA where onnxruntime offers it and a session
    really starts there (``device`` auto or cuda), else on CPU; returns the
    provider used and what ``open_on`` returned."""
    if device == "cuda" and not cuda_offered():
        raise BundleError("device 'cuda' requested but onnxruntime offers no CUDA provider")
    if device in ("auto", "cuda") and cuda_offered():
        try:
            return CUDA, open_on(CUDA)
        except BundleError as error:
            if device == "cuda":
                raise
            logger.warning("CUDA unusable, falling back to CPU: %s", error)
    return CPU, open_on(CPU)


def choose_variant(manifest: Manifest, variant: str, provider: str) -> str:
    if variant != "auto":
        if variant not in manifest.variants:
            raise BundleError(f"bundle has no {variant} variant (has {sorted(manifest.variants)})")
        return variant
    preferred = PREFERRED_VARIANT[provider]
    return preferred if preferred in manifest.variants else "fp32"


class OnnxTagger:
    """A loaded bundle: ``tagger(texts)`` returns entities per text."""

    def __init__(
        self,
        directory: str | Path,
        variant: str = "auto",
        device: Device = "auto",
        threads: int | None = None,
        max_batch_tokens: int = 8192,
        aggregation: Aggregation | None = None,
        spinning: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.manifest = verify_bundle(self.directory)
        self.spinning = spinning
        self.provider, (self.session, self.variant) = open_on_best_provider(
            device, lambda provider: self._open(variant, provider, threads)
        )
        encoder = TextEncoder.from_file(
            self.directory / TOKENIZER,
            max_length=self.manifest.max_length,
            stride=self.manifest.stride,
        )
        self.pipeline = TaggerPipeline(
            encoder,
            LabelSet.from_tags(self.manifest.tags),
            session_logits_fn(self.session),
            max_batch_tokens,
            aggregation or self.manifest.aggregation,  # type: ignore[arg-type]
            decoding=self.manifest.decoding,
        )

    def _open(self, variant: str, provider: str, threads: int | None):
        chosen = choose_variant(self.manifest, variant, provider)
        path = self.directory / VARIANT_FILES[chosen]
        return open_session(path, provider, threads, self.spinning), chosen

    def __call__(self, texts: Sequence[str], threshold: float = 0.0) -> list[list[Entity]]:
        return self.pipeline(texts, threshold)

    def tag(self, texts: Sequence[str], threshold: float = 0.0) -> tuple[list[list[Entity]], int]:
        """Entities per text and the sub-word tokens read; safe to call concurrently."""
        return self.pipeline.tag(texts, threshold)
