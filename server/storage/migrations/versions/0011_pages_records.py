"""Records for the pages: kept photos, stored damage polygons, the ledger subject index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op  # noqa: F401

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
