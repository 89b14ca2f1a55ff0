"""The starter encoder: zero-shot entities from the very first start.

On the embedded default, ``nuner serve`` finds no encoder published and
builds one: the packaged backbone pre-trained (``nuner pretrain``) on the
packaged MIT-licensed NuNER sample, exported as a verified encoder bundle
with its threshold calibrated on a held-out tenth of that sample, published
and made the default. Later starts find it in the registry and reuse it; an
interrupted build resumes from its last epoch checkpoint. Pre-training data
under non-commercial terms never goes into it. Scaled out (PostgreSQL), an
operator publishes encoders (``nuner build-starter-encoder`` is this same
build as a one-off command).
"""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import replace
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from nuner.app.encoder_registry import EncoderVersion
from nuner.app.registry import Registry
from nuner.app.settings import Settings
from nuner.core.atomic import exclusive_lock
from nuner.core.backbones import PRETRAINING_FILE, STARTER_BACKBONE, starter_built
from nuner.core.concepts import normalize_concept
from nuner.core.datasets import read_jsonl
from nuner.core.settings import NunerSettings
from nuner.core.types import Example

logger = logging.getLogger("nuner.starter")

STARTER_NAME = "starter"
STARTER_VERSION = "1"
STARTER_DATA = "nuner_sample1k"
HELD_OUT_SHARE = 0.1  # for verification and threshold calibration, never trained on
SEED = 0
# Pre-training of the starter: the packaged sample is ~1k sentences, so a few
# epochs take minutes on 2 CPU cores (docs/zeroshot.md records the choice); every
# layer trained, none frozen: better zero-shot and better few-shot taggers on it,
# both chosen on dev (docs/levers.md: starter-f0), for ~1.7x the build time
# (docs/first_start.md: 286 s against 168 s).
STARTER_PRETRAINING = {"epochs": 3, "learning_rate": 1e-4, "frozen_layers": 0}


def starter_data() -> Path:
    return Path(str(resources.files("nuner.data") / STARTER_DATA / "train.jsonl"))


def applies(settings: Settings) -> bool:
    """Settings alone: the embedded default, the starter on, no default pinned."""
    return settings.starter_encoder and not settings.uses_postgres and not settings.default_encoder


def can_build() -> bool:
    """The build needs the training and export extras (the API image has neither)."""
    return all(find_spec(module) is not None for module in ("torch", "transformers", "optimum"))


def wanted(settings: Settings, registry: Registry) -> bool:
    """Embedded default, enabled, and no encoder published or pinned yet."""
    if not applies(settings) or registry.encoders.names():
        return False
    if not can_build():
        logger.warning(
            "no encoder published, and this install cannot build the starter one (needs "
            "the 'export' extra): zero-shot requests answer no_default_encoder until "
            "`nuner publish-encoder` adds one"
        )
        return False
    return True


def ensure_starter_encoder(settings: Settings) -> EncoderVersion | None:
    """Build and publish the starter encoder if this service has none (once);
    the store is opened only where a starter applies at all."""
    if not applies(settings):
        return None
    _adopt_earlier_build(settings)
    registry = Registry.from_settings(settings)
    if not wanted(settings, registry):
        return None
    with exclusive_lock(_work_dir(settings) / "build.lock"):
        if registry.encoders.names():  # another process built it meanwhile
            return None
        return build_starter_encoder(registry, settings)


def _adopt_earlier_build(settings: NunerSettings) -> None:
    """Builds before 2026-12-03 left the pre-trained encoder in the work directory,
    where the fine-tune default does not look: move it to the ``starter`` backbone."""
    earlier = settings.home_dir / "starter" / "pretrained"
    if (earlier / PRETRAINING_FILE).is_file() and not starter_built(settings.backbones_dir):
        settings.backbones_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(settings.backbones_dir / STARTER_BACKBONE, ignore_errors=True)
        earlier.rename(settings.backbones_dir / STARTER_BACKBONE)
        logger.warning("moved the starter's pre-trained encoder to the backbone 'starter'")


def _work_dir(settings: NunerSettings) -> Path:
    work = settings.home_dir / "starter"
    work.mkdir(parents=True, exist_ok=True)
    return work


def build_starter_encoder(registry: Registry, settings: NunerSettings) -> EncoderVersion:
    """The pre-trained dual encoder stays as the ``starter`` backbone, which the
    fine-tune default (``auto``) takes and warm-starts its heads from."""
    from nuner.export.calibrate import CalibrationSet, with_negatives
    from nuner.export.encoder_writer import write_encoder_bundle
    from nuner.training.torch_setup import prepare_torch

    prepare_torch(None)
    _, held_out = split_sample(read_jsonl(starter_data()))
    backbone = settings.backbones_dir / STARTER_BACKBONE
    if not starter_built(settings.backbones_dir):
        logger.warning(
            "first start: building the starter encoder (pre-training on the MIT-licensed "
            "sample, then export and verification; a few minutes on 2 CPU cores, once)"
        )
        pretrain_starter(backbone)
    bundle = _work_dir(settings) / "bundle"
    if bundle.exists():  # written by a build that stopped before publishing
        shutil.rmtree(bundle)
    calibration = CalibrationSet(
        held_out, with_negatives(held_out), source=f"{STARTER_DATA} held-out tenth"
    )
    write_encoder_bundle(
        backbone, bundle, STARTER_NAME, STARTER_VERSION, held_out, calibration=calibration
    )
    published = registry.encoders.publish(bundle, make_default=True)
    shutil.rmtree(bundle)
    logger.warning("starter encoder %s published and made the default", published.ref)
    return published


def pretrain_starter(output: Path, pretraining: dict | None = None) -> None:
    """The packaged backbone pre-trained on the sample less its held-out tenth;
    ``pretraining``: PretrainConfig fields (default STARTER_PRETRAINING), so a
    benchmark can build variants of the starter the same way (bench/common.py)."""
    from nuner.core.backbones import resolve_backbone
    from nuner.training.pretrain.data import load_sources
    from nuner.training.pretrain.trainer import CHECKPOINTS, PretrainConfig, pretrain

    train_texts, held_out = split_sample(read_jsonl(starter_data()))
    examples, sources = load_sources([starter_data()])
    examples = [e for e in examples if e.text in train_texts]
    sources[0].update(sentences=len(examples), held_out=len(held_out))
    config = PretrainConfig(**(pretraining or STARTER_PRETRAINING), seed=SEED)
    pretrain(str(resolve_backbone(None)), examples, config, output, sources)
    shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)  # complete: no resume


def split_sample(examples: list[Example]) -> tuple[set[str], list[Example]]:
    """(texts to pre-train on, held-out examples): a seeded tenth held out, its
    labels normalised as the concept encoder reads them ("Person" = "person")."""
    shuffled = random.Random(SEED).sample(examples, len(examples))
    cut = round(len(shuffled) * HELD_OUT_SHARE)
    held_out = [
        replace(
            e, spans=tuple(sorted({replace(s, label=normalize_concept(s.label)) for s in e.spans}))
        )
        for e in shuffled[:cut]
    ]
    return {e.text for e in shuffled[cut:]}, held_out
