"""The encoder registry: published encoder bundles and which one is the default.

Encoders live beside taggers in the same store, under
``bundles_dir/_encoders/NAME/VERSION`` (a tagger name cannot start with
``_``, so the two never collide). Named, versioned and immutable like
taggers; a bare name resolves to its latest version. The default encoder,
which answers requests that name none, is the ``default_encoder`` setting
when an operator pins it there, else the registry's choice (``nuner
publish-encoder --default``, ``PUT /v1/encoders/default``), which every
replica reads without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from nuner.app.bundle_store import VersionConflict, place_bundle, remove_tree, version_order
from nuner.app.models import EncoderVersionRow, RegistryDefaultRow, VersionRow
from nuner.core.bundle import check_name
from nuner.core.encoder_bundle import read_encoder_manifest, verify_encoder_bundle
from nuner.core.errors import Conflict, NotFound

ENCODERS_DIR = "_encoders"
DEFAULT_ENCODER_KEY = "default_encoder"


class EncoderNotFound(NotFound):
    code = "encoder_not_found"


class NoDefaultEncoder(NotFound):
    code = "no_default_encoder"


class EncoderInUse(Conflict):
    code = "encoder_in_use"


class DefaultEncoderPinned(Conflict):
    code = "default_encoder_pinned"


@dataclass(frozen=True)
class EncoderVersion:
    name: str
    version: str
    path: Path
    manifest: dict
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def non_commercial(self) -> bool:
        return bool(self.manifest.get("non_commercial"))

    @classmethod
    def from_row(cls, row: EncoderVersionRow) -> EncoderVersion:
        return cls(row.name, row.version, Path(row.path), dict(row.manifest), row.created_at)


class EncoderRegistry:
    def __init__(self, engine: Engine, bundles_dir: Path, pinned_default: str | None) -> None:
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.root = bundles_dir / ENCODERS_DIR
        self.pinned_default = pinned_default

    # --- reading -----------------------------------------------------------

    def resolve(self, reference: str | None) -> EncoderVersion:
        """``name@version``, ``name`` (its latest version) or None (the default)."""
        if reference is None:
            reference = self.default_reference()
            if reference is None:
                raise NoDefaultEncoder(
                    "no default encoder: publish one with `nuner publish-encoder --default`"
                )
        name, _, version = reference.partition("@")
        if not version:
            versions = self.versions(name)
            if not versions:
                raise EncoderNotFound(f"no encoder named {name!r}")
            return versions[-1]
        with self.sessions() as session:
            row = session.get(EncoderVersionRow, (name, version))
        if row is None:
            raise EncoderNotFound(f"encoder {name}@{version} does not exist")
        return EncoderVersion.from_row(row)

    def versions(self, name: str) -> list[EncoderVersion]:
        with self.sessions() as session:
            rows = session.scalars(
                select(EncoderVersionRow).where(EncoderVersionRow.name == name)
            ).all()
        return sorted(
            (EncoderVersion.from_row(r) for r in rows), key=lambda v: version_order(v.version)
        )

    def names(self) -> list[str]:
        with self.sessions() as session:
            return sorted(set(session.scalars(select(EncoderVersionRow.name)).all()))

    def default_reference(self) -> str | None:
        if self.pinned_default:
            return self.pinned_default
        with self.sessions() as session:
            row = session.get(RegistryDefaultRow, DEFAULT_ENCODER_KEY)
        return row.value if row is not None else None

    # --- writing -----------------------------------------------------------

    def publish(self, bundle: Path, make_default: bool = False) -> EncoderVersion:
        """Copy a verified encoder bundle into the store and record it; the first
        encoder published becomes the default unless one is chosen."""
        manifest = read_encoder_manifest(bundle)
        name = check_name("encoder name", manifest.name)
        version = check_name("version", manifest.version)
        with self.sessions() as session:
            if session.get(EncoderVersionRow, (name, version)) is not None:
                raise VersionConflict(f"encoder {name}@{version} is already published")
        target = self.root / name / version
        manifest = place_bundle(bundle, target, verify_encoder_bundle, (name, version))
        row = EncoderVersionRow(
            name=name,
            version=version,
            path=str(target),
            manifest=manifest.model_dump(mode="json"),
            created_at=datetime.now(timezone.utc),
        )
        with self.sessions.begin() as session:
            session.add(row)
            current = session.get(RegistryDefaultRow, DEFAULT_ENCODER_KEY)
            if make_default or current is None:
                session.merge(RegistryDefaultRow(key=DEFAULT_ENCODER_KEY, value=name))
        return EncoderVersion.from_row(row)

    def set_default(self, reference: str) -> EncoderVersion:
        """Make ``reference`` (a name follows its latest version) the registry's default."""
        if self.pinned_default:
            raise DefaultEncoderPinned(
                f"the default encoder is pinned by NUNER_DEFAULT_ENCODER={self.pinned_default!r}"
            )
        encoder = self.resolve(reference)
        with self.sessions.begin() as session:
            session.merge(RegistryDefaultRow(key=DEFAULT_ENCODER_KEY, value=reference))
        return encoder

    def delete_version(self, name: str, version: str) -> None:
        """Refused for the version the default resolves to, and for one that head
        taggers run on: requests rely on them."""
        encoder = self.resolve(f"{name}@{version}")
        default = self.default_reference()
        if default is not None and self._default_version(default) == encoder.ref:
            raise EncoderInUse(
                f"{encoder.ref} is the default encoder ({default!r}): choose another default first"
            )
        with self.sessions() as session:
            query = select(VersionRow.name).where(VersionRow.encoder == encoder.ref)
            users = sorted(set(session.scalars(query).all()))
        if users:
            raise EncoderInUse(
                f"{encoder.ref} serves head taggers ({', '.join(users[:5])}): delete them first",
                details={"taggers": users},
            )
        with self.sessions.begin() as session:
            row = session.get(EncoderVersionRow, (name, version))
            if row is not None:
                session.delete(row)
        remove_tree(encoder.path)

    def _default_version(self, default: str) -> str | None:
        try:
            return self.resolve(default).ref
        except EncoderNotFound:
            return None
