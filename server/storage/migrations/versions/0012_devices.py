"""Field agents' devices and signed captures.

* ``devices``: the phones of field agents, each an EC P-256 public key (a
  JWK) registered by the agent's login, unique by its RFC 7638 thumbprint;
  ``active`` until revoked (by an admin or the agent), never deleted.
* ``evidence`` gains what the capture signature of each photo said: its
  light and reason, the device that signed, the signed message and the
  signature. Evidence stored before this revision has none (null).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_EVIDENCE_COLUMNS = (
    ("capture_light", sa.String(length=8)),
    ("capture_reason", sa.Text()),
    ("device_id", sa.String(length=36)),
    ("signed", sa.Text()),
    ("signature", sa.String(length=128)),
)


def upgrade() -> None:
    """Create ``devices``; add the capture signature columns to ``evidence``."""
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("thumbprint", sa.String(length=43), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("thumbprint", name=op.f("uq_devices_thumbprint")),
    )
    op.create_index("ix_devices_agent", "devices", ["agent", "registered_at"])
    with op.batch_alter_table("evidence") as batch:
        for name, kind in _EVIDENCE_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    """Drop the capture signature columns and ``devices``."""
    with op.batch_alter_table("evidence") as batch:
        for name, _ in reversed(_EVIDENCE_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_devices_agent", table_name="devices")
    op.drop_table("devices")
