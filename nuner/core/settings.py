"""Settings from ``NUNER_*`` environment variables, a ``.env`` file, secret files
(``NUNER_SECRETS_DIR``, one file per setting) and an optional TOML config file
(``NUNER_CONFIG_FILE``), in that order of precedence.

Each layer owns the settings it reads, as a subclass of ``NunerSettings``
(which holds the few every layer shares): ``nuner.app.settings.Settings`` for
the service, its store and its jobs; ``nuner.training.annotate.settings`` for
``nuner annotate``. The ``NUNER_*`` names are the fields' names.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class NunerSettings(BaseSettings):
    """What every layer reads: where the data lives, which backbone, how many threads."""

    model_config = SettingsConfigDict(env_prefix="NUNER_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------
    home: Path = Field(
        default=Path("~/.nuner"), description="Root for bundles and metadata (embedded default)."
    )
    # --- models --------------------------------------------------------------
    backbone: str = Field(
        default="auto",
        description="Encoder to fine-tune: 'auto' (the starter encoder's pre-trained text "
        "encoder where it is built, else the packaged one), 'starter', 'default' (packaged "
        "all-MiniLM-L6-v2), a local Hugging Face directory, or a hub id.",
    )
    allow_hub_downloads: bool = Field(
        default=False, description="Let hub ids download weights; off so nothing leaves the host."
    )
    num_threads: int | None = Field(
        default=None, description="CPU threads for torch / ONNX (the server's, all workers)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        secrets_dir = os.environ.get("NUNER_SECRETS_DIR")
        if secrets_dir:  # one file per setting, e.g. nuner_database_url (Kubernetes secrets)
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        config_file = os.environ.get("NUNER_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return (*sources, file_secret_settings)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def backbones_dir(self) -> Path:
        """Named backbones installed by ``nuner install-backbone``."""
        return self.home_dir / "backbones"
