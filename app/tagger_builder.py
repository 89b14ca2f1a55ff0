"""Examples -> fine-tuned, exported, verified and published tagger version.

The one pipeline behind ``nuner create-tagger`` and the fine-tune worker.
Imports torch (through training and export), so only those import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from nuner.app.jobs.builds import BUILD_PREFIX, build_directory
from nuner.app.jobs.states import JobStage
from nuner.app.registry import Registry, TaggerVersion
from nuner.core.bundle import check_name
from nuner.core.types import Example
from nuner.export.bundle_writer import write_bundle
from nuner.export.verify import Tolerances
from nuner.training.checkpoint import TrainedTagger, load_fast_tokenizer
from nuner.training.finetune import FinetuneConfig, finetune


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
    optional_variants: Sequence[str] = (),
    on_stage: Callable[[JobStage], None] | None = None,
    build_prefix: str = BUILD_PREFIX,
    label_reads: Mapping[str, str] | None = None,
) -> TaggerVersion:
    """``on_epoch`` and ``on_stage`` may raise to abandon the build (cancel):
    nothing is published then, and the build directory is removed. A process
    killed mid-build leaves its directory behind; ``build_prefix`` names it so
    that whoever owns the work can sweep it (see app.jobs.runner). ``label_reads``:
    what a warm start's concept encoder reads for a label (its description)."""
    check_name("tagger name", name)
    notify = on_stage or (lambda _stage: None)
    result = finetune(
        backbone,
        train,
        config,
        dev=dev,
        on_epoch=on_epoch,
        show_progress=show_progress,
        label_reads=label_reads,
    )
    notify(JobStage.exporting)
    version = registry.next_version(name)
    with build_directory(registry.bundles_dir, build_prefix) as work:
        data = {"train_examples": len(train), "dev_examples": len(dev or [])}
        info = result.training_info(config, backbone, data)
        bundle = work / "bundle"
        write_bundle(
            TrainedTagger(result.model, load_fast_tokenizer(backbone), info),  # from memory
            bundle,
            name,
            version,
            list(dev or train),
            variants,
            tolerances,
            licences,
            optional_variants=optional_variants,
        )
        notify(JobStage.publishing)
        return registry.publish(bundle)
