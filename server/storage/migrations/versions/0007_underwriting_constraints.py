"""Underwriting constraints: one policy in force per animal, and an index on plot bounds.

``policy_animals`` lists the animals each policy insures, with the policy's
period copied in; a trigger refuses a row whose tag is already insured by a
policy in force on any day of the new period (both ends inclusive). On
PostgreSQL the trigger first takes a transaction advisory lock on the tag, so
two transactions issuing one animal at once serialise, and the second sees
the first's row once it commits (READ COMMITTED takes a new snapshot per
statement). On SQLite one writer at a time makes the check atomic already.
The rows are filled from each earlier policy's ``policy.issued`` ledger event.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER policy_animals_one_policy_in_force
BEFORE INSERT ON policy_animals
FOR EACH ROW WHEN EXISTS (
    SELECT 1 FROM policy_animals AS p
    WHERE p.tag = NEW.tag
      AND p.start_date <= NEW.end_date
      AND p.end_date >= NEW.start_date
)
BEGIN
    SELECT RAISE(ABORT, 'policy_animals: the animal is insured by another policy in force in the period');
END
"""

_PG_FUNCTION = """
CREATE FUNCTION policy_animals_one_policy_in_force() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    held text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('policy_animals'), hashtext(NEW.tag));
    SELECT p.policy_id INTO held FROM policy_animals AS p
    WHERE p.tag = NEW.tag
      AND p.start_date <= NEW.end_date
      AND p.end_date >= NEW.start_date
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'policy_animals: animal % is insured by policy % in the period', NEW.tag, held
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NEW;
END
$$
"""

_PG_TRIGGER = """
CREATE TRIGGER policy_animals_one_policy_in_force
BEFORE INSERT ON policy_animals
FOR EACH ROW EXECUTE FUNCTION policy_animals_one_policy_in_force()
"""


def upgrade() -> None:
    op.create_table(
        "policy_animals",
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=15), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policies.id"],
            name=op.f("fk_policy_animals_policy_id_policies"),
        ),
        sa.PrimaryKeyConstraint("policy_id", "tag", name=op.f("pk_policy_animals")),
    )
    op.create_index(
        "ix_policy_animals_tag_period",
        "policy_animals",
        ["tag", "start_date", "end_date"],
    )
    _backfill_from_the_ledger()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)
    op.create_index(
        "ix_plots_bounds", "plots", ["min_lon", "min_lat", "max_lon", "max_lat"]
    )


def _backfill_from_the_ledger() -> None:
    """Each issued policy's animals, from its ``policy.issued`` event.

    Not from ``animals.policy``: that column is what the old code overwrote
    when a second policy took an animal, so it forgets the first policy's
    cover. The ledger keeps every policy's own list. Rows are inserted before
    the trigger exists: animals already insured twice are recorded as they
    are, for the underwriter to resolve.
    """
    import json
    from datetime import date

    bind = op.get_bind()
    policy_ids = {r[0] for r in bind.execute(sa.text("SELECT id FROM policies"))}
    if not policy_ids:
        return
    rows = []
    entries = bind.execute(
        sa.text("SELECT data FROM ledger_entries ORDER BY idx").execution_options(
            yield_per=5000
        )
    )
    for (data,) in entries:
        try:
            event = json.loads(bytes(data))
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("type") != "policy.issued":
            continue
        payload = event.get("payload") or {}
        policy_id = (event.get("subjects") or {}).get("policy")
        if policy_id not in policy_ids or not payload.get("animals"):
            continue
        start = date.fromisoformat(payload["start"])
        end = date.fromisoformat(payload["end"])
        rows += [
            {"policy_id": policy_id, "tag": tag, "start_date": start, "end_date": end}
            for tag in payload["animals"]
        ]
    if rows:
        table = sa.table(
            "policy_animals",
            sa.column("policy_id", sa.String),
            sa.column("tag", sa.String),
            sa.column("start_date", sa.Date),
            sa.column("end_date", sa.Date),
        )
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_plots_bounds", table_name="plots")
    op.execute(
        "DROP TRIGGER IF EXISTS policy_animals_one_policy_in_force"
        + (" ON policy_animals" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS policy_animals_one_policy_in_force()")
    op.drop_index("ix_policy_animals_tag_period", table_name="policy_animals")
    op.drop_table("policy_animals")
