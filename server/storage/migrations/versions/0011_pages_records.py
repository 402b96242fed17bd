"""Records for the pages: kept photos, stored damage polygons, the ledger subject index.

* ``photos``: one row per photo kept and what it belongs to (a claim's
  evidence, an animal's enrolment); the bytes are content-addressed files
  (``server.storage.photo_store``). Photos received before this revision were
  never kept: only their hashes are (``evidence``).
* ``claim_assessments``: the last assessment by map of a crop claim, its
  scenes, the plot's mean NDVI on each and the damage polygons (GeoJSON).
* ``ledger_subjects``: the ledger entries by subject (``kind``, ``subject_id``,
  ``idx``), filled here from every stored entry (each entry's canonical JSON
  ``subjects``) and from then on with each append.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import json
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CHUNK = 5_000
_MAX_KIND, _MAX_ID = 32, 255


def _idx_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _subject_rows(idx: int, data: bytes) -> Iterator[dict[str, object]]:
    """The index rows of one entry (none for bytes that are not an event)."""
    try:
        subjects = json.loads(data).get("subjects")
    except (ValueError, AttributeError):
        return
    if not isinstance(subjects, dict):
        return
    for kind, value in subjects.items():
        if (
            isinstance(kind, str)
            and isinstance(value, str)
            and 0 < len(kind) <= _MAX_KIND
            and 0 < len(value) <= _MAX_ID
        ):
            yield {"kind": kind, "subject_id": value, "idx": idx}


def _backfill(conn: sa.Connection) -> None:
    entries = sa.table("ledger_entries", sa.column("idx"), sa.column("data"))
    subjects = sa.table(
        "ledger_subjects",
        sa.column("kind"),
        sa.column("subject_id"),
        sa.column("idx"),
    )
    last = -1
    while True:
        rows = conn.execute(
            sa.select(entries.c.idx, entries.c.data)
            .where(entries.c.idx > last)
            .order_by(entries.c.idx)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        batch = [r for row in rows for r in _subject_rows(row.idx, bytes(row.data))]
        if batch:
            conn.execute(sa.insert(subjects), batch)
        last = rows[-1].idx


def upgrade() -> None:
    """Create the three tables, then index every stored ledger entry by its subjects."""
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint(
            "owner_kind", "owner_id", "sha256", name="uq_photos_owner_sha"
        ),
    )
    op.create_index("ix_photos_sha256", "photos", ["sha256"])
    op.create_table(
        "claim_assessments",
        sa.Column("claim_id", sa.String(length=36), nullable=False),
        sa.Column("before_scene", sa.String(length=255), nullable=False),
        sa.Column("after_scene", sa.String(length=255), nullable=False),
        sa.Column("before_date", sa.Date(), nullable=True),
        sa.Column("after_date", sa.Date(), nullable=True),
        sa.Column("ndvi_before", sa.Float(), nullable=True),
        sa.Column("ndvi_after", sa.Float(), nullable=True),
        sa.Column("damage", sa.Text(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_assessments_claim_id_claims"),
        ),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claim_assessments")),
    )
    op.create_table(
        "ledger_subjects",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=255), nullable=False),
        sa.Column("idx", _idx_type(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "subject_id", "idx", name=op.f("pk_ledger_subjects")
        ),
        sqlite_with_rowid=False,
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    """Drop the three tables (kept photo files stay on disk, unreferenced)."""
    op.drop_table("ledger_subjects")
    op.drop_table("claim_assessments")
    op.drop_index("ix_photos_sha256", table_name="photos")
    op.drop_table("photos")
