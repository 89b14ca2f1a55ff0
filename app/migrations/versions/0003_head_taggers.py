"""Head taggers: the encoder version a tagger version runs on

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:10:00.000000

A head tagger's bundle holds only its head; the row names the encoder version
(``name@version``) it needs, so that an encoder still in use is never deleted.
Fully fine-tuned taggers carry their own encoder: NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tagger_versions") as batch:
        batch.add_column(sa.Column("encoder", sa.String(length=130), nullable=True))
        batch.create_index("ix_tagger_versions_encoder", ["encoder"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tagger_versions") as batch:
        batch.drop_index("ix_tagger_versions_encoder")
        batch.drop_column("encoder")
