"""Public notices in the database: the notices, which record each row stands for, objections.

SQL only: the service (``server.services.notices``) gathers the rows through
these reads, calls the rules of ``claims.notices``, and appends the ledger
events in the same transaction as the rows written here. A notice's document
is the payload of its ``notice.published`` ledger entry (read back by index,
:meth:`NoticeStore.document`), not a column.

Dates of issue and approval are those of the ledger's events
(``policy.issued``, ``claim.approved``: :meth:`NoticeStore.event_times`), which
carry the service's clock, so a replayed season (the demo) posts its own days.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    func,
    insert,
    select,
    true,
    update,
)

from server.errors import NotFoundError
from server.storage.paging import page_rows
from server.storage.schema import (
    claims,
    farmers,
    ledger_entries,
    ledger_subjects,
    notice_objections,
    notice_rows,
    notices,
    plots,
    policies,
    policy_animals,
)

__all__ = [
    "ClaimCandidate",
    "NoticeRecord",
    "NoticeRowRecord",
    "NoticeStore",
    "ObjectionRecord",
    "PolicyCandidate",
    "StandingRow",
    "new_notice_id",
    "new_objection_id",
]

_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit


def new_notice_id() -> str:
    """A fresh notice id: ``ntc_`` and 32 random hex digits (unguessable: the paper is the key)."""
    return "ntc_" + secrets.token_hex(16)


def new_objection_id() -> str:
    """A fresh objection id: ``obj_`` and 32 random hex digits."""
    return "obj_" + secrets.token_hex(16)


@dataclass(frozen=True)
class NoticeRecord:
    """A stored notice (its document is its ledger entry's payload)."""

    id: str
    kind: str
    region: str
    period_start: date
    period_end: date
    published_on: date
    objection_days: int
    objection_ends: date
    rows: int
    ledger_index: int
    published_by: str
    published_at: datetime


@dataclass(frozen=True)
class NoticeRowRecord:
    """Which record a row of a notice stands for, its farmer and the amount posted (minor)."""

    notice_id: str
    row: int
    record_kind: str
    record_id: str
    farmer_id: str
    amount_minor: int


@dataclass(frozen=True)
class ObjectionRecord:
    """An objection to a row of a notice, and what became of it."""

    id: str
    notice_id: str
    row: int
    text: str
    on_behalf_of: str | None
    recorded_by: str
    objector_farmer: str | None
    status: str  # open | upheld | dismissed
    reason: str | None
    resolved_by: str | None
    recorded_at: datetime
    resolved_at: datetime | None
    ledger_index: int
    resolution_index: int | None


@dataclass(frozen=True)
class PolicyCandidate:
    """A policy of a farmer of the region, with what an underwriting row shows of it.

    ``animals`` is the head insured (0 for crops); ``area_m2`` the plots'
    geodesic area (0.0 for livestock).
    """

    id: str
    farmer_id: str
    farmer_name: str
    product_code: str
    kind: str
    sum_insured_minor: int
    currency: str
    premium: dict[str, str]
    animals: int
    area_m2: float


@dataclass(frozen=True)
class ClaimCandidate:
    """An approved, unpaid claim of a farmer of the region, with what a claims row shows.

    ``plot_area_m2`` is the insured plot's area (plot claims), else None;
    ``indemnity`` the breakdown lines as stored (JSON list of key, value, params).
    """

    id: str
    policy_id: str
    farmer_id: str
    farmer_name: str
    subject_kind: str
    subject_id: str
    event_date: date
    amount_minor: int
    currency: str
    indemnity: list[Any]
    event_id: str | None
    plot_area_m2: float | None


@dataclass(frozen=True)
class StandingRow:
    """The latest claims notice listing a claim: its row, period end, and the row's objections."""

    notice_id: str
    row: int
    objection_ends: date
    amount_minor: int
    open_objections: int
    upheld: bool


def _notice(row: Any) -> NoticeRecord:
    return NoticeRecord(
        row.id,
        row.kind,
        row.region,
        row.period_start,
        row.period_end,
        row.published_on,
        int(row.objection_days),
        row.objection_ends,
        int(row.rows),
        int(row.ledger_index),
        row.published_by,
        row.published_at,
    )


def _objection(row: Any) -> ObjectionRecord:
    return ObjectionRecord(
        row.id,
        row.notice_id,
        int(row.row),
        row.text,
        row.on_behalf_of,
        row.recorded_by,
        row.objector_farmer,
        row.status,
        row.reason,
        row.resolved_by,
        row.recorded_at,
        row.resolved_at,
        int(row.ledger_index),
        None if row.resolution_index is None else int(row.resolution_index),
    )


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


class NoticeStore:
    """Reads and writes of ``notices``, ``notice_rows`` and ``notice_objections``."""

    # --- what a notice lists ----------------------------------------------------------

    def regions(self, conn: Connection) -> list[str]:
        """Every region a farmer is registered in, sorted."""
        rows = conn.execute(
            select(farmers.c.region).distinct().order_by(farmers.c.region)
        ).all()
        return [r.region for r in rows]

    def policies_in(self, conn: Connection, region: str) -> list[PolicyCandidate]:
        """The policies of the farmers of ``region``, with head and area insured."""
        rows = conn.execute(
            select(policies, farmers.c.name.label("farmer_name"))
            .select_from(policies.join(farmers, farmers.c.id == policies.c.farmer_id))
            .where(farmers.c.region == region)
            .order_by(policies.c.id)
        ).all()
        ids = [r.id for r in rows]
        heads: dict[str, int] = {}
        areas: dict[str, float] = {}
        for part in _chunks(ids):
            for pid, n in conn.execute(
                select(policy_animals.c.policy_id, func.count())
                .where(policy_animals.c.policy_id.in_(part))
                .group_by(policy_animals.c.policy_id)
            ).all():
                heads[pid] = int(n)
            for pid, m2 in conn.execute(
                select(plots.c.policy_id, func.sum(plots.c.area_m2))
                .where(plots.c.policy_id.in_(part))
                .group_by(plots.c.policy_id)
            ).all():
                areas[pid] = float(m2 or 0.0)
        return [
            PolicyCandidate(
                r.id,
                r.farmer_id,
                r.farmer_name,
                r.product_code,
                r.kind,
                int(r.sum_insured_minor),
                r.currency,
                json.loads(r.premium),
                heads.get(r.id, 0),
                areas.get(r.id, 0.0),
            )
            for r in rows
        ]

    def approved_claims_in(self, conn: Connection, region: str) -> list[ClaimCandidate]:
        """The claims of the farmers of ``region`` that are approved and not yet paid."""
        rows = conn.execute(
            select(claims, farmers.c.name.label("farmer_name"))
            .select_from(claims.join(farmers, farmers.c.id == claims.c.farmer_id))
            .where(farmers.c.region == region, claims.c.status == "approved")
            .order_by(claims.c.id)
        ).all()
        wanted = [(r.policy_id, r.subject_id) for r in rows if r.subject_kind == "plot"]
        area: dict[tuple[str, str], float] = {}
        for part in _chunks(sorted({p for p, _ in wanted})):
            for pid, ref, m2 in conn.execute(
                select(plots.c.policy_id, plots.c.plot_ref, plots.c.area_m2).where(
                    plots.c.policy_id.in_(part)
                )
            ).all():
                area[(pid, ref)] = float(m2)
        return [
            ClaimCandidate(
                r.id,
                r.policy_id,
                r.farmer_id,
                r.farmer_name,
                r.subject_kind,
                r.subject_id,
                r.event_date.date(),
                int(r.amount_minor),
                r.currency,
                json.loads(r.indemnity) if r.indemnity else [],
                r.event_id,
                area.get((r.policy_id, r.subject_id))
                if r.subject_kind == "plot"
                else None,
            )
            for r in rows
        ]

    def event_times(
        self, conn: Connection, kind: str, ids: Sequence[str], types: Collection[str]
    ) -> dict[str, datetime]:
        """The time of the latest event of ``types`` naming each record ``kind`` ``ids``.

        Read from the ledger's subject index (one indexed read per 500 ids);
        a record with no such event is left out.
        """
        found: dict[str, datetime] = {}
        for part in _chunks(list(ids)):
            rows = conn.execute(
                select(ledger_subjects.c.subject_id, ledger_entries.c.data)
                .select_from(
                    ledger_subjects.join(
                        ledger_entries, ledger_entries.c.idx == ledger_subjects.c.idx
                    )
                )
                .where(
                    ledger_subjects.c.kind == kind,
                    ledger_subjects.c.subject_id.in_(part),
                )
                .order_by(ledger_subjects.c.idx)
            ).all()
            for sid, data in rows:
                doc = json.loads(bytes(data))
                if doc.get("type") in types:
                    found[sid] = datetime.fromisoformat(doc["timestamp"])
        return found

    # --- notices ----------------------------------------------------------------------

    def insert(
        self,
        conn: Connection,
        record: NoticeRecord,
        rows: Sequence[NoticeRowRecord],
    ) -> None:
        """Store a published notice and what each of its rows stands for."""
        conn.execute(
            insert(notices).values(
                id=record.id,
                kind=record.kind,
                region=record.region,
                period_start=record.period_start,
                period_end=record.period_end,
                published_on=record.published_on,
                objection_days=record.objection_days,
                objection_ends=record.objection_ends,
                rows=record.rows,
                ledger_index=record.ledger_index,
                published_by=record.published_by,
                published_at=record.published_at,
            )
        )
        if rows:
            conn.execute(
                insert(notice_rows),
                [
                    {
                        "notice_id": r.notice_id,
                        "row": r.row,
                        "record_kind": r.record_kind,
                        "record_id": r.record_id,
                        "farmer_id": r.farmer_id,
                        "amount_minor": r.amount_minor,
                    }
                    for r in rows
                ],
            )

    def get(self, conn: Connection, notice_id: str) -> NoticeRecord:
        """The notice ``notice_id``.

        Raises:
            NotFoundError: no such notice (field ``notice_id``).
        """
        row = conn.execute(select(notices).where(notices.c.id == notice_id)).first()
        if row is None:
            raise NotFoundError(f"no notice {notice_id}", field="notice_id")
        return _notice(row)

    def page(
        self,
        conn: Connection,
        *,
        region: str | None,
        kind: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[NoticeRecord], int]:
        """Notices, newest first, optionally of one region and kind: a page and the total."""
        where: list[ColumnElement[bool]] = [true()]
        if region is not None:
            where.append(notices.c.region == region)
        if kind is not None:
            where.append(notices.c.kind == kind)
        rows, total = page_rows(
            conn,
            notices,
            and_(*where),
            [notices.c.ledger_index.desc()],
            offset,
            limit,
        )
        return [_notice(r) for r in rows], total

    def document(self, conn: Connection, index: int) -> bytes:
        """The bytes of ledger entry ``index`` (a notice's ``notice.published`` event)."""
        data = conn.execute(
            select(ledger_entries.c.data).where(ledger_entries.c.idx == index)
        ).scalar_one()
        return bytes(data)

    def rows(self, conn: Connection, notice_id: str) -> list[NoticeRowRecord]:
        """What each row of the notice stands for, in row order."""
        found = conn.execute(
            select(notice_rows)
            .where(notice_rows.c.notice_id == notice_id)
            .order_by(notice_rows.c.row)
        ).all()
        return [
            NoticeRowRecord(
                r.notice_id,
                int(r.row),
                r.record_kind,
                r.record_id,
                r.farmer_id,
                int(r.amount_minor),
            )
            for r in found
        ]

    def row(self, conn: Connection, notice_id: str, row: int) -> NoticeRowRecord | None:
        """What row ``row`` of the notice stands for, or None (no such row)."""
        found = self.rows_at(conn, notice_id, [row])
        return found[0] if found else None

    def rows_at(
        self, conn: Connection, notice_id: str, numbers: Sequence[int]
    ) -> list[NoticeRowRecord]:
        """The rows ``numbers`` of the notice (those that exist), in row order."""
        found = conn.execute(
            select(notice_rows)
            .where(
                notice_rows.c.notice_id == notice_id,
                notice_rows.c.row.in_(list(numbers)),
            )
            .order_by(notice_rows.c.row)
        ).all()
        return [
            NoticeRowRecord(
                r.notice_id,
                int(r.row),
                r.record_kind,
                r.record_id,
                r.farmer_id,
                int(r.amount_minor),
            )
            for r in found
        ]

    def standing(self, conn: Connection, claim_id: str) -> StandingRow | None:
        """The latest claims notice listing ``claim_id`` and its row's objections, or None.

        Open objections are counted on every claims notice that listed the claim
        (an earlier one's stays in the way until it is decided); an upheld one on
        the latest notice.
        """
        latest = conn.execute(
            select(notice_rows, notices.c.objection_ends)
            .select_from(
                notice_rows.join(notices, notices.c.id == notice_rows.c.notice_id)
            )
            .where(
                notice_rows.c.record_id == claim_id,
                notice_rows.c.record_kind == "claim",
            )
            .order_by(notices.c.ledger_index.desc())
            .limit(1)
        ).first()
        if latest is None:
            return None
        counts: dict[str, int] = dict(
            conn.execute(
                select(notice_objections.c.status, func.count())
                .where(
                    notice_objections.c.notice_id == latest.notice_id,
                    notice_objections.c.row == latest.row,
                )
                .group_by(notice_objections.c.status)
            ).all()
        )
        # An objection still open on an earlier notice that listed the claim counts
        # too: posting the claim again must not leave it undecided behind the new one.
        open_anywhere = conn.execute(
            select(func.count())
            .select_from(
                notice_objections.join(
                    notice_rows,
                    (notice_rows.c.notice_id == notice_objections.c.notice_id)
                    & (notice_rows.c.row == notice_objections.c.row),
                )
            )
            .where(
                notice_rows.c.record_id == claim_id,
                notice_rows.c.record_kind == "claim",
                notice_objections.c.status == "open",
            )
        ).scalar_one()
        return StandingRow(
            latest.notice_id,
            int(latest.row),
            latest.objection_ends,
            int(latest.amount_minor),
            max(int(counts.get("open", 0)), int(open_anywhere)),
            int(counts.get("upheld", 0)) > 0,
        )

    # --- objections -------------------------------------------------------------------

    def insert_objection(self, conn: Connection, record: ObjectionRecord) -> None:
        """Store a new (open) objection."""
        conn.execute(
            insert(notice_objections).values(
                id=record.id,
                notice_id=record.notice_id,
                row=record.row,
                text=record.text,
                on_behalf_of=record.on_behalf_of,
                recorded_by=record.recorded_by,
                objector_farmer=record.objector_farmer,
                status=record.status,
                reason=None,
                resolved_by=None,
                recorded_at=record.recorded_at,
                resolved_at=None,
                ledger_index=record.ledger_index,
                resolution_index=None,
            )
        )

    def objection(
        self, conn: Connection, objection_id: str, *, for_update: bool = False
    ) -> ObjectionRecord:
        """The objection ``objection_id`` (its row locked with ``for_update``).

        Raises:
            NotFoundError: no such objection (field ``objection_id``).
        """
        query = select(notice_objections).where(notice_objections.c.id == objection_id)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no objection {objection_id}", field="objection_id")
        return _objection(row)

    def objections(
        self, conn: Connection, notice_id: str, *, objector_farmer: str | None = None
    ) -> list[ObjectionRecord]:
        """The notice's objections, oldest first (only ``objector_farmer``'s when given)."""
        where = [notice_objections.c.notice_id == notice_id]
        if objector_farmer is not None:
            where.append(notice_objections.c.objector_farmer == objector_farmer)
        rows = conn.execute(
            select(notice_objections)
            .where(*where)
            .order_by(notice_objections.c.recorded_at, notice_objections.c.id)
        ).all()
        return [_objection(r) for r in rows]

    def open_counts(
        self, conn: Connection, notice_ids: Sequence[str]
    ) -> dict[str, int]:
        """Open objections per notice (notices without any left out)."""
        found: dict[str, int] = {}
        for part in _chunks(list(notice_ids)):
            for nid, n in conn.execute(
                select(notice_objections.c.notice_id, func.count())
                .where(
                    notice_objections.c.notice_id.in_(part),
                    notice_objections.c.status == "open",
                )
                .group_by(notice_objections.c.notice_id)
            ).all():
                found[nid] = int(n)
        return found

    def resolve(
        self,
        conn: Connection,
        objection_id: str,
        *,
        status: str,
        reason: str,
        resolved_by: str,
        resolved_at: datetime,
        resolution_index: int,
    ) -> bool:
        """Close an open objection as ``upheld`` or ``dismissed``; False if it was not open."""
        done = conn.execute(
            update(notice_objections)
            .where(
                notice_objections.c.id == objection_id,
                notice_objections.c.status == "open",
            )
            .values(
                status=status,
                reason=reason,
                resolved_by=resolved_by,
                resolved_at=resolved_at,
                resolution_index=resolution_index,
            )
        )
        return done.rowcount == 1
