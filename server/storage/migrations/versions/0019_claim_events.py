"""The catastrophe event of a claim: ``claims.event_id``, indexed.

One flood or hail swath brings thousands of crop claims at once; the event's
id, given at filing, lets them be assessed together (``agri claims
assess-event``) and listed by event. NULL for claims filed outside an event
and for every claim filed before this revision.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``claims.event_id`` (String(64), NULL allowed) and its index."""
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("event_id", sa.String(64), nullable=True))
        batch.create_index("ix_claims_event_id", ["event_id"])


def downgrade() -> None:
    """Drop the index and ``claims.event_id``."""
    with op.batch_alter_table("claims") as batch:
        batch.drop_index("ix_claims_event_id")
        batch.drop_column("event_id")
