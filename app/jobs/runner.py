"""Run one fine-tune job: fine-tune, export, verify, publish; record every step.

The only module of the job system that imports torch (through the tagger
builder), and it does so lazily, inside the worker process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from nuner.app.jobs.builds import build_prefix, discard_builds
from nuner.app.jobs.models import JobRow
from nuner.app.jobs.schemas import ExampleIn, FinetuneRequest
from nuner.app.jobs.states import JobStage, JobState
from nuner.app.jobs.store import JobStore
from nuner.app.registry import Registry
from nuner.app.settings import Settings
from nuner.core.types import Example, Span

logger = logging.getLogger("nuner.jobs")

TRAINING_SHARE = 0.85  # of the progress bar; export and publish take the rest


class JobCancelled(Exception):
    pass


class WorkerStopping(Exception):
    pass


def to_examples(examples: list[ExampleIn]) -> list[Example]:
    return [
        Example.create(e.text, [Span(s.start, s.end, s.label.strip()) for s in e.spans])
        for e in examples
    ]


def split_dev(
    train: list[Example], dev: list[Example] | None, settings: Settings, seed: int
) -> tuple[list[Example], list[Example] | None]:
    """Hold out a dev split (early stopping) when the client sent none and there are enough."""
    if dev or len(train) < settings.finetune_holdout_min_examples:
        return train, dev
    shuffled = random.Random(seed).sample(train, len(train))
    cut = max(1, round(len(train) * settings.finetune_holdout_fraction))
    return shuffled[cut:], shuffled[:cut]


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        registry: Registry,
        settings: Settings,
        stopping: threading.Event,
        requeue: Callable[[JobRow], None] = lambda job: None,
    ) -> None:
        self.store, self.registry, self.settings = store, registry, settings
        self.stopping = stopping
        self.requeue = requeue
        self._loaded_encoder = None  # (ref, OnnxEncoder) of the last head job

    def run(self, job: JobRow) -> JobState:
        beating = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(job.id, beating), daemon=True)
        heart.start()
        try:
            return self._run(job)
        finally:
            beating.set()
            heart.join()

    def _run(self, job: JobRow) -> JobState:
        started = time.perf_counter()
        try:
            version, metrics = self._build(job)
        except JobCancelled:
            self.store.finish(job.id, JobState.cancelled)
            return JobState.cancelled
        except WorkerStopping:
            if self.store.requeue(job.id, "the worker is shutting down", refund_attempt=True):
                self.requeue(self.store.get(job.id))
            return JobState.queued
        except Exception as error:  # the job fails; the worker lives on
            logger.exception("job %s failed", job.id)
            self.store.finish(job.id, JobState.failed, error=describe_failure(error))
            return JobState.failed
        metrics["total_seconds"] = round(time.perf_counter() - started, 2)
        self.store.finish(job.id, JobState.succeeded, result=version.ref, metrics=metrics)
        logger.info("job %s published %s", job.id, version.ref)
        return JobState.succeeded

    def _backbone(self, name: str) -> str:
        """What the allow-list names (a job queued before the list changed may name
        what is no longer on it)."""
        from nuner.core.backbones import BackboneError

        backbones = self.settings.job_backbones
        if name not in backbones:
            raise BackboneError(f"backbone {name!r} is not on this server's list")
        return backbones[name]

    def _build(self, job: JobRow):
        from nuner.app.tagger_builder import build_and_publish
        from nuner.core.backbones import resolve_backbone
        from nuner.export.verify import Tolerances
        from nuner.training.finetune import FinetuneConfig, pick_device

        discard_builds(self.registry.bundles_dir, job.id)
        request = FinetuneRequest.model_validate(self.store.request_of(job.id))
        if request.mode == "head":
            return self._build_head(job, request)
        hyper = request.hyperparameters
        train, dev = split_dev(
            to_examples(request.examples),
            to_examples(request.dev) if request.dev else None,
            self.settings,
            hyper.seed,
        )
        backbone = resolve_backbone(
            self._backbone(request.backbone or "default"),
            self.settings.allow_hub_downloads,
            self.settings.backbones_dir,
        )
        config = FinetuneConfig(**hyper.model_dump(), device="auto")
        device = pick_device(config.device).type
        self.store.heartbeat(job.id, stage=JobStage.training.value)
        self.store.add_event(
            job.id,
            f"training on {device}: {len(train)} examples, {len(dev or [])} dev",
            data={"device": device, "backbone": backbone},
        )
        history: list[dict] = []
        version = build_and_publish(
            self.registry,
            request.tagger,
            backbone,
            train,
            config,
            dev=dev,
            variants=["fp32", *self.settings.finetune_variants],
            optional_variants=self.settings.finetune_variants,
            tolerances=Tolerances(),
            licences=request.licences,
            on_epoch=lambda record: self._on_epoch(job.id, record, config.epochs, history),
            on_stage=lambda stage: self._on_stage(job.id, stage),
            show_progress=False,
            build_prefix=build_prefix(job.id),
            label_reads=request.descriptions,
        )
        return version, _metrics(version.manifest, history, device, len(train), len(dev or []))

    def _build_head(self, job: JobRow, request: FinetuneRequest):
        """Seconds, torch-free: features from the served encoder, a head fitted on them."""
        from nuner.app.head_builder import HeadBuild, build_and_publish_head

        train, dev = split_dev(
            to_examples(request.examples),
            to_examples(request.dev) if request.dev else None,
            self.settings,
            request.hyperparameters.seed,
        )
        encoder_version = self.registry.encoders.resolve(request.encoder)
        self.store.heartbeat(job.id, stage=JobStage.training.value)
        self.store.add_event(
            job.id,
            f"fitting a head on encoder {encoder_version.ref}: {len(train)} examples, "
            f"{len(dev or [])} dev",
            data={"encoder": encoder_version.ref, "mode": "head"},
        )
        self._check(job.id)
        build = HeadBuild(
            request.tagger,
            train,
            request.head.config(),
            dev,
            request.descriptions,
            request.licences,
        )
        encoder = self._encoder(encoder_version)
        version = build_and_publish_head(
            self.registry, build, encoder_version, encoder, build_prefix(job.id)
        )
        history = version.manifest["training"]["history"]
        self.store.add_event(job.id, "published", data={"history": history})
        metrics = {
            "mode": "head",
            "encoder": encoder_version.ref,
            "train_examples": len(train),
            "dev_examples": len(dev or []),
            "final_loss": history[-1]["loss"] if history else None,
            "dev": version.manifest["metrics"].get("dev"),
        }
        return version, metrics

    def _encoder(self, version):
        """The encoder a head is fitted on, as the service runs it; the last one
        stays loaded for the next head job."""
        from nuner.app.loaded import open_encoder

        if self._loaded_encoder is None or self._loaded_encoder[0] != version.ref:
            self._loaded_encoder = (version.ref, open_encoder(self.settings, version.path))
        return self._loaded_encoder[1]

    def _on_epoch(self, job_id: str, record: dict, epochs: int, history: list[dict]) -> None:
        history.append(record)
        progress = TRAINING_SHARE * record["epoch"] / epochs
        self.store.heartbeat(job_id, progress=progress)
        summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
        self.store.add_event(job_id, f"epoch {record['epoch']}/{epochs}: {summary}", data=record)
        self._check(job_id)

    def _on_stage(self, job_id: str, stage: JobStage) -> None:
        self._check(job_id)
        progress = {JobStage.exporting: TRAINING_SHARE, JobStage.publishing: 0.97}[stage]
        self.store.heartbeat(job_id, stage=stage.value, progress=progress)
        self.store.add_event(job_id, stage.value)

    def _check(self, job_id: str) -> None:
        if self.store.cancel_requested(job_id):
            raise JobCancelled
        if self.stopping.is_set():
            raise WorkerStopping

    def _heartbeat(self, job_id: str, done: threading.Event) -> None:
        interval = self.settings.job_stale_seconds / 4
        while not done.wait(interval):
            try:
                self.store.heartbeat(job_id)
            except Exception:  # keep beating; the job's own writes report a real outage
                logger.exception("heartbeat of job %s failed", job_id)


def describe_failure(error: Exception) -> tuple[str, str]:
    """A machine-readable code and a one-line message a client can act on."""
    from nuner.core.backbones import BackboneError
    from nuner.core.bundle import BundleError

    if isinstance(error, BackboneError):
        return "invalid_backbone", str(error)
    if isinstance(error, BundleError):
        return "export_failed", str(error)
    first_line = (str(error).strip().splitlines() or [""])[0]
    return "training_failed", f"{type(error).__name__}: {first_line}"[:500]


def _metrics(manifest: dict, history: list[dict], device: str, train: int, dev: int) -> dict:
    return {
        "device": device,
        "train_examples": train,
        "dev_examples": dev,
        "epochs_run": len(history),
        "final_loss": history[-1]["loss"] if history else None,
        "dev": (manifest.get("metrics") or {}).get("dev"),
        "variants": {
            name: info.get("verification") for name, info in manifest.get("variants", {}).items()
        },
        "refused_variants": manifest.get("training", {}).get("refused_variants", {}),
    }
