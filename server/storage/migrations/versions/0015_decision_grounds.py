"""The grounds of a claim decision: codes of the claim's checks, worded for each reader.

A rejection or a survey request used to need a reason in words, typed in one
language and shown as typed to a farmer who may read another. ``claims.grounds``
holds the codes of the failed checks the adjuster decided on (JSON list), so the
farmer's page says why in the farmer's language; a typed reason stays possible
as a note beside them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``claims.grounds`` (JSON list of check codes; NULL for decisions before it)."""
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("grounds", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``claims.grounds``."""
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("grounds")
