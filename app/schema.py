"""The metadata schema and its migrations (Alembic, ``app/migrations``).

No ``create_all``: every schema change is a revision, so an install of any
earlier version upgrades in place. The embedded default (SQLite) upgrades when
it opens its store; a scaled-out database (PostgreSQL) is upgraded by
``nuner migrate`` (the chart's migration Job) and an API or worker refuses to
start on one behind head.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.engine import Engine

from nuner.app import models as _registry_tables  # noqa: F401  (tables on Base.metadata)
from nuner.app.db import Base
from nuner.app.jobs import models as _job_tables  # noqa: F401
from nuner.core.atomic import exclusive_lock
from nuner.core.errors import Unavailable

logger = logging.getLogger("nuner.db")
# Alembic says at INFO what it loads and runs; the service logs INFO: keep its own lines
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# the schema every install had before migrations existed (tables from create_all)
FIRST_REVISION = "0001"
_PG_MIGRATION_LOCK = 0x6E756E6572  # "nuner": one migration at a time per database


def metadata() -> MetaData:
    """Every table of the models; what migrations must equal at head."""
    return Base.metadata


class SchemaBehind(Unavailable):
    code = "schema_behind"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head (creating the schema on an empty database); returns the
    revisions before and after. A database made before migrations existed is
    first stamped with the revision equal to its schema."""
    with _one_migration_at_a_time(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        config = alembic_config(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        if before is None and _made_before_migrations(connection):
            logger.info("stamping a database made before migrations at %s", FIRST_REVISION)
            command.stamp(config, FIRST_REVISION)
            before = FIRST_REVISION
        command.upgrade(config, "head")
    head = head_revision()
    if before != head:
        logger.info("metadata schema upgraded from %s to %s", before or "empty", head)
    return before, head


def require_head(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the metadata database is at schema revision {current or 'none'}, this version "
            f"needs {head}: run `nuner migrate` first (the chart's migration Job does)"
        )


def prepare_schema(engine: Engine, migrate: bool) -> None:
    """What every process that opens the store calls: upgrade, or refuse if behind."""
    if migrate:
        upgrade(engine)
    else:
        require_head(engine)


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "alembic_version" not in tables and "tagger_versions" in tables


@contextmanager
def _one_migration_at_a_time(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes opening one file (the API, its
    worker, a CLI command) take turns through a lock file beside it."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with exclusive_lock(Path(f"{database}.migrate-lock")):
        yield
