"""Devices a user has logged in from: ``login_devices``.

A successful login sets a device cookie; its SHA-256 is kept here with the
user. A later login that presents it is delayed only by that device's own
failed attempts, not by failures on the username or the address made by
anyone else: a guesser cannot lock the real user out.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``login_devices`` (device cookie hash, user, when it was issued)."""
    op.create_table(
        "login_devices",
        sa.Column("device_hash", sa.LargeBinary(), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_devices_user", "login_devices", ["user_id", "created_at"])


def downgrade() -> None:
    """Drop ``login_devices``."""
    op.drop_index("ix_login_devices_user", table_name="login_devices")
    op.drop_table("login_devices")
