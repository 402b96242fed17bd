"""Each animal's gallery of capture sessions.

``animals.sessions`` holds the templates of verified later capture sessions
added after enrolment (float32 little-endian, concatenated; empty for none),
so an animal is matched by its best session and cross-day matching improves
as the gallery grows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``animals.sessions`` (empty for every animal enrolled so far)."""
    with op.batch_alter_table("animals") as batch:
        batch.add_column(
            sa.Column(
                "sessions", sa.LargeBinary(), nullable=False, server_default=sa.text("''")
            )
        )


def downgrade() -> None:
    """Drop ``animals.sessions``."""
    with op.batch_alter_table("animals") as batch:
        batch.drop_column("sessions")
