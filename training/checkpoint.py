"""Fine-tuned checkpoint directories: what ``nuner finetune`` writes and export reads.

Layout (all plain files, weights as safetensors, nothing pickled)::

    config.json          NunerTaggerConfig (encoder config, tags, head, windows)
    model.safetensors    encoder + head weights
    tokenizer.json       fast tokenizer (plus the HF tokenizer files)
    training.json        hyper-parameters, data summary, alignment report, metrics
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from nuner.core.atomic import atomic_directory
from nuner.core.encoding import TextEncoder
from nuner.core.errors import InvalidInput
from nuner.core.labels import LabelSet
from nuner.training.model import NunerTagger

TRAINING_FILE = "training.json"


class CheckpointError(InvalidInput, ValueError):
    """A directory that is not a checkpoint this version can load."""

    code = "invalid_checkpoint"


def load_fast_tokenizer(path: str, local_files_only: bool = True) -> PreTrainedTokenizerFast:
    tokenizer = AutoTokenizer.from_pretrained(
        path, use_fast=True, local_files_only=local_files_only
    )
    if not tokenizer.is_fast:
        raise CheckpointError(f"{path} has no fast tokenizer; offsets need one")
    return tokenizer


def text_encoder_for(
    tokenizer: PreTrainedTokenizerFast, max_length: int, stride: int
) -> TextEncoder:
    return TextEncoder(tokenizer.backend_tokenizer, max_length=max_length, stride=stride)


def window_encoder(model: NunerTagger, tokenizer: PreTrainedTokenizerFast) -> TextEncoder:
    """The encoder that windows text as the checkpoint was trained to see it."""
    return text_encoder_for(tokenizer, model.config.window_length, model.config.window_stride)


def save_checkpoint(
    directory: str | Path,
    model: NunerTagger,
    tokenizer: PreTrainedTokenizerFast,
    training_info: dict,
) -> Path:
    """Written whole or not at all (a crash leaves no half checkpoint)."""
    target = Path(directory)
    with atomic_directory(target, replace=True) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / TRAINING_FILE).write_text(json.dumps(training_info, indent=2, default=str))
    return target


def load_checkpoint(directory: str | Path) -> tuple[NunerTagger, PreTrainedTokenizerFast, dict]:
    path = Path(directory)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{path} is not a tagger checkpoint (config.json/model.safetensors)")
    model = NunerTagger.from_pretrained(path, use_safetensors=True, local_files_only=True)
    tokenizer = load_fast_tokenizer(str(path))
    info_file = path / TRAINING_FILE
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return model.eval(), tokenizer, info


def label_set_of(model: NunerTagger) -> LabelSet:
    return LabelSet.from_tags(model.config.tags)


@dataclass(frozen=True)
class TrainedTagger:
    """A tagger in memory, as fine-tuning leaves it or a checkpoint loads: what
    export reads, so a fresh model is exported without a save-and-reload."""

    model: NunerTagger
    tokenizer: PreTrainedTokenizerFast
    info: dict

    @classmethod
    def load(cls, directory: str | Path) -> TrainedTagger:
        return cls(*load_checkpoint(directory))
