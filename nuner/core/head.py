"""A head tagger at serving time: its weights applied to the token vectors
that its encoder computed once for every tagger of the request, decoded with
the zero-shot policy (nuner.core.zero_shot), torch-free.

With weights ``scale * label_vectors`` and bias ``bias`` a head scores exactly
as zero-shot labels do; training moves it from there (nuner.training.head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nuner.core.bundle import BundleError
from nuner.core.encoding import EncodedText
from nuner.core.head_bundle import HEAD_FILE, EncoderMismatch, HeadManifest, verify_head_bundle
from nuner.core.onnx_encoder import OnnxEncoder, sigmoid
from nuner.core.types import Entity
from nuner.core.zero_shot import decode_zero_shot

TokenVectors = Sequence[tuple[EncodedText, np.ndarray]]  # an encoder's output per text


@dataclass(frozen=True)
class HeadWeights:
    weights: np.ndarray  # (labels, hidden) float32
    bias: np.ndarray  # (labels,) float32

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """``(tokens, labels)`` probabilities."""
        logits = vectors @ self.weights.T
        logits += self.bias
        return sigmoid(logits)

    @classmethod
    def from_labels(cls, encoder: OnnxEncoder, reads: Sequence[str]) -> HeadWeights:
        """The zero-shot scorer of these label names (or descriptions) as a head."""
        vectors = encoder.label_vectors(reads) * np.float32(encoder.manifest.logit_scale)
        bias = np.full(len(reads), encoder.manifest.logit_bias, np.float32)
        return cls(vectors.astype(np.float32), bias)

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(handle, weights=self.weights, bias=self.bias)

    @classmethod
    def load(cls, path: Path) -> HeadWeights:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(arrays["weights"].astype(np.float32), arrays["bias"].astype(np.float32))


class HeadTagger:
    """A verified head bundle, loaded (a few KB per label)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest: HeadManifest = verify_head_bundle(self.directory)
        self.weights = HeadWeights.load(self.directory / HEAD_FILE)
        rows, _ = self.weights.weights.shape
        if rows != len(self.labels) or self.weights.bias.shape != (rows,):
            raise BundleError(f"{self.directory}: head weights do not match its {rows} labels")

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels

    def check_encoder(self, encoder: OnnxEncoder) -> None:
        """Apply only to the very encoder bundle it was trained on."""
        pin = self.manifest.encoder
        if encoder.digest != pin.sha256 or encoder.manifest.name != pin.name:
            raise EncoderMismatch(
                f"tagger {self.manifest.name}@{self.manifest.version} was trained on encoder "
                f"{pin.ref} (sha256 {pin.sha256[:12]}...), not on the bundle loaded as "
                f"{encoder.manifest.name}@{encoder.manifest.version}"
            )

    def decode(self, outputs: TokenVectors, threshold: float) -> list[list[Entity]]:
        return decode_head(outputs, self.weights, self.labels, threshold)


def decode_head(
    outputs: TokenVectors, weights: HeadWeights, labels: Sequence[str], threshold: float
) -> list[list[Entity]]:
    """Entities per text from its encoder's token vectors (zero-shot decoding policy)."""
    return [
        decode_zero_shot(encoded, weights.scores(vectors), labels, threshold)
        for encoded, vectors in outputs
    ]
