"""Public notices (公示) of the underwriting and claim lists, and objections to them.

* ``notices``: one per published notice (kind, region, period, the farm's
  day of publication, the objection period and its last day, the row count,
  who published it) with the index of its ``notice.published`` ledger entry,
  whose payload is the notice's document (not kept twice).
* ``notice_rows``: which policy or claim each row stands for, its farmer and
  the amount posted (the document names none of them in full).
* ``notice_objections``: objections to a row, open until resolved (upheld or
  dismissed), each with its ledger entries.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``notices``, ``notice_rows`` and ``notice_objections`` with their indexes."""
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("objection_days", sa.Integer(), nullable=False),
        sa.Column("objection_ends", sa.Date(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("ledger_index", sa.BigInteger(), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("ledger_index", name=op.f("uq_notices_ledger_index")),
    )
    op.create_index(
        "ix_notices_region", "notices", ["region", "kind", "published_at"]
    )
    op.create_table(
        "notice_rows",
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("farmer_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_rows_notice_id_notices"),
        ),
        sa.PrimaryKeyConstraint("notice_id", "row", name=op.f("pk_notice_rows")),
    )
    op.create_index("ix_notice_rows_record", "notice_rows", ["record_id"])
    op.create_table(
        "notice_objections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("objector_farmer", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ledger_index", sa.BigInteger(), nullable=False),
        sa.Column("resolution_index", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_objections_notice_id_notices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_objections")),
    )
    op.create_index(
        "ix_notice_objections_notice", "notice_objections", ["notice_id", "row"]
    )


def downgrade() -> None:
    """Drop the objections, the rows and the notices (their ledger entries stay)."""
    op.drop_index("ix_notice_objections_notice", table_name="notice_objections")
    op.drop_table("notice_objections")
    op.drop_index("ix_notice_rows_record", table_name="notice_rows")
    op.drop_table("notice_rows")
    op.drop_index("ix_notices_region", table_name="notices")
    op.drop_table("notices")
