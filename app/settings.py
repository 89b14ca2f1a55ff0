"""The service's settings: its store, serving, access and fine-tune jobs
(``NUNER_*``; sources and precedence in ``nuner.core.settings``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from nuner.core.settings import NunerSettings


class Settings(NunerSettings):
    # --- storage -------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the registry; default sqlite:///{home}/nuner.db.",
    )
    bundles_dir: Path | None = Field(
        default=None, description="Where published bundles live; default {home}/bundles."
    )
    # --- serving -------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address `nuner serve` binds.")
    port: int = Field(default=8080, description="Port `nuner serve` binds.")
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes of `nuner serve`, each with its own batcher and "
        "loaded taggers; on CPU one per core serves more (docs/serve.md). On Kubernetes "
        "keep 1 and scale replicas.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Inference device; CUDA only when a session really runs on it."
    )
    variant: Literal["auto", "fp32", "int8", "fp16"] = Field(
        default="auto", description="Bundle variant: auto = int8 on CPU, fp16 on CUDA, if present."
    )
    ort_spinning: bool = Field(
        default=False, description="Let ONNX Runtime threads busy-wait between batches."
    )
    loaded_taggers: int = Field(
        default=4, ge=1, description="LRU size of loaded fully fine-tuned tagger bundles."
    )
    loaded_heads: int = Field(
        default=10_000,
        ge=1,
        description="LRU size of loaded head taggers (a few KB each; their encoders are "
        "counted by loaded_encoders).",
    )
    max_request_taggers: int = Field(
        default=16, ge=1, description="Most taggers one /v1/extract request may name."
    )
    warmup_taggers: list[str] = Field(
        default_factory=list, description="Taggers loaded before /readyz turns ready."
    )
    max_text_chars: int = Field(default=100_000, ge=1, description="Longest text accepted.")
    max_batch_texts: int = Field(default=256, ge=1, description="Most texts in one request.")
    max_body_bytes: int = Field(default=4_000_000, ge=1024, description="Largest request body.")
    batch_max_tokens: int = Field(
        default=8192, ge=64, description="Token budget of one inference batch (padded)."
    )
    batch_max_wait_ms: float = Field(
        default=5.0, ge=0, description="How long the batcher waits to fill a batch."
    )
    inference_streams: int = Field(
        default=2,
        ge=1,
        description="Batches run at once per worker, each on its own thread; ONNX "
        "threads per batch = num_threads (default: the cores) / (streams x workers).",
    )
    queue_max_texts: int = Field(
        default=2048, ge=1, description="Pending texts before the service answers 503."
    )
    max_label_chars: int = Field(
        default=64, ge=1, description="Longest label name (fine-tune examples, zero-shot requests)."
    )
    # --- zero-shot -----------------------------------------------------------
    default_encoder: str | None = Field(
        default=None,
        description="Encoder (name or name@version) for zero-shot requests that name none; "
        "unset: the registry's default (`nuner publish-encoder --default`), changeable "
        "without a restart.",
    )
    starter_encoder: bool = Field(
        default=True,
        description="On the embedded default, build a starter encoder on first start when "
        "none is published (pre-trained on the packaged MIT-licensed NuNER sample).",
    )
    loaded_encoders: int = Field(default=2, ge=1, description="LRU size of loaded encoders.")
    label_cache_size: int = Field(
        default=4096, ge=1, description="Label vectors kept per process (LRU over all encoders)."
    )
    zero_shot_max_labels: int = Field(default=128, ge=1, description="Most labels in a request.")
    zero_shot_max_description_chars: int = Field(
        default=512, ge=1, description="Longest label description in a request."
    )
    alias_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long an alias lookup is reused before re-reading."
    )
    # --- access ----------------------------------------------------------------
    api_keys: list[dict] = Field(
        default_factory=list,
        description='API keys as JSON: [{"name", "sha256", "scope": "read"|"write", '
        '"namespace"}]; none = no authentication (embedded default).',
    )
    playground: bool = Field(
        default=True,
        description="Serve the web playground at /ui (static files; it calls the API "
        "with the key its user types in, like any client).",
    )
    # --- fine-tune jobs ------------------------------------------------------
    embedded_worker: bool = Field(
        default=True,
        description="Run a fine-tune worker process beside the API; turn off where "
        "`nuner worker` runs elsewhere (scale-out).",
    )
    finetune_mode: Literal["head", "full"] = Field(
        default="full",
        description="What a fine-tune job without `mode` does: `full` fine-tunes a whole "
        "encoder, `head` fits a small head over a published encoder (docs/heads.md).",
    )
    finetune_backbones: dict[str, str] = Field(
        default_factory=dict,
        description="Backbones a fine-tune job may name besides 'default' (NUNER_BACKBONE), "
        'as JSON {"name": "local directory or hub id"}; clients name, never give paths.',
    )
    finetune_max_examples: int = Field(default=5000, ge=1, description="Most examples a job takes.")
    finetune_max_chars: int = Field(
        default=2_000_000, ge=1, description="Most characters of text (train + dev) a job takes."
    )
    finetune_min_examples_per_label: int = Field(
        default=2, ge=1, description="Fewest training examples that must mention each label."
    )
    finetune_holdout_min_examples: int = Field(
        default=50,
        ge=2,
        description="Without a dev set, hold one out (for early stopping) from this many "
        "training examples on.",
    )
    finetune_holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of training examples held out as dev."
    )
    finetune_variants: list[Literal["int8", "fp16"]] = Field(
        default_factory=lambda: ["int8"],
        description="Variants exported beside fp32; one that fails verification is left out.",
    )
    job_max_attempts: int = Field(
        default=2, ge=1, description="Runs of a job whose worker died before it is failed."
    )
    job_stale_seconds: float = Field(
        default=120,
        ge=5,
        description="A running job without a worker heartbeat this long is taken as orphaned.",
    )
    worker_heartbeat_file: Path | None = Field(
        default=None,
        description="Touched after each successful worker heartbeat (a liveness probe reads "
        "its age).",
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the embedded worker looks for queued jobs."
    )

    @property
    def job_backbones(self) -> dict[str, str]:
        """The allow-list of ``/v1/finetune``'s ``backbone``: name -> what the worker loads."""
        return {"default": self.backbone, **self.finetune_backbones}

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'nuner.db'}"

    @property
    def uses_postgres(self) -> bool:
        """Scale-out mode: metadata in PostgreSQL, jobs through Procrastinate."""
        return self.resolved_database_url.startswith("postgresql")

    @property
    def threads_per_stream(self) -> int | None:
        """ONNX threads of each inference stream: the cores shared out over the
        streams of every worker process, so that parallel batches do not
        oversubscribe them (None: ONNX Runtime's default)."""
        streams = self.inference_streams * self.workers
        if streams == 1:
            return self.num_threads
        cores = self.num_threads or len(os.sched_getaffinity(0))
        return max(1, cores // streams)

    @property
    def resolved_bundles_dir(self) -> Path:
        return (self.bundles_dir or self.home_dir / "bundles").expanduser()


@lru_cache
def get_settings() -> Settings:
    return Settings()
