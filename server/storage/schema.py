"""The database schema (SQLAlchemy Core) and engine construction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeEngine, UserDefinedType

__all__ = [
    "PG_CONNECT_TIMEOUT_S",
    "animals",
    "api_tokens",
    "applications",
    "claim_assessments",
    "claims",
    "devices",
    "enrolments",
    "evidence",
    "farmers",
    "idempotency_keys",
    "ledger_anchors",
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_head",
    "ledger_subjects",
    "login_devices",
    "login_failures",
    "make_engine",
    "metadata",
    "notice_objections",
    "notice_rows",
    "notices",
    "photos",
    "plots",
    "policies",
    "policy_animals",
    "products",
    "users",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp with time zone that always reads back aware, in UTC.

    PostgreSQL returns aware values; SQLite stores the UTC text and hands it back
    naive. Every store therefore gets aware UTC datetimes from one place.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Naive values (SQLite) are UTC: make them aware."""
        if value is None or value.tzinfo is not None:
            return value  # type: ignore[no-any-return]
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


logger = logging.getLogger(__name__)

# Stable constraint names, so Alembic migrations are portable across databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The sequencer state: one row, locked by every append (the single-writer rule).
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("link", LargeBinary, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    # INTEGER (not BIGINT) on SQLite makes idx the rowid: one B-tree, not two.
    Column(
        "idx",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("data", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("prev_link", LargeBinary, nullable=False),
    Column("nodes", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UTCDateTime(), nullable=False),
)

ledger_anchors = Table(
    "ledger_anchors",
    metadata,
    Column(
        "tree_size",
        BigInteger,
        ForeignKey("ledger_checkpoints.size"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("chain_id", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False, unique=True),
    Column("raw_tx", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # pending | mined | rejected
    Column("block_number", BigInteger, nullable=True),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


# Enrolled animals: one face template per animal (livestock registry's store).
animals = Table(
    "animals",
    metadata,
    Column("tag", String(15), primary_key=True),
    Column("scheme", String(16), nullable=False),
    Column("farm", String(64), nullable=False),
    Column("policy", String(64), nullable=True),
    Column("template", LargeBinary, nullable=False),  # float32, little-endian
    Column("photos", Integer, nullable=False),
    Column("photo_hashes", Text, nullable=False),  # JSON list of 16-hex-digit pHashes
    Column("enrolled_at", UTCDateTime(), nullable=False),
    # Templates of verified later sessions, float32 little-endian, concatenated.
    Column("sessions", LargeBinary, nullable=False, server_default=text("''")),
    # The face-ID model version (NAME+SHA256[:12]) whose embeddings the templates are.
    Column("model", String(80), nullable=False, server_default=text("''")),
)


# People who use the API, with one role each; farmers are tied to their farmer id.
users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("role", String(16), nullable=False),
    Column("farmer_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # When an admin disabled the user (no login, no live token); NULL: active.
    Column("disabled_at", UTCDateTime(), nullable=True),
)

# Access tokens: only their SHA-256 is stored; a token expires and can be revoked.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)


# Claims and their lifecycle: filed -> approved | rejected; approved -> paid (once).
claims = Table(
    "claims",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("policy_id", String(64), nullable=False),
    Column("farmer_id", String(64), nullable=False),
    Column("subject_kind", String(16), nullable=False),  # animal | plot
    Column("subject_id", String(64), nullable=False),
    Column("event_date", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=True),
    Column("payment_ref", String(64), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Added in 0006: what was claimed, when reported, the checks and the indemnity.
    Column("reported_at", UTCDateTime(), nullable=True),
    Column("claimed", Text, nullable=True),  # JSON: market value or damage claimed
    Column("light", String(8), nullable=True),  # green | amber | red
    Column("checks", Text, nullable=True),  # JSON list of Check.to_json()
    Column("indemnity", Text, nullable=True),  # JSON breakdown lines
)

# Photos submitted as claim evidence: their perceptual hashes, capture time and place.
evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(36), ForeignKey("claims.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("phash", String(16), nullable=False),
    Column("captured_at", UTCDateTime(), nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- Claims constraints (migration 0008) --------------------------------------------
# Who last decided a claim (the approver, once approved): the four-eyes rule at payment.
claims.append_column(Column("decided_by", String(64), nullable=True))
# Added in 0015: the codes of the failed checks a decision rests on (JSON list).
claims.append_column(Column("grounds", Text, nullable=True))
# Earlier claims of an animal or plot are read at every intake.
Index("ix_claims_subject", claims.c.subject_kind, claims.c.subject_id)
# Added in 0019: the catastrophe event a claim belongs to (a flood, a hail swath).
claims.append_column(Column("event_id", String(64), nullable=True))
Index("ix_claims_event_id", claims.c.event_id)
# Multi-index hashing of evidence pHashes (claims.photo_hashes): the four 16-bit
# bands of each hash, most significant first, each indexed for exact lookups.
for _band in range(4):
    evidence.append_column(Column(f"band{_band}", Integer, nullable=False))
    Index(f"ix_evidence_band{_band}", evidence.c[f"band{_band}"])
# --- end of the claims constraints --------------------------------------------------


# Farmers: the insured. Farm location is where claim photos are expected.
farmers = Table(
    "farmers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region", String(200), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Insurance products; their terms as JSON (underwriting.products codec).
products = Table(
    "products",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # crop | livestock
    Column("terms", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Applications: submitted -> approved | referred | declined (referred may be decided later).
applications = Table(
    "applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("farmer_id", String(64), ForeignKey("farmers.id"), nullable=False),
    Column("product_code", String(64), ForeignKey("products.code"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("light", String(8), nullable=False),
    Column("recommendation", String(16), nullable=False),
    Column("checks", Text, nullable=False),  # JSON list of {code, light, reason}
    Column("animals", Text, nullable=False),  # JSON list of tags (livestock)
    Column("reason", Text, nullable=True),
    Column("decided_by", String(64), nullable=True),
    Column("policy_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Policies issued from approved applications.
policies = Table(
    "policies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("farmer_id", String(64), ForeignKey("farmers.id"), nullable=False),
    Column("product_code", String(64), ForeignKey("products.code"), nullable=False),
    Column("application_id", String(36), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("sum_insured_minor", BigInteger, nullable=False),
    Column("premium", Text, nullable=False),  # JSON: total and each payer's part
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Plots of applications (and, once approved, of policies), in WGS84.
plots = Table(
    "plots",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("plot_ref", String(128), nullable=False),  # the id in the farmer's file
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id"),
        nullable=False,
        index=True,
    ),
    Column("policy_id", String(36), nullable=True, index=True),
    Column("farmer_id", String(64), nullable=False),
    Column("geometry", LargeBinary, nullable=False),  # WKB, WGS84 lon/lat
    Column("area_m2", Float, nullable=False),
    Column("declared_m2", Float, nullable=True),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
)

# --- Underwriting constraints (migration 0007) ------------------------------------
# The animals each policy insures, with the policy's period copied in, so that the
# database refuses one animal in two policies in force on the same day: a trigger
# on insert (migration 0007; on PostgreSQL it also takes a per-tag advisory lock,
# so two concurrent issues of one animal serialise and the second sees the first).
policy_animals = Table(
    "policy_animals",
    metadata,
    Column("policy_id", String(36), ForeignKey("policies.id"), primary_key=True),
    Column("tag", String(15), primary_key=True),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Index("ix_policy_animals_tag_period", "tag", "start_date", "end_date"),
)

# The bounding-box prefilter of the double-insurance search (plots of policies in force).
Index(
    "ix_plots_bounds",
    plots.c.min_lon,
    plots.c.min_lat,
    plots.c.max_lon,
    plots.c.max_lat,
)
# --- end of the underwriting constraints ------------------------------------------

# Every enrolment attempt and its outcome (a duplicate stores no animal, but is on record).
enrolments = Table(
    "enrolments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tag", String(15), nullable=False, index=True),
    Column("farmer_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # enrolled | duplicate | needs_review
    Column("match_tag", String(15), nullable=True),
    Column("match_farm", String(64), nullable=True),
    Column("score", Float, nullable=True),
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# Responses of POST requests sent with an Idempotency-Key, replayed on a retry.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", LargeBinary, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- Login rate limit (migration 0009) --------------------------------------------
# Failed logins, one row each, kept for the rate-limit window: counted per username
# and client address, and per address, so every API worker sees the same count.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False),  # client IP (IPv6 fits in 45)
    Column("failed_at", UTCDateTime(), nullable=False),
    Index("ix_login_failures_user_address", "username", "address", "failed_at"),
    Index("ix_login_failures_address", "address", "failed_at"),
)
# Devices a user has logged in from (migration 0017): a login that presents the
# device cookie of its username is delayed only by that device's own failures, so a
# guesser elsewhere (or behind the same address) cannot lock the user out.
login_devices = Table(
    "login_devices",
    metadata,
    Column("device_hash", LargeBinary, primary_key=True),  # SHA-256 of the cookie
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_login_devices_user", "user_id", "created_at"),
)
# --- end of the login rate limit --------------------------------------------------

# --- Records for the pages (migration 0011) ---------------------------------------
# Photos kept (claim evidence, enrolment photos): the bytes are content-addressed
# files (server.storage.photo_store), one row per photo and what it belongs to.
photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_kind", String(16), nullable=False),  # claim | animal
    Column("owner_id", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),  # lower-case hex of the bytes
    Column("name", String(255), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("captured_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("owner_kind", "owner_id", "sha256", name="uq_photos_owner_sha"),
    Index("ix_photos_sha256", "sha256"),
)

# The last assessment by map of a crop claim: its scenes, their dates, the plot's
# mean NDVI on each, and the damage polygons (a GeoJSON FeatureCollection, WGS84).
claim_assessments = Table(
    "claim_assessments",
    metadata,
    Column("claim_id", String(36), ForeignKey("claims.id"), primary_key=True),
    Column("before_scene", String(255), nullable=False),
    Column("after_scene", String(255), nullable=False),
    Column("before_date", Date, nullable=True),
    Column("after_date", Date, nullable=True),
    Column("ndvi_before", Float, nullable=True),
    Column("ndvi_after", Float, nullable=True),
    Column("damage", Text, nullable=False),
    Column("assessed_at", UTCDateTime(), nullable=False),
)

# Ledger entries by subject: one row per (kind, id) an entry's event names,
# written with the entry (SqlLedgerStore.append), for a record's history.
ledger_subjects = Table(
    "ledger_subjects",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("subject_id", String(255), primary_key=True),
    Column(
        "idx",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sqlite_with_rowid=False,  # one B-tree (the key), not a rowid table and an index
)
# --- end of the records for the pages ---------------------------------------------

# --- Devices and signed captures (migration 0012) ---------------------------------
# Field agents' phones: an EC P-256 public key (JWK, JSON) each, unique by its
# RFC 7638 thumbprint; active until revoked (by an admin or the agent).
devices = Table(
    "devices",
    metadata,
    Column("id", String(36), primary_key=True),  # dev_ + 32 hex digits
    Column("agent", String(64), nullable=False),  # the field agent's username
    Column("public_key", Text, nullable=False),  # JWK: {"crv","kty","x","y"}
    Column("thumbprint", String(43), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # active | revoked
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
    Index("ix_devices_agent", "agent", "registered_at"),
)
# Each evidence photo's capture signature: its light and reason, the device
# that signed, the signed message and the signature (null before 0012).
evidence.append_column(Column("capture_light", String(8), nullable=True))
evidence.append_column(Column("capture_reason", Text, nullable=True))
evidence.append_column(Column("device_id", String(36), nullable=True))
evidence.append_column(Column("signed", Text, nullable=True))
evidence.append_column(Column("signature", String(128), nullable=True))
# --- end of the devices and signed captures -----------------------------------------


# --- PostGIS (migration 0018) ---------------------------------------------------------
class _PostGISMultiPolygon(UserDefinedType[Any]):
    """PostGIS ``geometry(MultiPolygon, 4326)``: WGS84 lon/lat polygons.

    ``typmod`` is what reflection reads (the geometry type and SRID), so a
    column of another kind compares as different.
    """

    cache_ok = True

    def __init__(self, *typmod: str) -> None:
        self.typmod = tuple(typmod) or ("MultiPolygon", "4326")

    def get_col_spec(self, **kw: Any) -> str:
        return f"geometry({','.join(self.typmod)})"


class PlotGeometry(TypeDecorator[Any]):
    """A plot's shape for spatial SQL: PostGIS ``geometry(MultiPolygon, 4326)`` on PostgreSQL.

    The database writes it (migration 0018's trigger, from ``plots.geometry`` on
    every insert and every change of the geometry); no store writes or reads it
    as a value. On SQLite it is an unused BLOB that stays NULL: overlaps are
    searched in Python there.
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISMultiPolygon())
        return dialect.type_descriptor(LargeBinary())


plots.append_column(Column("geom", PlotGeometry(), nullable=True))
# The double-insurance search on PostgreSQL: ST_Intersects on this GiST index.
Index("ix_plots_geom", plots.c.geom, postgresql_using="gist")
# --- end of PostGIS ---------------------------------------------------------------------


_SQLITE_SYNCHRONOUS = ("EXTRA", "FULL", "NORMAL")
"""The ``PRAGMA synchronous`` levels :func:`make_engine` accepts (OFF is never allowed)."""


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    """The connect hook: WAL, ``synchronous``, busy timeout and foreign keys.

    Under WAL, FULL syncs the log on every commit, so a committed transaction
    survives a power loss; NORMAL syncs only at checkpoints and may lose the last
    commits (never corrupts the file).
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=60000")  # wait for the writer, up to 60 s
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so two appenders can never both read
    # the same head and then fail (or fork) when upgrading to a write lock. Readers
    # (execution option readonly=True) begin DEFERRED and never wait for writers.
    if conn.get_execution_options().get("readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


PG_CONNECT_TIMEOUT_S = 5
"""Seconds a new PostgreSQL connection may take before it fails (libpq's ``connect_timeout``)."""

_PG_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": PG_CONNECT_TIMEOUT_S,
    # A server that vanishes (host down, network cut) is noticed in about 40 s
    # by TCP keepalives, not after the kernel's two hours.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def _reflect_postgis_types() -> None:
    """Let reflection (Alembic's schema comparison) read PostGIS's geometry columns."""
    from sqlalchemy.dialects.postgresql.base import ischema_names

    for name in ("geometry", "public.geometry"):
        ischema_names.setdefault(name, _PostGISMultiPolygon)


def make_engine(
    url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10, **kwargs: Any
) -> Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL).

    For SQLite the parent folder is created, WAL is enabled with
    ``PRAGMA synchronous=<sqlite_synchronous>`` (FULL by default: every commit is
    on disk before it returns; NORMAL is faster but may lose the last commits on
    power loss), and every transaction begins IMMEDIATE (holds the write lock),
    which serialises ledger appends across threads and processes.

    For PostgreSQL, pooled connections are pinged before use (a connection
    the server dropped, e.g. in a restart, is replaced, not handed out), and
    a new connection that gets no answer within :data:`PG_CONNECT_TIMEOUT_S`
    seconds fails instead of hanging the request (a ``connect_timeout`` in
    the URL's query wins); TCP keepalives find a dead server in about 40 s.
    The pool keeps ``pool_size`` connections and opens up to as many again
    under load (closed when returned): a pool smaller than the requests a
    process serves at once opens and closes a server connection per request,
    which under load was most of PostgreSQL's latency tail.

    Raises:
        ValueError: ``sqlite_synchronous`` is not one of EXTRA, FULL or NORMAL.
    """
    level = sqlite_synchronous.upper()
    if level not in _SQLITE_SYNCHRONOUS:
        raise ValueError(
            f"sqlite_synchronous must be one of {', '.join(_SQLITE_SYNCHRONOUS)}, "
            f"not {sqlite_synchronous!r}"
        )
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(level))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        _reflect_postgis_types()
    connect_args = dict(kwargs.pop("connect_args", {}))
    if (
        parsed.get_backend_name() == "postgresql"
        and "connect_timeout" not in parsed.query
    ):
        for name, value in _PG_CONNECT_ARGS.items():
            connect_args.setdefault(name, value)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", pool_size)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


# --- Public notices (migration 0020) --------------------------------------------------
# A notice (公示) of the underwriting list or the claim list of a region and period,
# frozen when published: its document is the payload of its ledger entry
# (``notice.published``, at ``ledger_index``), not kept twice.
notices = Table(
    "notices",
    metadata,
    Column("id", String(36), primary_key=True),  # ntc_ + 32 hex digits
    Column("kind", String(16), nullable=False),  # underwriting | claims
    Column("region", String(200), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("published_on", Date, nullable=False),  # the farm's day
    Column("objection_days", Integer, nullable=False),
    Column("objection_ends", Date, nullable=False),  # the last day objections are taken
    Column("rows", Integer, nullable=False),
    Column("ledger_index", BigInteger, nullable=False, unique=True),
    Column("published_by", String(64), nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Index("ix_notices_region", "region", "kind", "published_at"),
)
# Which record each row of a notice stands for (the document names none in full).
notice_rows = Table(
    "notice_rows",
    metadata,
    Column("notice_id", String(36), ForeignKey("notices.id"), primary_key=True),
    Column("row", Integer, primary_key=True, autoincrement=False),
    Column("record_kind", String(16), nullable=False),  # policy | claim
    Column("record_id", String(36), nullable=False),
    Column("farmer_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # indemnity or sum insured
    Index("ix_notice_rows_record", "record_id"),
)
# Objections to a row of a notice: open until an adjuster (or underwriter) resolves it.
notice_objections = Table(
    "notice_objections",
    metadata,
    Column("id", String(36), primary_key=True),  # obj_ + 32 hex digits
    Column("notice_id", String(36), ForeignKey("notices.id"), nullable=False),
    Column("row", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("on_behalf_of", String(200), nullable=True),
    Column("recorded_by", String(64), nullable=False),
    Column("objector_farmer", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # open | upheld | dismissed
    Column("reason", Text, nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("ledger_index", BigInteger, nullable=False),
    Column("resolution_index", BigInteger, nullable=True),
    Index("ix_notice_objections_notice", "notice_id", "row"),
)
# --- end of the public notices --------------------------------------------------------
