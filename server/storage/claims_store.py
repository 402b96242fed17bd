"""Claims in the database: every state change and its ledger event in one transaction.

Payment happens exactly once: the transition ``approved -> paid`` is a
conditional UPDATE (``WHERE status = 'approved'``) in the same transaction as
the ``claim.paid`` ledger entry. Two adjusters paying at the same moment, or a
retried request, find the row already paid: the second transaction changes
nothing and appends nothing, and gets the existing payment back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, insert, select, update

from ledger import Event
from server.storage.schema import claims
from server.errors import ConflictError, NotFoundError
from server.services.ledger import LedgerService
from server.storage.paging import Page, page_rows
from underwriting.checks import Check, traffic_light
from underwriting.money import Money

__all__ = ["ClaimRecord", "ClaimStateError", "ClaimStore", "checks_json"]

Status = Literal["filed", "survey", "approved", "rejected", "paid"]


class ClaimStateError(ConflictError):
    """The claim is not in a state that allows the operation (the message says which)."""


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
    indemnity: tuple[tuple[str, str], ...] = ()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


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
        _utc(row.reported_at),
        json.loads(row.claimed) if row.claimed else {},
        row.light,
        tuple(Check(**c) for c in json.loads(row.checks)) if row.checks else (),
        tuple((a, b) for a, b in json.loads(row.indemnity)) if row.indemnity else (),
    )


def checks_json(checks: Sequence[Check]) -> str:
    """Checks as stored: a JSON list of {code, light, reason}."""
    return json.dumps([asdict(c) for c in checks])


class ClaimStore:
    """File, decide and pay claims; each change appends its ledger event atomically."""

    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger
        self.engine = ledger.store.engine

    def _event(
        self,
        conn: Connection,
        kind: str,
        claim: ClaimRecord,
        actor: str,
        **payload: Any,
    ) -> None:
        event = Event(
            kind,
            {"claim": claim.id, "farmer": claim.farmer_id, "policy": claim.policy_id},
            actor,
            datetime.now(UTC),
            {
                "amount_minor": claim.amount.minor,
                "currency": claim.amount.currency,
                **payload,
            },
        )
        self.ledger.append_events(conn, [event])

    def page(
        self,
        where: ColumnElement[bool],
        offset: int,
        limit: int,
    ) -> Page:
        """Claims matching ``where``, newest report first, one page."""
        order = [claims.c.reported_at.desc(), claims.c.id]
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows, total = page_rows(conn, claims, where, order, offset, limit)
        return Page([_record(r) for r in rows], total, offset, limit)

    def get(self, claim_id: str, conn: Connection | None = None) -> ClaimRecord:
        """The claim with ``claim_id``.

        Raises:
            NotFoundError: no such claim.
        """
        query = select(claims).where(claims.c.id == claim_id)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.engine.connect().execution_options(readonly=True) as c:
                row = c.execute(query).first()
        if row is None:
            raise NotFoundError(f"no claim {claim_id}", field="claim_id")
        return _record(row)

    def file(
        self,
        *,
        policy_id: str,
        farmer_id: str,
        subject_kind: Literal["animal", "plot"],
        subject_id: str,
        event_date: datetime,
        amount: Money,
        actor: str,
        conn: Connection | None = None,
        reported_at: datetime | None = None,
        claimed: dict[str, Any] | None = None,
        checks: Sequence[Check] = (),
        indemnity: Sequence[tuple[str, str]] = (),
    ) -> ClaimRecord:
        """Record a new claim (status ``filed``) and its ``claim.filed`` event.

        With ``conn``, both are written in the caller's transaction. The
        checks run at intake, their traffic light and the indemnity breakdown
        are stored with the claim and summarised in the event.
        """
        claim_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        with self.ledger.transaction(conn) as conn:
            conn.execute(
                insert(claims).values(
                    id=claim_id,
                    policy_id=policy_id,
                    farmer_id=farmer_id,
                    subject_kind=subject_kind,
                    subject_id=subject_id,
                    event_date=event_date,
                    status="filed",
                    amount_minor=amount.minor,
                    currency=amount.currency,
                    updated_at=now,
                    reported_at=reported_at or now,
                    claimed=json.dumps(claimed or {}),
                    light=traffic_light(checks) if checks else None,
                    checks=checks_json(checks),
                    indemnity=json.dumps([list(x) for x in indemnity]),
                )
            )
            record = self.get(claim_id, conn)
            self._event(
                conn,
                "claim.filed",
                record,
                actor,
                subject={subject_kind: subject_id},
                event_date=event_date.date().isoformat(),
                claimed=claimed or {},
                light=record.light,
                checks={c.code: c.light for c in checks},
            )
        return record

    def reassess(
        self,
        claim_id: str,
        *,
        checks: Sequence[Check],
        amount: Money,
        indemnity: Sequence[tuple[str, str]],
        actor: str,
        event: str,
        payload: dict[str, Any],
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """Replace a claim's checks, light and indemnity while it awaits a decision.

        Raises:
            ClaimStateError: the claim is already decided.
        """
        with self.ledger.transaction(conn) as conn:
            changed = conn.execute(
                update(claims)
                .where(
                    claims.c.id == claim_id, claims.c.status.in_(("filed", "survey"))
                )
                .values(
                    checks=checks_json(checks),
                    light=traffic_light(checks),
                    amount_minor=amount.minor,
                    currency=amount.currency,
                    indemnity=json.dumps([list(x) for x in indemnity]),
                    updated_at=datetime.now(UTC),
                )
            ).rowcount
            record = self.get(claim_id, conn)
            if not changed:
                raise ClaimStateError(
                    f"claim {claim_id} is {record.status}: it can no longer be assessed"
                )
            self._event(
                conn,
                event,
                record,
                actor,
                light=record.light,
                checks={c.code: c.light for c in checks},
                **payload,
            )
        return record

    def _transition(
        self,
        claim_id: str,
        *,
        from_status: tuple[Status, ...],
        to_status: Status,
        actor: str,
        event: str,
        values: dict[str, Any],
        payload: dict[str, Any],
        conn: Connection | None,
    ) -> tuple[ClaimRecord, bool]:
        """Move a claim ``from_status -> to_status`` with its event; (record, changed)."""
        with self.ledger.transaction(conn) as conn:
            changed = conn.execute(
                update(claims)
                .where(claims.c.id == claim_id, claims.c.status.in_(from_status))
                .values(status=to_status, updated_at=datetime.now(UTC), **values)
            ).rowcount
            record = self.get(claim_id, conn)
            if changed:
                self._event(conn, event, record, actor, **payload)
        return record, bool(changed)

    def decide(
        self,
        claim_id: str,
        *,
        approve: bool | None,
        actor: str,
        reason: str | None = None,
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """Approve (True), reject (False) or send for a field survey (None).

        A claim awaiting a survey can then be approved or rejected. A
        rejection and a survey request need a reason.

        Raises:
            ClaimStateError: the claim is already decided, or a reason is missing.
        """
        if approve is not True and not reason:
            raise ClaimStateError(
                "a rejection or a survey request needs a reason", field="reason"
            )
        to_status: Status = {True: "approved", False: "rejected", None: "survey"}[
            approve
        ]  # type: ignore[assignment]
        allowed: tuple[Status, ...] = (
            ("filed",) if approve is None else ("filed", "survey")
        )
        record, changed = self._transition(
            claim_id,
            from_status=allowed,
            to_status=to_status,
            actor=actor,
            event="claim.survey_requested"
            if to_status == "survey"
            else f"claim.{to_status}",
            values={"reason": reason},
            payload={"reason": reason},
            conn=conn,
        )
        if not changed:
            raise ClaimStateError(
                f"claim {claim_id} is {record.status}: it is already decided"
            )
        return record

    def pay(
        self,
        claim_id: str,
        *,
        actor: str,
        payment_ref: str,
        conn: Connection | None = None,
    ) -> tuple[ClaimRecord, bool]:
        """Pay an approved claim exactly once; returns (record, whether this call paid).

        A retried or concurrent call on a claim already paid returns it unchanged.

        Raises:
            ClaimStateError: the claim is neither approved nor paid.
        """
        record, changed = self._transition(
            claim_id,
            from_status=("approved",),
            to_status="paid",
            actor=actor,
            event="claim.paid",
            values={"payment_ref": payment_ref},
            payload={"payment_ref": payment_ref},
            conn=conn,
        )
        if not changed and record.status != "paid":
            raise ClaimStateError(f"claim {claim_id} is {record.status}, not approved")
        return record, changed
