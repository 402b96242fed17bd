"""Claims: who decided, an index on the claimed subject, indexed pHash bands of evidence.

* ``claims.decided_by``: the adjuster who last decided the claim (its approver
  once approved), for the four-eyes rule at payment. Filled from the ledger's
  ``claim.approved`` / ``claim.rejected`` / ``claim.survey_requested`` events
  for claims decided before.
* ``ix_claims_subject`` on ``claims(subject_kind, subject_id)``: earlier claims
  of an animal or plot are read at every intake.
* ``evidence.band0`` .. ``band3``: the four 16-bit bands of each photo's pHash
  (most significant first), each indexed, for the multi-index near-duplicate
  search (claims.photo_hashes). Filled from ``evidence.phash``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BANDS = 4
_DECISIONS = ("claim.approved", "claim.rejected", "claim.survey_requested")


def _bands(phash: str) -> list[int]:
    value = int(phash, 16)
    return [(value >> (16 * (_BANDS - 1 - i))) & 0xFFFF for i in range(_BANDS)]


def _backfill(conn: sa.Connection) -> None:
    evidence = sa.table(
        "evidence",
        sa.column("id", sa.Integer),
        sa.column("phash", sa.String),
        *(sa.column(f"band{i}", sa.Integer) for i in range(_BANDS)),
    )
    rows = conn.execute(sa.select(evidence.c.id, evidence.c.phash)).all()
    for row in rows:
        conn.execute(
            sa.update(evidence)
            .where(evidence.c.id == row.id)
            .values({f"band{i}": b for i, b in enumerate(_bands(row.phash))})
        )
    entries = sa.table("ledger_entries", sa.column("idx"), sa.column("data"))
    claims = sa.table("claims", sa.column("id"), sa.column("decided_by"))
    decided: dict[str, str] = {}
    for (data,) in conn.execute(sa.select(entries.c.data).order_by(entries.c.idx)):
        try:
            event = json.loads(bytes(data))
        except ValueError:  # pragma: no cover - entries are canonical JSON
            continue
        claim = (event.get("subjects") or {}).get("claim")
        if event.get("type") in _DECISIONS and claim:
            decided[claim] = str(event.get("actor"))[:64]
    for claim, actor in decided.items():
        conn.execute(
            sa.update(claims).where(claims.c.id == claim).values(decided_by=actor)
        )


def upgrade() -> None:
    """Add the columns and indexes, then fill them from the stored rows and the ledger."""
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
    op.create_index("ix_claims_subject", "claims", ["subject_kind", "subject_id"])
    with op.batch_alter_table("evidence") as batch:
        for i in range(_BANDS):
            batch.add_column(sa.Column(f"band{i}", sa.Integer(), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("evidence") as batch:
        for i in range(_BANDS):
            batch.alter_column(f"band{i}", existing_type=sa.Integer(), nullable=False)
    for i in range(_BANDS):
        op.create_index(f"ix_evidence_band{i}", "evidence", [f"band{i}"])


def downgrade() -> None:
    """Drop the indexes and columns of this revision."""
    for i in range(_BANDS):
        op.drop_index(f"ix_evidence_band{i}", table_name="evidence")
    with op.batch_alter_table("evidence") as batch:
        for i in range(_BANDS):
            batch.drop_column(f"band{i}")
    op.drop_index("ix_claims_subject", table_name="claims")
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("decided_by")
