"""The face-ID model whose embeddings each animal's templates are.

Templates of two face-ID models are not comparable: after a model upgrade an
animal enrolled with the old one would score at random. ``animals.model``
names the model version (``NAME+SHA256[:12]``); the registry compares only
templates of its own model and `agri livestock reembed` recomputes the others
from the kept photos. Every template stored before this revision was made by
``cowface-v1`` (the only model shipped before it), so existing rows say so.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COWFACE_V1 = "cowface-v1+342bb30e2a1e"


def upgrade() -> None:
    """Add ``animals.model``; animals enrolled so far were embedded by cowface-v1."""
    with op.batch_alter_table("animals") as batch:
        batch.add_column(
            sa.Column(
                "model", sa.String(80), nullable=False, server_default=sa.text("''")
            )
        )
    op.execute(sa.text("UPDATE animals SET model = :m").bindparams(m=COWFACE_V1))


def downgrade() -> None:
    """Drop ``animals.model``."""
    with op.batch_alter_table("animals") as batch:
        batch.drop_column("model")
