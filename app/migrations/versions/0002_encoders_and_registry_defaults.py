"""Encoder bundles (zero-shot extraction) and service-wide registry defaults

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:15:18.600195
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "encoder_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "registry_defaults",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=130), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("registry_defaults")
    op.drop_table("encoder_versions")
