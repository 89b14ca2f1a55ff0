"""Examples -> fine-tuned, exported, verified and published tagger version.

The one pipeline behind ``nuner create-tagger`` and the fine-tune worker.
Imports torch (through training and export), so only those import it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from app.registry import Registry, TaggerVersion
from export.bundle_writer import check_name, write_bundle
from export.verify import Tolerances
from nuner.types import Example
from training.checkpoint import load_fast_tokenizer, save_checkpoint
from training.finetune import FinetuneConfig, finetune


def build_and_publish(
    registry: Registry,
    name: str,
    backbone: str,
    train: Sequence[Example],
    config: FinetuneConfig,
    dev: Sequence[Example] | None = None,
    variants: Sequence[str] = ("fp32", "int8"),
    tolerances: Tolerances | None = None,
    licences: Sequence[str] = (),
    on_epoch: Callable[[dict], None] | None = None,
    show_progress: bool = True,
) -> TaggerVersion:
    check_name("tagger name", name)
    result = finetune(
        backbone, train, config, dev=dev, on_epoch=on_epoch, show_progress=show_progress
    )
    version = registry.next_version(name)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=registry.bundles_dir))
    try:
        checkpoint = work / "checkpoint"
        data = {"train_examples": len(train), "dev_examples": len(dev or [])}
        info = result.training_info(config, backbone, data)
        save_checkpoint(checkpoint, result.model, load_fast_tokenizer(backbone), info)
        target = registry.bundle_path(name, version)
        write_bundle(
            checkpoint, target, name, version, list(dev or train), variants, tolerances, licences
        )
        return registry.publish(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
