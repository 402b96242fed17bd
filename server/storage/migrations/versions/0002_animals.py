"""Enrolled animals: the livestock registry's templates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "animals",
        sa.Column("tag", sa.String(length=15), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("farm", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=True),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("photo_hashes", sa.Text(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag", name=op.f("pk_animals")),
    )


def downgrade() -> None:
    op.drop_table("animals")
