"""The tagger registry: which tagger versions exist, where their bundles are,
and which version each alias points at.

The database (SQLite embedded, PostgreSQL scaled out) is the source of truth
shared by every replica; bundles live under ``bundles_dir/NAME/VERSION`` and
are immutable once published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import delete, select, text
from sqlalchemy.orm import sessionmaker

from nuner.app.bundle_store import VersionConflict, place_bundle, remove_tree, version_order
from nuner.app.db import make_engine
from nuner.app.encoder_registry import EncoderRegistry
from nuner.app.models import AliasRow, VersionRow
from nuner.app.schema import prepare_schema
from nuner.app.settings import Settings
from nuner.core.bundle import bundle_kind, check_name, read_manifest, verify_bundle
from nuner.core.encoder_bundle import encoder_digest
from nuner.core.errors import NotFound
from nuner.core.head_bundle import (
    EncoderMismatch,
    EncoderPin,
    read_head_manifest,
    verify_head_bundle,
)

logger = logging.getLogger("nuner.registry")


class TaggerNotFound(NotFound):
    code = "tagger_not_found"


@dataclass(frozen=True)
class TaggerVersion:
    name: str
    version: str
    path: Path
    labels: list[str]
    manifest: dict
    created_at: datetime
    encoder: str | None = None  # a head tagger's encoder version (name@version)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def is_head(self) -> bool:
        return self.encoder is not None

    @classmethod
    def from_row(cls, row: VersionRow) -> TaggerVersion:
        return cls(
            row.name,
            row.version,
            Path(row.path),
            list(row.labels),
            dict(row.manifest),
            row.created_at,
            row.encoder,
        )


class Registry:
    def __init__(
        self, database_url: str, bundles_dir: Path, default_encoder: str | None = None
    ) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.bundles_dir = bundles_dir
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        self.encoders = EncoderRegistry(self.engine, bundles_dir, default_encoder)

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """The registry of the configured store, its schema at head: the embedded
        default (SQLite) migrates; a scaled-out database behind head is refused."""
        registry = cls(
            settings.resolved_database_url, settings.resolved_bundles_dir, settings.default_encoder
        )
        prepare_schema(registry.engine, migrate=not settings.uses_postgres)
        return registry

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # --- reading -----------------------------------------------------------

    def resolve(self, reference: str) -> TaggerVersion:
        """``name@version`` or an alias (by default every tagger name is one)."""
        name, _, version = reference.partition("@")
        with self.sessions() as session:
            if not version:
                alias = session.get(AliasRow, name)
                if alias is None:
                    raise TaggerNotFound(f"no tagger or alias named {name!r}")
                name, version = alias.name, alias.version
            row = session.get(VersionRow, (name, version))
            if row is None:
                raise TaggerNotFound(f"tagger {name}@{version} does not exist")
            return TaggerVersion.from_row(row)

    def versions(self, name: str) -> list[TaggerVersion]:
        with self.sessions() as session:
            rows = session.scalars(select(VersionRow).where(VersionRow.name == name)).all()
        return sorted((TaggerVersion.from_row(r) for r in rows), key=_version_key)

    def catalogue(self) -> dict[str, tuple[list[TaggerVersion], str | None]]:
        """Every tagger: its versions (in order) and what its name's alias points at,
        in two queries (a listing of thousands of head taggers stays one round trip)."""
        with self.sessions() as session:
            rows = session.scalars(select(VersionRow)).all()
            latest = {
                a.alias: f"{a.name}@{a.version}" for a in session.scalars(select(AliasRow)).all()
            }
        versions: dict[str, list[TaggerVersion]] = {}
        for row in rows:
            versions.setdefault(row.name, []).append(TaggerVersion.from_row(row))
        return {
            name: (sorted(found, key=_version_key), latest.get(name))
            for name, found in sorted(versions.items())
        }

    def aliases(self, name: str | None = None) -> dict[str, str]:
        with self.sessions() as session:
            query = select(AliasRow)
            if name is not None:
                query = query.where(AliasRow.name == name)
            return {a.alias: f"{a.name}@{a.version}" for a in session.scalars(query).all()}

    def bundle_path(self, name: str, version: str) -> Path:
        return self.bundles_dir / name / version

    def next_version(self, name: str) -> str:
        numbers = [int(v.version) for v in self.versions(name) if v.version.isdigit()]
        return str(max(numbers, default=0) + 1)

    # --- writing -----------------------------------------------------------

    def publish(self, bundle: Path) -> TaggerVersion:
        """Copy a verified bundle (a tagger's, or a head's whose encoder is
        published, byte for byte), record it, and point its alias at it."""
        head = bundle_kind(bundle) == "head"
        # hashes are checked once, on the copy below
        manifest = read_head_manifest(bundle) if head else read_manifest(bundle)
        name = check_name("tagger name", manifest.name)
        version = check_name("version", manifest.version)
        with self.sessions() as session:
            if session.get(VersionRow, (name, version)) is not None:
                raise VersionConflict(f"{name}@{version} is already published")
        encoder = self._check_encoder(manifest.encoder) if head else None
        target = self.bundle_path(name, version)
        verify = verify_head_bundle if head else verify_bundle
        manifest = place_bundle(bundle, target, verify, (name, version))
        row = VersionRow(
            name=name,
            version=version,
            path=str(target),
            labels=manifest.labels,
            manifest=manifest.model_dump(mode="json"),
            created_at=datetime.now(timezone.utc),
            encoder=encoder,
        )
        with self.sessions.begin() as session:
            session.add(row)
            session.merge(AliasRow(alias=name, name=name, version=version))
        return TaggerVersion.from_row(row)

    def _check_encoder(self, pin: EncoderPin) -> str:
        """A head is published only over the very encoder bundle it was trained on."""
        encoder = self.encoders.resolve(pin.ref)  # EncoderNotFound: 404
        if encoder_digest(encoder.path) != pin.sha256:
            raise EncoderMismatch(
                f"encoder {pin.ref} here is not the bundle this head was trained on "
                f"(sha256 {pin.sha256[:12]}... expected)"
            )
        return encoder.ref

    def delete_version(self, name: str, version: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(VersionRow, (name, version))
            if row is None:
                raise TaggerNotFound(f"tagger {name}@{version} does not exist")
            path = Path(row.path)
            session.delete(row)
            remaining = session.scalars(
                select(VersionRow.version).where(
                    VersionRow.name == name, VersionRow.version != version
                )
            ).all()
            for alias in session.scalars(
                select(AliasRow).where(AliasRow.name == name, AliasRow.version == version)
            ).all():
                if remaining:
                    alias.version = max(remaining, key=version_order)
                else:
                    session.delete(alias)
        remove_tree(path)

    def delete_tagger(self, name: str) -> None:
        versions = self.versions(name)
        if not versions:
            raise TaggerNotFound(f"no tagger named {name!r}")
        with self.sessions.begin() as session:
            session.execute(delete(AliasRow).where(AliasRow.name == name))
            session.execute(delete(VersionRow).where(VersionRow.name == name))
        for version in versions:
            remove_tree(version.path)


def _version_key(version: TaggerVersion) -> tuple:
    return version_order(version.version)
