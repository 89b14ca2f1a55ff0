"""The initial schema: the tables that create_all made before migrations existed

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-01 19:42:38.482100
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aliases",
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
    )
    op.create_table(
        "finetune_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tagger", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("result", sa.String(length=140), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("finetune_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finetune_jobs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_finetune_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_finetune_jobs_tagger"), ["tagger"], unique=False)

    op.create_table(
        "finetune_workers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("finetune_workers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finetune_workers_heartbeat_at"), ["heartbeat_at"], unique=False
        )

    op.create_table(
        "tagger_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "finetune_job_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["finetune_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finetune_job_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finetune_job_events_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finetune_job_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finetune_job_events_job_id"))

    op.drop_table("finetune_job_events")
    op.drop_table("tagger_versions")
    with op.batch_alter_table("finetune_workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finetune_workers_heartbeat_at"))

    op.drop_table("finetune_workers")
    with op.batch_alter_table("finetune_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finetune_jobs_tagger"))
        batch_op.drop_index(batch_op.f("ix_finetune_jobs_state"))
        batch_op.drop_index(batch_op.f("ix_finetune_jobs_created_at"))

    op.drop_table("finetune_jobs")
    op.drop_table("aliases")
