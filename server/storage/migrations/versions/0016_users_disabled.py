"""Users can be disabled: ``users.disabled_at``.

A departed field agent's account is disabled by an admin instead of deleted
(their name stays on the ledger's events): a disabled user cannot log in and
their tokens stop at once. Existing users are active (NULL).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``users.disabled_at`` (when an admin disabled the user; NULL: active)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Drop ``users.disabled_at``."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
