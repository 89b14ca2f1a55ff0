"""Settings from ``NUNER_*`` environment variables (and an optional ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NUNER_", env_file=".env", extra="ignore")

    home: Path = Field(
        default=Path("~/.nuner"), description="Root for bundles, checkpoints and metadata."
    )
    backbone: str = Field(
        default="default",
        description="Encoder to fine-tune: 'default' (packaged all-MiniLM-L6-v2), "
        "a local Hugging Face directory, or a hub id.",
    )
    allow_hub_downloads: bool = Field(
        default=False, description="Let hub ids download weights; off so nothing leaves the host."
    )
    num_threads: int | None = Field(default=None, description="CPU threads for torch/ONNX.")
    datasets_dir: Path = Field(
        default=Path("../shared/datasets"), description="Where the shared NER datasets live."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
