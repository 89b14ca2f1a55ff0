"""Alembic environment: run by nuner.app.schema with an open connection, or by
the ``alembic`` command (alembic.ini at the repository root) on the configured
store, e.g. ``alembic revision --autogenerate -m "..."`` after a model change."""

from __future__ import annotations

from alembic import context

from nuner.app.schema import metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from nuner.app.db import make_engine
    from nuner.app.settings import get_settings

    with make_engine(get_settings().resolved_database_url).begin() as connection:
        run_migrations(connection)
