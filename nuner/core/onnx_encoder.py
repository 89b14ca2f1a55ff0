"""Run a verified encoder bundle with ONNX Runtime: tokenizers + numpy, no torch.

``label_vectors`` reads label names (or descriptions) through the concept
encoder; ``token_scores`` scores every token of every text against them with
the bundle's ``sigmoid(scale * cos + bias)``, over the same overlapping
windows and token-budget batches as taggers. Provider and variant are chosen
as for taggers: CUDA only where a session really runs there; int8 on CPU when
the bundle has it (it is only written when it passed verification).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from nuner.core.bundle import TOKENIZER, BundleError
from nuner.core.concepts import normalize_concept
from nuner.core.encoder_bundle import EncoderManifest, encoder_digest, verify_encoder_bundle
from nuner.core.encoding import EncodedText, ModelInputs, TextEncoder, pad_batch_ids
from nuner.core.inference import per_token_outputs
from nuner.core.onnx_tagger import CPU, Device, open_on_best_provider, open_session
from nuner.core.types import Entity
from nuner.core.zero_shot import decode_zero_shot

VECTORS = "vectors"  # the output of both ONNX graphs


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Through tanh, in place of a float32 copy: half the time of 1 / (1 + exp(-x))
    (the scoring of 100 labels is mostly this), equal to 1e-7."""
    y = np.multiply(x, 0.5, dtype=np.float32)
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


class OnnxEncoder:
    def __init__(
        self,
        directory: str | Path,
        variant: str = "auto",
        device: Device = "auto",
        threads: int | None = None,
        max_batch_tokens: int = 8192,
        spinning: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.manifest: EncoderManifest = verify_encoder_bundle(self.directory)
        self.digest = encoder_digest(self.directory)  # what head taggers pin
        self.max_batch_tokens = max_batch_tokens
        self.provider, self.variant = open_on_best_provider(
            device, lambda provider: self._open_variant(variant, provider, threads, spinning)
        )
        tokenizer = self.directory / TOKENIZER
        self.encoder = TextEncoder.from_file(
            tokenizer, max_length=self.manifest.max_length, stride=self.manifest.stride
        )
        self.concept_tokenizer = Tokenizer.from_file(str(tokenizer))
        self.concept_tokenizer.no_padding()
        self.concept_tokenizer.enable_truncation(self.manifest.max_concept_tokens)

    def _open_variant(
        self, variant: str, provider: str, threads: int | None, spinning: bool
    ) -> str:
        variants = self.manifest.variants
        if variant == "auto":
            variant = "int8" if provider == CPU and "int8" in variants else "fp32"
        if variant not in variants:
            raise BundleError(f"{self.directory}: no {variant} variant (has {sorted(variants)})")
        files = variants[variant]
        self.text_session = open_session(self.directory / files.text, provider, threads, spinning)
        self.concept_session = open_session(
            self.directory / files.concept, provider, threads, spinning
        )
        return variant

    def label_vectors(self, names: Sequence[str]) -> np.ndarray:
        """One unit vector per name, ``(len(names), hidden)``."""
        encodings = self.concept_tokenizer.encode_batch([normalize_concept(n) for n in names])
        input_ids, attention_mask = pad_batch_ids([e.ids for e in encodings], self.encoder.pad_id)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(self.concept_session.run([VECTORS], feeds)[0], np.float32)

    def token_vectors(self, inputs: ModelInputs) -> np.ndarray:
        """Unit vectors ``(batch, seq, hidden)`` of padded windows."""
        feeds = inputs.feeds({i.name for i in self.text_session.get_inputs()})
        return np.asarray(self.text_session.run([VECTORS], feeds)[0], np.float32)

    def encode_texts(self, texts: Sequence[str]) -> list[tuple[EncodedText, np.ndarray]]:
        """Per text, its token vectors ``(tokens, hidden)``, each from the window
        where the token has the most context: labels can then be scored later,
        each request its own."""
        return per_token_outputs(self.encoder, texts, self.token_vectors, self.max_batch_tokens)

    def score(self, token_vectors: np.ndarray, label_vectors: np.ndarray) -> np.ndarray:
        """``(tokens, labels)`` probabilities that a token belongs to a mention of a label."""
        cosine = token_vectors @ label_vectors.T
        return sigmoid(self.manifest.logit_scale * cosine + self.manifest.logit_bias)

    def token_scores(
        self, texts: Sequence[str], label_vectors: np.ndarray
    ) -> list[tuple[EncodedText, np.ndarray]]:
        """Per text, a ``(tokens, labels)`` matrix of probabilities."""
        return [
            (encoded, self.score(vectors, label_vectors))
            for encoded, vectors in self.encode_texts(texts)
        ]

    def extract(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        threshold: float = 0.5,
        multi_label: bool = False,
    ) -> list[list[Entity]]:
        """Zero-shot entities per text for label names (decoding: nuner.core.zero_shot)."""
        vectors = self.label_vectors(labels)
        return [
            decode_zero_shot(encoded, scores, labels, threshold, multi_label)
            for encoded, scores in self.token_scores(texts, vectors)
        ]
