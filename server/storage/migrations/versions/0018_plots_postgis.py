"""Plots as PostGIS geometry on PostgreSQL: ``plots.geom`` with a GiST index.

On PostgreSQL the double-insurance search runs in SQL (ST_Intersects on a GiST
index, the overlap measured on the ellipsoid), so an application is checked
against a million insured plots without reading them into Python. This needs
the PostGIS extension in the database: it is created here (in schema
``public``, database-wide) when missing; a server without PostGIS stops the
upgrade with one line telling the operator which package to install. PostGIS
is required on PostgreSQL, there is no fallback (DESIGN.md, "Double insurance").

``plots.geom`` is ``geometry(MultiPolygon, 4326)``, filled here from the stored
WKB and kept in step by a trigger on every insert and every change of
``plots.geometry``, so the stores that write plots need not know about it.
Every PostGIS name is qualified with the extension's schema: an installation
in its own schema (``search_path`` without ``public``) resolves them all.

SQLite gets the column as an unused BLOB (always NULL) with a plain index, so
that the one declared schema holds on both; overlaps stay in Python there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from server.storage.migrate import DatabaseAccessError, masked_url

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

EXTENSION_SCHEMA = "public"
"""Where PostGIS is created when missing (database-wide, shared by every schema)."""

_FIND = sa.text(
    "SELECT n.nspname FROM pg_extension AS e "
    "JOIN pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'postgis'"
)

# A plot's WKB as the column's type: 2D, polygonal parts only, always multi.
_FROM_WKB = (
    "{g}.ST_Multi({g}.ST_CollectionExtract("
    "{g}.ST_Force2D({g}.ST_GeomFromWKB({wkb}, 4326)), 3))"
)

_FUNCTION = """
CREATE FUNCTION plots_geom_from_wkb() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.geom := {expr};
    RETURN NEW;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER plots_geom_from_wkb
BEFORE INSERT OR UPDATE OF geometry ON plots
FOR EACH ROW EXECUTE FUNCTION plots_geom_from_wkb()
"""


def _ensure_postgis(bind: Connection) -> str:
    """The schema PostGIS lives in, creating the extension there if it is missing.

    Raises:
        DatabaseAccessError: the server has no PostGIS to create, or the user
            may not create it (one line: what to install or who must run what).
    """
    found = bind.execute(_FIND).scalar()
    if found is not None:
        return str(found)
    # Installations (the tests' schemas) migrating at once create it once.
    bind.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('agri:postgis'))"))
    found = bind.execute(_FIND).scalar()
    if found is not None:
        return str(found)
    url = bind.engine.url
    where, name = masked_url(url), url.database or "(none)"
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    ).scalar()
    if available is None:
        major = (bind.dialect.server_version_info or (15,))[0]
        raise DatabaseAccessError(
            where,
            "PostGIS is not installed on this PostgreSQL server, and plots need it: "
            f"install it on the server (apt-get install postgresql-{major}-postgis-3) "
            "and run the upgrade again",
        )
    try:
        with bind.begin_nested():
            bind.execute(
                sa.text(
                    f"CREATE EXTENSION IF NOT EXISTS postgis SCHEMA {EXTENSION_SCHEMA}"
                )
            )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":
            raise
        raise DatabaseAccessError(
            where,
            f'user "{url.username}" may not create the PostGIS extension in database '
            f'"{name}": have a superuser create it once (sudo -u postgres psql -d {name} '
            '-c "CREATE EXTENSION postgis") and run the upgrade again',
        ) from exc
    return EXTENSION_SCHEMA


def upgrade() -> None:
    """Add ``plots.geom`` (PostGIS on PostgreSQL, filled and kept by a trigger) and its index."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("plots") as batch:
            batch.add_column(sa.Column("geom", sa.LargeBinary(), nullable=True))
        op.create_index("ix_plots_geom", "plots", ["geom"])
        return
    g = bind.dialect.identifier_preparer.quote(_ensure_postgis(bind))
    op.execute(f"ALTER TABLE plots ADD COLUMN geom {g}.geometry(MultiPolygon, 4326)")
    op.execute(f"UPDATE plots SET geom = {_FROM_WKB.format(g=g, wkb='geometry')}")
    op.execute("CREATE INDEX ix_plots_geom ON plots USING gist (geom)")
    op.execute(_FUNCTION.format(expr=_FROM_WKB.format(g=g, wkb="NEW.geometry")))
    op.execute(_TRIGGER)


def downgrade() -> None:
    """Drop ``plots.geom``, its index and trigger (PostGIS stays: it is database-wide)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS plots_geom_from_wkb ON plots")
        op.execute("DROP FUNCTION IF EXISTS plots_geom_from_wkb()")
    op.drop_index("ix_plots_geom", table_name="plots")
    with op.batch_alter_table("plots") as batch:
        batch.drop_column("geom")
