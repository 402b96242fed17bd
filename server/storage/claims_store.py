"""Claims in the database: rows in, records out, conditional UPDATEs.

SQL only: the service (``server.services.claims``) decides what may happen
(the rules of ``claims``), opens the transaction, takes the named locks and
appends the ledger event in the same transaction as the change written here.

Every state change is a conditional UPDATE (``WHERE status IN (...)``): a move
whose claim is no longer where the caller saw it changes nothing and says so
(rowcount 0), so payment happens exactly once even when two adjusters pay at
the same moment. :meth:`ClaimStore.get` with ``for_update`` also locks the
claim's row (PostgreSQL; SQLite's write transactions are serialised already),
so the rules checked on the record hold until the transaction ends.

Evidence photos keep their pHash and its four 16-bit bands (indexed):
:meth:`ClaimStore.similar_evidence` finds near-duplicates by probing the band
indexes (multi-index hashing, see ``claims.photo_hashes``) instead of reading
every stored hash.

Crop claims as features (OGC API - Features) carry their plot's shape:
:meth:`ClaimStore.plot_claims_page`, :meth:`ClaimStore.plot_claim` and
:meth:`ClaimStore.plot_claims_extent` join each claim to its insured plot.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from claims import Check, Line, Status, bands, traffic_light
from server.errors import NotFoundError
from server.storage.paging import Page, page_rows
from server.storage.plots_store import (
    Box,
    Days,
    Extent,
    geometry_functions,
    plots_meeting_boxes,
)
from server.storage.schema import animals, claims, evidence, plots
from underwriting import Money, Param

__all__ = [
    "ClaimRecord",
    "ClaimStore",
    "EarlierClaim",
    "EvidenceRow",
    "InsuredPlot",
    "PlotClaimRecord",
    "StoredHash",
    "checks_from_json",
    "checks_json",
    "claims_with_plots",
    "reason_from_json",
    "reason_json",
]


@dataclass(frozen=True)
class ClaimRecord:
    """A stored claim."""

    id: str
    policy_id: str
    farmer_id: str
    subject_kind: str
    subject_id: str
    status: Status
    amount: Money
    reason: str | None
    payment_ref: str | None
    event_date: date | None = None
    reported_at: datetime | None = None
    claimed: dict[str, Any] = field(default_factory=dict)
    light: str | None = None
    checks: tuple[Check, ...] = ()
    indemnity: tuple[Line, ...] = ()
    decided_by: str | None = None
    grounds: tuple[str, ...] = ()
    event_id: str | None = None


@dataclass(frozen=True)
class EarlierClaim:
    """An earlier claim of the same subject: its id, loss day and status."""

    id: str
    event_date: date
    status: str


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence photo to store: its name, pHash, capture time (UTC) and GPS.

    With its capture signature (migration 0012): the light and reason of the
    verdict, the device that signed, the signed message and the signature
    (all None for an unsigned photo but the light and reason).
    """

    name: str
    phash: int
    captured_at: datetime | None
    lat: float | None
    lon: float | None
    capture_light: str | None = None
    capture_reason: str | None = None
    device_id: str | None = None
    signed: str | None = None
    signature: str | None = None


@dataclass(frozen=True)
class InsuredPlot:
    """A plot of a policy: its geometry (WKB, WGS84 lon/lat) and geodesic area in m2."""

    geometry: bytes
    area_m2: float


@dataclass(frozen=True)
class PlotClaimRecord:
    """A crop claim with the plot it names: the plot's row id, its id in the file, its shape.

    Attributes:
        claim: the claim.
        plot_id: the plot's row id.
        geometry: the plot's WKB (WGS84 lon/lat); ``area_m2`` its geodesic area in m2.
    """

    claim: ClaimRecord
    plot_id: str
    geometry: bytes
    area_m2: float


@dataclass(frozen=True)
class StoredHash:
    """A stored evidence hash found by a band lookup, and the claim it belongs to."""

    phash: int
    claim_id: str


def _record(row: Any) -> ClaimRecord:
    return ClaimRecord(
        row.id,
        row.policy_id,
        row.farmer_id,
        row.subject_kind,
        row.subject_id,
        row.status,
        Money(int(row.amount_minor), row.currency),
        row.reason,
        row.payment_ref,
        row.event_date.date() if row.event_date is not None else None,
        row.reported_at,
        json.loads(row.claimed) if row.claimed else {},
        row.light,
        checks_from_json(row.checks),
        tuple(Line(*x) for x in json.loads(row.indemnity)) if row.indemnity else (),
        row.decided_by,
        tuple(json.loads(row.grounds)) if row.grounds else (),
        row.event_id,
    )


def checks_json(checks: Sequence[Check]) -> str:
    """Checks as stored: a JSON list of :meth:`Check.to_json`."""
    return json.dumps([c.to_json() for c in checks])


def checks_from_json(text: str | None) -> tuple[Check, ...]:
    """The checks of :func:`checks_json` (and of rows written before checks were data)."""
    return tuple(Check.from_json(c) for c in json.loads(text)) if text else ()


def _lines_json(lines: Sequence[Line]) -> str:
    """An indemnity breakdown as stored: [key, value, params] per line."""
    return json.dumps([[x.key, x.value, dict(x.params)] for x in lines])


def reason_json(message: str, params: Mapping[str, Param]) -> str:
    """A capture verdict's reason as stored in ``evidence.capture_reason``."""
    return json.dumps({"message": message, "params": dict(params)})


def reason_from_json(text: str | None) -> tuple[str, dict[str, Param]] | None:
    """(message, params) of :func:`reason_json`; a reason stored as words is ``text``."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return doc["message"], dict(doc.get("params") or {})
    return "text", {"text": text}


def _day(value: date) -> datetime:
    """A loss day as stored: midnight UTC of that calendar date (the column is a timestamp)."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


class ClaimStore:
    """Rows of ``claims`` and ``evidence``; every write runs in the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- reads ----------------------------------------------------------------------

    def page(
        self,
        *,
        farmer_id: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Claims, newest report first, optionally of one farmer or in one status: a page."""
        where = []
        if farmer_id is not None:
            where.append(claims.c.farmer_id == farmer_id)
        if status:
            where.append(claims.c.status == status)
        order = [claims.c.reported_at.desc(), claims.c.id]
        with self.engine.connect().execution_options(readonly=True) as conn:
            cond = and_(*where) if where else true()
            rows, total = page_rows(conn, claims, cond, order, offset, limit)
        return Page([_record(r) for r in rows], total, offset, limit)

    def get(
        self,
        claim_id: str,
        conn: Connection | None = None,
        *,
        for_update: bool = False,
    ) -> ClaimRecord:
        """The claim with ``claim_id``; ``for_update`` locks its row until ``conn`` commits.

        Raises:
            NotFoundError: no such claim.
        """
        query = select(claims).where(claims.c.id == claim_id)
        if for_update:
            query = query.with_for_update()
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.engine.connect().execution_options(readonly=True) as c:
                row = c.execute(query).first()
        if row is None:
            raise NotFoundError(f"no claim {claim_id}", field="claim_id")
        return _record(row)

    def event_claims(
        self,
        conn: Connection,
        event_id: str,
        *,
        subject_kind: str = "plot",
        statuses: Collection[Status] | None = None,
    ) -> list[ClaimRecord]:
        """The claims of catastrophe event ``event_id`` of one subject kind, in id order.

        ``statuses`` keeps only claims in those statuses (None: every status).
        One indexed read (``ix_claims_event_id``), however many claims.
        """
        query = select(claims).where(
            claims.c.event_id == event_id, claims.c.subject_kind == subject_kind
        )
        if statuses is not None:
            query = query.where(claims.c.status.in_(sorted(statuses)))
        return [_record(r) for r in conn.execute(query.order_by(claims.c.id)).all()]

    def earlier_claims(
        self,
        conn: Connection,
        subject_kind: str,
        subject_id: str,
        *,
        policy_id: str | None = None,
    ) -> list[EarlierClaim]:
        """Claims of a subject that were not rejected, oldest loss first.

        Plots are named within their policy (``policy_id``); animals by tag alone.
        """
        query = select(claims.c.id, claims.c.event_date, claims.c.status).where(
            claims.c.subject_kind == subject_kind,
            claims.c.subject_id == subject_id,
            claims.c.status != "rejected",
        )
        if policy_id is not None:
            query = query.where(claims.c.policy_id == policy_id)
        rows = conn.execute(query.order_by(claims.c.event_date, claims.c.id)).all()
        return [EarlierClaim(r.id, r.event_date.date(), r.status) for r in rows]

    def plots_claimed_between(
        self, conn: Connection, start: date, end: date
    ) -> set[tuple[str, str]]:
        """(policy id, plot ref) of every crop claim, not rejected, with a loss in [start, end]."""
        rows = conn.execute(
            select(claims.c.policy_id, claims.c.subject_id).where(
                claims.c.subject_kind == "plot",
                claims.c.status != "rejected",
                claims.c.event_date >= _day(start),
                claims.c.event_date <= _day(end),
            )
        ).all()
        return {(r.policy_id, r.subject_id) for r in rows}

    def paid_minor(
        self,
        conn: Connection,
        policy_id: str,
        *,
        subject: tuple[str, str] | None = None,
        excluding: str | None = None,
    ) -> int:
        """The sum of paid amounts (minor units) on a policy, optionally on one subject.

        ``subject`` is (kind, id) within the policy; ``excluding`` leaves out
        one claim (the one being assessed or paid). A policy's claims are in
        its currency.
        """
        query = select(func.coalesce(func.sum(claims.c.amount_minor), 0)).where(
            claims.c.policy_id == policy_id, claims.c.status == "paid"
        )
        if subject is not None:
            query = query.where(
                claims.c.subject_kind == subject[0], claims.c.subject_id == subject[1]
            )
        if excluding is not None:
            query = query.where(claims.c.id != excluding)
        return int(conn.execute(query).scalar_one())

    def similar_evidence(
        self, conn: Connection, probes: Sequence[Collection[int]]
    ) -> list[StoredHash]:
        """Stored evidence hashes whose band ``i`` is one of ``probes[i]``, for any ``i``.

        ``probes`` holds one collection of 16-bit values per band (see
        ``claims.photo_hashes.probe_sets``); each band's lookup uses its index.
        The caller confirms the full Hamming distance of what comes back.
        """
        terms = [
            evidence.c[f"band{i}"].in_(sorted(values))
            for i, values in enumerate(probes)
            if values
        ]
        if not terms:
            return []
        rows = conn.execute(
            select(evidence.c.phash, evidence.c.claim_id).where(or_(*terms))
        ).all()
        return [StoredHash(int(r.phash, 16), r.claim_id) for r in rows]

    # --- writes (in the caller's transaction) -----------------------------------------

    def insert(
        self,
        conn: Connection,
        *,
        policy_id: str,
        farmer_id: str,
        subject_kind: str,
        subject_id: str,
        event_date: date,
        amount: Money,
        reported_at: datetime,
        claimed: dict[str, Any],
        checks: Sequence[Check],
        indemnity: Sequence[Line],
        event_id: str | None = None,
    ) -> ClaimRecord:
        """Insert a new claim in status ``filed``; returns it as stored.

        ``event_id`` names the catastrophe event the loss belongs to (None: none).
        """
        claim_id = str(uuid.uuid4())
        conn.execute(
            insert(claims).values(
                id=claim_id,
                policy_id=policy_id,
                farmer_id=farmer_id,
                subject_kind=subject_kind,
                subject_id=subject_id,
                event_date=_day(event_date),
                status="filed",
                amount_minor=amount.minor,
                currency=amount.currency,
                updated_at=datetime.now(UTC),
                reported_at=reported_at,
                claimed=json.dumps(claimed),
                light=traffic_light(checks) if checks else None,
                checks=checks_json(checks),
                indemnity=_lines_json(indemnity),
                event_id=event_id,
            )
        )
        return self.get(claim_id, conn)

    def reassess(
        self,
        conn: Connection,
        claim_id: str,
        *,
        open_statuses: Collection[Status],
        checks: Sequence[Check],
        amount: Money,
        indemnity: Sequence[Line],
    ) -> bool:
        """Replace the checks, light, amount and indemnity if the claim is still open.

        Returns whether the row changed (False: no longer in ``open_statuses``).
        """
        changed = conn.execute(
            update(claims)
            .where(claims.c.id == claim_id, claims.c.status.in_(sorted(open_statuses)))
            .values(
                checks=checks_json(checks),
                light=traffic_light(checks),
                amount_minor=amount.minor,
                currency=amount.currency,
                indemnity=_lines_json(indemnity),
                updated_at=datetime.now(UTC),
            )
        ).rowcount
        return bool(changed)

    def move(
        self,
        conn: Connection,
        claim_id: str,
        *,
        from_status: Collection[Status],
        to_status: Status,
        values: dict[str, Any],
    ) -> bool:
        """Move the claim ``from_status -> to_status``, setting ``values``; whether it moved."""
        changed = conn.execute(
            update(claims)
            .where(claims.c.id == claim_id, claims.c.status.in_(sorted(from_status)))
            .values(status=to_status, updated_at=datetime.now(UTC), **values)
        ).rowcount
        return bool(changed)

    def add_evidence(
        self, conn: Connection, claim_id: str, photos: Sequence[EvidenceRow]
    ) -> None:
        """Store evidence photos of a claim with their hash bands."""
        now = datetime.now(UTC)
        conn.execute(
            insert(evidence),
            [
                {
                    "claim_id": claim_id,
                    "name": p.name[:255],
                    "phash": f"{p.phash:016x}",
                    "captured_at": p.captured_at,
                    "lat": p.lat,
                    "lon": p.lon,
                    "capture_light": p.capture_light,
                    "capture_reason": p.capture_reason,
                    "device_id": p.device_id,
                    "signed": p.signed,
                    "signature": p.signature,
                    "created_at": now,
                    **{f"band{i}": b for i, b in enumerate(bands(p.phash))},
                }
                for p in photos
            ],
        )

    def capture_lights(
        self, conn: Connection, claim_id: str
    ) -> list[tuple[str, str | None, tuple[str, dict[str, Param]] | None]]:
        """Each evidence photo of a claim: (name, light, (message, params)), in upload order.

        Light and reason are None for evidence stored before capture signatures.
        """
        rows = conn.execute(
            select(evidence.c.name, evidence.c.capture_light, evidence.c.capture_reason)
            .where(evidence.c.claim_id == claim_id)
            .order_by(evidence.c.id)
        ).all()
        return [
            (r.name, r.capture_light, reason_from_json(r.capture_reason)) for r in rows
        ]

    # --- what a claim names, as stored by underwriting ------------------------------

    def is_enrolled(self, conn: Connection, tag: str) -> bool:
        """True when an animal is enrolled under ``tag``."""
        return (
            conn.execute(select(animals.c.tag).where(animals.c.tag == tag)).first()
            is not None
        )

    def insured_plot(
        self, conn: Connection, policy_id: str, plot_ref: str
    ) -> InsuredPlot | None:
        """The plot ``plot_ref`` of policy ``policy_id`` (WKB geometry, area), or None."""
        row = conn.execute(
            select(plots.c.geometry, plots.c.area_m2).where(
                plots.c.policy_id == policy_id, plots.c.plot_ref == plot_ref
            )
        ).first()
        if row is None:
            return None
        return InsuredPlot(bytes(row.geometry), float(row.area_m2))

    # --- crop claims as features (OGC API - Features) ----------------------------------

    def plot_claims_page(
        self,
        conn: Connection,
        *,
        farmer_id: str | None,
        boxes: Sequence[Box] | None,
        days: Days,
        offset: int,
        limit: int,
    ) -> tuple[list[PlotClaimRecord], int]:
        """Crop claims with their plots: a page by loss day then id, and the total.

        Args:
            conn: the connection to read on.
            farmer_id: only this farmer's claims; None for every farmer's.
            boxes: only claims whose plot's shape meets one of these boxes; None
                for anywhere.
            days: only claims whose loss day lies within these days.
            offset: claims to skip.
            limit: most claims on the page.
        """
        where = _plot_claims_where(conn, farmer_id, boxes, days)
        joined = claims_with_plots()
        total = conn.execute(
            select(func.count()).select_from(joined).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(*_WITH_PLOT)
            .select_from(joined)
            .where(*where)
            .order_by(claims.c.event_date, claims.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return [_plot_claim(r) for r in rows], int(total)

    def plot_claim(self, conn: Connection, claim_id: str) -> PlotClaimRecord | None:
        """The crop claim ``claim_id`` with its plot; None if none (or not on an insured plot)."""
        row = conn.execute(
            select(*_WITH_PLOT)
            .select_from(claims_with_plots())
            .where(claims.c.id == claim_id, claims.c.subject_kind == "plot")
        ).first()
        return _plot_claim(row) if row is not None else None

    def plot_claims_extent(
        self, conn: Connection, *, farmer_id: str | None
    ) -> Extent | None:
        """The bounds of the crop claims' plots and the span of their loss days; None if none."""
        query = select(
            func.count(),
            func.min(plots.c.min_lon),
            func.min(plots.c.min_lat),
            func.max(plots.c.max_lon),
            func.max(plots.c.max_lat),
            func.min(claims.c.event_date),
            func.max(claims.c.event_date),
        ).select_from(claims_with_plots())
        query = query.where(claims.c.subject_kind == "plot")
        if farmer_id is not None:
            query = query.where(claims.c.farmer_id == farmer_id)
        row = conn.execute(query).one()
        if not row[0]:
            return None
        west, south, east, north = (float(v) for v in row[1:5])
        return Extent(west, south, east, north, row[5].date(), row[6].date())


def claims_with_plots() -> Any:
    """Claims joined to the plot they name: the policy's plot of that id (the first by row id)."""
    other = plots.alias("named")
    first = (
        select(func.min(other.c.id))
        .where(
            other.c.policy_id == claims.c.policy_id,
            other.c.plot_ref == claims.c.subject_id,
        )
        .scalar_subquery()
    )
    return claims.join(plots, plots.c.id == first)


_WITH_PLOT: list[Any] = [
    claims,
    plots.c.id.label("plot_row_id"),
    plots.c.geometry.label("plot_geometry"),
    plots.c.area_m2.label("plot_area_m2"),
]


def _plot_claim(row: Any) -> PlotClaimRecord:
    return PlotClaimRecord(
        _record(row),
        row.plot_row_id,
        bytes(row.plot_geometry),
        float(row.plot_area_m2),
    )


def _plot_claims_where(
    conn: Connection,
    farmer_id: str | None,
    boxes: Sequence[Box] | None,
    days: Days,
) -> list[Any]:
    where: list[Any] = [claims.c.subject_kind == "plot"]
    if farmer_id is not None:
        where.append(claims.c.farmer_id == farmer_id)
    if boxes is not None:
        geometry_functions(conn)
        where.append(plots_meeting_boxes(conn, boxes))
    first, last = days
    if first is not None:
        where.append(claims.c.event_date >= _day(first))
    if last is not None:
        where.append(claims.c.event_date <= _day(last))
    return where
