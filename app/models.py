"""Registry tables: tagger versions, the aliases that point at them, encoder
versions and the service-wide defaults."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from nuner.app.db import Base, UtcDateTime


class VersionRow(Base):
    __tablename__ = "tagger_versions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))
    labels: Mapped[list] = mapped_column(JSON)
    manifest: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # a head tagger's encoder version (name@version); None for a fully fine-tuned one
    encoder: Mapped[str | None] = mapped_column(String(130), index=True, default=None)


class AliasRow(Base):
    __tablename__ = "aliases"

    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))


class EncoderVersionRow(Base):
    """A published encoder bundle (its name alone resolves to its latest version)."""

    __tablename__ = "encoder_versions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))
    manifest: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RegistryDefaultRow(Base):
    """Service-wide choices an operator changes at run time, e.g. the default encoder."""

    __tablename__ = "registry_defaults"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(130))
