"""Public notices (公示): publish the underwriting or claim list of a region, take objections.

A notice freezes its rows when published: its document (kind, region,
period, rows, the day of publication and the last day of objections; names
masked, ids cut, no coordinates: :mod:`claims.notices`) is the payload of a
``notice.published`` ledger entry, appended in the transaction that stores
the notice (``server.storage.notices_store``). Its receipt is public: anyone
holding the paper may check, by the QR code printed on it, that the posted
list is the one on the ledger.

Objections: a farmer of the notice's region, or staff on someone's behalf at
the village office, objects to a row during the objection period
(``notice.objection_recorded``); an adjuster (an underwriter for an
underwriting notice) resolves it with a reason (``notice.objection_resolved``):
upheld on a claims notice sends the claim back for review (a survey), which
also voids the notice for it; dismissed leaves it as posted. The payment
rule is ``claims.check_public_notice``, applied by
:meth:`server.services.claims.ClaimsService.pay`.

Dates: a notice's days are the farm's (the region's time zone), today is the
ledger's clock (:attr:`LedgerService.clock`, which a replay sets), and a
record's day of issue or approval is that of its ledger event.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Connection

from claims import (
    NOTICE_KINDS,
    Check,
    ClaimRow,
    Line,
    NoticeKind,
    UnderwritingRow,
    area_text,
    check_objection_days,
    local_date,
    mask_id,
    mask_name,
    notice_document,
    objection_ends,
    record_digest,
    short_id,
    tag_tail,
)
from ledger import Receipt
from server.errors import ConflictError, ForbiddenError, InvalidInputError
from server.i18n import Lang, render_message
from server.services.access import (
    Action,
    Caller,
    check_may_see_region,
    may_do,
    own_farmer,
)
from server.services.claims import ClaimsService
from server.services.ledger import LedgerService
from server.services.underwriting import UnderwritingService, plain_text
from server.services.work import reading
from server.storage.notices_store import (
    ClaimCandidate,
    NoticeRecord,
    NoticeRowRecord,
    NoticeStore,
    ObjectionRecord,
    PolicyCandidate,
    new_notice_id,
    new_objection_id,
)
from server.storage.paging import Page
from underwriting import Money

__all__ = [
    "MAX_PERIOD_DAYS",
    "NoticeView",
    "NoticesService",
    "ObjectionRecord",
    "Outcome",
    "notice_page_path",
    "notice_receipt_path",
    "render_notice_pdf",
]

MAX_PERIOD_DAYS = 366
"""The longest period one notice covers, in days (a season's list, not a decade's)."""

Outcome = Literal["upheld", "dismissed"]


def notice_receipt_path(notice_id: str) -> str:
    """The API path of a notice's public receipt (JSON; the public page fetches it)."""
    return f"/api/v1/ledger/notices/{notice_id}/receipt"


def notice_page_path(notice_id: str) -> str:
    """The path of a notice's public page (what its printed QR code opens).

    The page, in Chinese or English, fetches the receipt and verifies it in the
    browser against the ledger's key, then shows the notice as it was posted.
    """
    return f"/notices/{notice_id}"


@dataclass(frozen=True)
class NoticeView:
    """A notice as a viewer reads it.

    Attributes:
        record: the stored notice.
        document: its document as the ledger holds it (rows included).
        objections: its objections (a farmer gets only their own).
        open_objections: objections not yet resolved, every objector's.
        payment: for a claims notice read by staff, each row's ``public_notice``
            check now (row number -> check), with the claim's status.
        today: the farm's day now (the ledger's clock, the region's zone).
    """

    record: NoticeRecord
    document: dict[str, Any]
    objections: list[ObjectionRecord]
    open_objections: int
    today: date
    payment: dict[int, tuple[str, Check]] = field(default_factory=dict)

    @property
    def in_objection_period(self) -> bool:
        """Whether objections are still taken (today is on or before the last day)."""
        return self.today <= self.record.objection_ends


def _money(minor: int, currency: str) -> str:
    return str(Money(minor, currency))


def _assessed_loss(lines: Sequence[Any]) -> str | None:
    """The loss before the deductible, from a claim's stored breakdown (None without one)."""
    for raw in lines:
        line = Line(*raw) if isinstance(raw, list) else Line(**raw)
        if line.key in ("indemnity.loss", "indemnity.basis"):
            return line.value
    return None


def _underwriting_row(p: PolicyCandidate) -> UnderwritingRow:
    mu, ha = area_text(p.area_m2) if p.kind == "crop" else (None, None)
    total = Money.parse(p.premium.get("total", "0"), p.currency)
    share = Money.parse(p.premium.get("farmer", "0"), p.currency)
    return UnderwritingRow(
        farmer=mask_name(p.farmer_name),
        farmer_id=mask_id(p.farmer_id),
        policy=short_id(p.id),
        product=p.product_code,
        animals=p.animals if p.kind == "livestock" else None,
        area_mu=mu,
        area_ha=ha,
        sum_insured=_money(p.sum_insured_minor, p.currency),
        premium=str(total),
        farmer_share=str(share),
        currency=p.currency,
        digest=record_digest("policy", p.id),
    )


def _claim_row(c: ClaimCandidate) -> ClaimRow:
    mu, ha = (
        area_text(c.plot_area_m2)
        if c.subject_kind == "plot" and c.plot_area_m2 is not None
        else (None, None)
    )
    return ClaimRow(
        farmer=mask_name(c.farmer_name),
        farmer_id=mask_id(c.farmer_id),
        claim=short_id(c.id),
        policy=short_id(c.policy_id),
        subject=c.subject_kind,
        tag=tag_tail(c.subject_id) if c.subject_kind == "animal" else None,
        area_mu=mu,
        area_ha=ha,
        loss_date=c.event_date.isoformat(),
        peril="animal_death" if c.subject_kind == "animal" else "crop_loss",
        event=c.event_id,
        assessed_loss=_assessed_loss(c.indemnity),
        indemnity=_money(c.amount_minor, c.currency),
        amount_minor=c.amount_minor,
        currency=c.currency,
        digest=record_digest("claim", c.id),
    )


class NoticesService:
    """Publish notices, read them, render them for print, take and resolve objections."""

    def __init__(
        self,
        ledger: LedgerService,
        underwriting: UnderwritingService,
        claims: ClaimsService,
    ) -> None:
        """Wire the service over the ledger's database, the farmers and the claims."""
        self.ledger = ledger
        self.uw = underwriting
        self.claims = claims
        self.engine = ledger.store.engine
        self.store = NoticeStore()

    def _today(self, region: str) -> date:
        """The farm's day in ``region`` at the ledger's clock."""
        return local_date(self.ledger.clock(), self.claims.rules.zone(region))

    def _viewer_region(self, conn: Connection, viewer: Caller) -> str | None:
        """A farmer's region (None for staff, and for a farmer with no record)."""
        farmer = own_farmer(viewer)
        if farmer is None:
            return None
        found = self.uw.farmers_store.farmer(conn, farmer) if farmer else None
        return found.region if found is not None else ""

    # --- publishing ---------------------------------------------------------------------

    def publish(
        self,
        viewer: Caller,
        *,
        kind: NoticeKind,
        region: str,
        start: date,
        end: date,
        actor: str,
        objection_days: int | None = None,
        conn: Connection | None = None,
    ) -> NoticeView:
        """Publish the ``kind`` notice of ``region`` for the period ``start``..``end`` (farm days).

        Underwriting: the policies of the region's farmers issued in the period
        (their ``policy.issued`` day). Claims: the region's approved claims not
        yet paid whose latest approval falls in the period. Rows are ordered by
        that day, then id. The objection period is ``objection_days`` (default
        the insurer's setting, ``ClaimRules.objection_days``), counted from the
        farm's day of publication (the ledger's clock).

        Underwriters publish underwriting notices (they decide applications),
        adjusters claims notices (they decide claims).

        Raises:
            ForbiddenError: the viewer does not decide what the kind lists.
            InvalidInputError: an unknown kind, a blank region or one with a
                control character, a period that ends before it starts, after
                today or spans more than :data:`MAX_PERIOD_DAYS`, an objection
                period out of bounds, or nothing to post (field named).
        """
        if kind not in NOTICE_KINDS:
            raise InvalidInputError(
                f"kind must be one of {', '.join(NOTICE_KINDS)}", field="kind"
            )
        decides: Action = "claims.decide" if kind == "claims" else "applications.decide"
        if not may_do(viewer, decides):
            raise ForbiddenError(
                "an adjuster publishes a claims notice"
                if kind == "claims"
                else "an underwriter publishes an underwriting notice"
            )
        region = plain_text(region, "region", most=200)
        days = (
            self.claims.rules.objection_days
            if objection_days is None
            else objection_days
        )
        try:
            check_objection_days(days)
        except ValueError as exc:
            raise InvalidInputError(str(exc), field="objection_days") from exc
        today = self._today(region)
        if end < start:
            raise InvalidInputError(
                f"the period ends ({end}) before it starts ({start})", field="end"
            )
        if end > today:
            raise InvalidInputError(
                f"the period ends ({end}) after today ({today} in {region}): a notice "
                "lists what already happened",
                field="end",
            )
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise InvalidInputError(
                f"the period spans {(end - start).days + 1} days; at most "
                f"{MAX_PERIOD_DAYS}",
                field="start",
            )
        zone = self.claims.rules.zone(region)
        notice_id = new_notice_id()
        with self.ledger.transaction(conn) as c:
            rows: list[UnderwritingRow | ClaimRow] = []
            records: list[NoticeRowRecord] = []
            if kind == "underwriting":
                policies = self.store.policies_in(c, region)
                issued = self.store.event_times(
                    c, "policy", [p.id for p in policies], {"policy.issued"}
                )
                chosen_p = sorted(
                    (
                        p
                        for p in policies
                        if p.id in issued
                        and start <= local_date(issued[p.id], zone) <= end
                    ),
                    key=lambda p: (issued[p.id], p.id),
                )
                for i, p in enumerate(chosen_p, 1):
                    rows.append(_underwriting_row(p))
                    records.append(
                        NoticeRowRecord(
                            notice_id,
                            i,
                            "policy",
                            p.id,
                            p.farmer_id,
                            p.sum_insured_minor,
                        )
                    )
                what = "no policy of a farmer of {region} was issued"
            else:
                claims = self.store.approved_claims_in(c, region)
                approved = self.store.event_times(
                    c, "claim", [x.id for x in claims], {"claim.approved"}
                )
                chosen_c = sorted(
                    (
                        x
                        for x in claims
                        if x.id in approved
                        and start <= local_date(approved[x.id], zone) <= end
                    ),
                    key=lambda x: (approved[x.id], x.id),
                )
                for i, x in enumerate(chosen_c, 1):
                    rows.append(_claim_row(x))
                    records.append(
                        NoticeRowRecord(
                            notice_id, i, "claim", x.id, x.farmer_id, x.amount_minor
                        )
                    )
                what = "no claim of a farmer of {region} was approved (and is unpaid)"
            if not rows:
                raise InvalidInputError(
                    f"nothing to post: {what.format(region=region)} between {start} "
                    f"and {end}",
                    field="region",
                )
            ends = objection_ends(today, days)
            doc = notice_document(
                notice_id=notice_id,
                kind=kind,
                region=region,
                start=start,
                end=end,
                published=today,
                ends=ends,
                rows=rows,
            )
            now = self.ledger.clock()
            index = self.ledger.record(
                c,
                "notice.published",
                {"notice": notice_id, "region": region},
                actor,
                doc,
                when=now,
            )
            record = NoticeRecord(
                notice_id,
                kind,
                region,
                start,
                end,
                today,
                days,
                ends,
                len(rows),
                index,
                actor,
                now,
            )
            self.store.insert(c, record, records)
        return NoticeView(record, doc, [], 0, today)

    # --- reading --------------------------------------------------------------------------

    def regions(self) -> list[tuple[str, date]]:
        """The regions farmers are registered in, each with its farm day now.

        What a notice may be published for; its period ends on that day at the latest.
        """
        with reading(self.engine) as conn:
            found = self.store.regions(conn)
        return [(region, self._today(region)) for region in found]

    def notices(
        self,
        viewer: Caller,
        *,
        region: str | None = None,
        kind: NoticeKind | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Notices, newest first: staff every region's, a farmer their own region's.

        Items are :class:`NoticeView` without rows' payment checks.

        Raises:
            ForbiddenError: a farmer asking for another region.
        """
        with reading(self.engine) as conn:
            mine = self._viewer_region(conn, viewer)
            if mine is not None:
                if region is not None:
                    check_may_see_region(viewer, mine, region)
                region = mine
            items, total = self.store.page(
                conn, region=region, kind=kind, offset=offset, limit=limit
            )
            counts = self.store.open_counts(conn, [n.id for n in items])
            views = [
                NoticeView(
                    n,
                    json.loads(self.store.document(conn, n.ledger_index))["payload"],
                    [],
                    counts.get(n.id, 0),
                    self._today(n.region),
                )
                for n in items
            ]
        return Page(views, total, offset, limit)

    def notice(
        self, viewer: Caller, notice_id: str, conn: Connection | None = None
    ) -> NoticeView:
        """The notice ``notice_id`` with its rows, objections and (staff) payment checks.

        Raises:
            NotFoundError: no such notice.
            ForbiddenError: a farmer of another region.
        """
        with reading(self.engine, conn) as c:
            record = self.store.get(c, notice_id)
            mine = self._viewer_region(c, viewer)
            if mine is not None:
                check_may_see_region(viewer, mine, record.region)
            doc = json.loads(self.store.document(c, record.ledger_index))["payload"]
            every = self.store.objections(c, notice_id)
            farmer = own_farmer(viewer)
            seen = (
                every
                if farmer is None
                else self.store.objections(c, notice_id, objector_farmer=farmer)
            )
            today = self._today(record.region)
            payment: dict[int, tuple[str, Check]] = {}
            if record.kind == "claims" and farmer is None:
                for r in self.store.rows(c, notice_id):
                    claim = self.claims.store.get(r.record_id, c)
                    payment[r.row] = (claim.status, self.claims.notice_check(c, claim))
        return NoticeView(
            record,
            doc,
            seen,
            sum(o.status == "open" for o in every),
            today,
            payment,
        )

    def receipt(self, notice_id: str) -> Receipt:
        """The receipt of the notice's ledger entry (public: the entry names no one in full).

        Raises:
            NotFoundError: no such notice.
        """
        with reading(self.engine) as conn:
            record = self.store.get(conn, notice_id)
        return self.ledger.receipt(record.ledger_index)

    def pdf(
        self, viewer: Caller, notice_id: str, lang: Lang, *, base_url: str
    ) -> bytes:
        """The notice as a printable A4 PDF in ``lang``, its QR code the receipt's URL.

        ``base_url`` is where the API is reached from outside (``https://host/``);
        the QR code encodes ``base_url`` + :func:`notice_page_path` (the
        public page that verifies the notice's receipt).

        Raises:
            NotFoundError: no such notice.
            ForbiddenError: a farmer of another region.
        """
        view = self.notice(viewer, notice_id)
        url = base_url.rstrip("/") + notice_page_path(notice_id)
        leaf = self.ledger.store.entry(view.record.ledger_index).leaf_hash.hex()
        return render_notice_pdf(view, lang, page_url=url, leaf_hash=leaf)

    # --- objections -------------------------------------------------------------------

    def object(
        self,
        viewer: Caller,
        notice_id: str,
        *,
        row: int,
        text: str,
        actor: str,
        on_behalf_of: str | None = None,
        conn: Connection | None = None,
    ) -> ObjectionRecord:
        """Record an objection to row ``row`` of the notice, during its objection period.

        A farmer objects in their own name, to a notice of their region; staff
        record one on behalf of a person (``on_behalf_of``, their name as
        given at the village office). On a claims notice the claim's row is
        locked first, so a payment and an objection are ordered.

        Raises:
            NotFoundError: no such notice.
            ForbiddenError: a farmer of another region.
            InvalidInputError: blank or over-long text or name, a control
                character, a farmer naming someone else, staff naming no one,
                or no such row (field named).
            ConflictError: the objection period has ended.
        """
        text = plain_text(text, "text", most=2000, note=True)
        farmer = own_farmer(viewer)
        with self.ledger.transaction(conn) as c:
            # Who may, before what is wrong with the request: another region's
            # farmer is refused whatever the body holds, an unknown notice is 404.
            record = self.store.get(c, notice_id)
            mine = self._viewer_region(c, viewer)
            if mine is not None:
                check_may_see_region(viewer, mine, record.region)
            if farmer is not None and on_behalf_of is not None:
                raise InvalidInputError(
                    "a farmer objects in their own name: leave on_behalf_of out",
                    field="on_behalf_of",
                )
            if farmer is None:
                if on_behalf_of is None:
                    raise InvalidInputError(
                        "staff record an objection on behalf of someone: name them "
                        "in on_behalf_of",
                        field="on_behalf_of",
                    )
                on_behalf_of = plain_text(on_behalf_of, "on_behalf_of", most=200)
            target = self.store.row(c, notice_id, row)
            if target is None:
                raise InvalidInputError(
                    f"notice {notice_id} has rows 1 to {record.rows}, not {row}",
                    field="row",
                )
            if target.record_kind == "claim":
                self.claims.store.get(target.record_id, c, for_update=True)
            today = self._today(record.region)
            if today > record.objection_ends:
                raise ConflictError(
                    f"the objection period of notice {notice_id} ended on "
                    f"{record.objection_ends}",
                    field="notice_id",
                )
            objection_id = new_objection_id()
            now = self.ledger.clock()
            subjects = {"notice": notice_id, "objection": objection_id}
            if farmer:
                subjects["farmer"] = farmer
            index = self.ledger.record(
                c,
                "notice.objection_recorded",
                subjects,
                actor,
                {
                    "row": row,
                    "text": text,
                    "on_behalf_of": on_behalf_of,
                    "record": short_id(target.record_id),
                },
                when=now,
            )
            objection = ObjectionRecord(
                objection_id,
                notice_id,
                row,
                text,
                on_behalf_of,
                actor,
                farmer or None,
                "open",
                None,
                None,
                now,
                None,
                index,
                None,
            )
            self.store.insert_objection(c, objection)
        return objection

    def objection_notice(
        self, objection_id: str, conn: Connection | None = None
    ) -> str:
        """The id of the notice objection ``objection_id`` was made to.

        Raises:
            NotFoundError: no such objection.
        """
        with reading(self.engine, conn) as c:
            return self.store.objection(c, objection_id).notice_id

    def resolve(
        self,
        viewer: Caller,
        objection_id: str,
        outcome: Outcome,
        *,
        reason: str,
        actor: str,
        conn: Connection | None = None,
    ) -> ObjectionRecord:
        """Uphold or dismiss an open objection, with a reason.

        An objection to a claims notice is resolved by an adjuster (who may
        decide claims), one to an underwriting notice by an underwriter or an
        adjuster. Upheld on a claims notice: an approved claim goes back for
        review (a survey, ``claim.survey_requested``) in the same transaction,
        and the notice no longer clears it for payment (a new notice must list
        it once it is approved again). Upheld on an underwriting notice: on
        record for the underwriter to act on; the policy is not changed here.

        Raises:
            NotFoundError: no such objection.
            ForbiddenError: the viewer may not resolve objections of this kind.
            InvalidInputError: an unknown outcome, a blank reason or one with
                a control character.
            ConflictError: the objection is already resolved.
        """
        if outcome not in ("upheld", "dismissed"):
            raise InvalidInputError(
                "outcome must be upheld or dismissed", field="outcome"
            )
        reason = plain_text(reason, "reason", most=2000, note=True)
        with self.ledger.transaction(conn) as c:
            objection = self.store.objection(c, objection_id, for_update=True)
            record = self.store.get(c, objection.notice_id)
            needed: Action = (
                "claims.decide" if record.kind == "claims" else "notices.resolve"
            )
            if not may_do(viewer, needed):
                raise ForbiddenError(
                    f"objections to a {record.kind} notice are resolved by "
                    + (
                        "an adjuster"
                        if record.kind == "claims"
                        else "an underwriter or adjuster"
                    )
                )
            if objection.status != "open":
                raise ConflictError(
                    f"objection {objection_id} is already {objection.status}",
                    field="objection_id",
                )
            target = self.store.row(c, record.id, objection.row)
            assert target is not None  # an objection names a row of its notice
            if outcome == "upheld" and target.record_kind == "claim":
                claim = self.claims.store.get(target.record_id, c, for_update=True)
                if claim.status == "approved":
                    self.claims.decide(
                        claim.id,
                        "survey",
                        actor=actor,
                        reason=f"objection {objection_id} to notice {record.id} upheld: "
                        f"{reason}"[:2000],
                        conn=c,
                    )
            index = self.ledger.record(
                c,
                "notice.objection_resolved",
                {
                    "notice": record.id,
                    "objection": objection_id,
                    target.record_kind: target.record_id,
                    "farmer": target.farmer_id,
                },
                actor,
                {"row": objection.row, "outcome": outcome, "reason": reason},
            )
            if not self.store.resolve(
                c,
                objection_id,
                status=outcome,
                reason=reason,
                resolved_by=actor,
                resolved_at=self.ledger.clock(),
                resolution_index=index,
            ):  # pragma: no cover - the row is locked and was checked open above
                raise ConflictError(f"objection {objection_id} changed meanwhile")
            return self.store.objection(c, objection_id)


# --- print ------------------------------------------------------------------------------

_FONT = "STSong-Light"  # reportlab's built-in CID font: Chinese and Latin, no font file
_COLUMNS: dict[str, tuple[str, ...]] = {
    "underwriting": (
        "row",
        "farmer",
        "farmer_id",
        "policy",
        "product",
        "insured",
        "sum_insured",
        "premium",
        "farmer_share",
    ),
    "claims": (
        "row",
        "farmer",
        "farmer_id",
        "claim",
        "subject",
        "loss_date",
        "peril",
        "assessed_loss",
        "indemnity",
    ),
}


def _cell(kind: str, column: str, row: dict[str, Any], lang: Lang) -> str:
    """The words of one cell of the printed table."""
    if column == "insured":
        if row.get("animals") is not None:
            return render_message("notice.cell.head", {"n": row["animals"]}, lang)
        return render_message(
            "notice.cell.area", {"mu": row["area_mu"], "ha": row["area_ha"]}, lang
        )
    if column == "subject":
        if row.get("tag"):
            return render_message("notice.cell.tag", {"tag": row["tag"]}, lang)
        if row.get("area_mu"):
            return render_message(
                "notice.cell.plot", {"mu": row["area_mu"], "ha": row["area_ha"]}, lang
            )
        return render_message("notice.cell.plot_unknown", {}, lang)
    if column == "peril":
        words = render_message(f"value.peril.{row['peril']}", {}, lang)
        return f"{words} ({row['event']})" if row.get("event") else words
    value = row.get(column)
    return "" if value is None else str(value)


def render_notice_pdf(
    view: NoticeView, lang: Lang, *, page_url: str, leaf_hash: str
) -> bytes:
    """The notice on A4 landscape: header, the table (rows repeat their heading), QR code.

    The header names the kind, region, period, day of publication, the last
    day of objections and how to object; the QR code encodes ``page_url``
    (the notice's public page, which verifies its receipt), printed beside it
    with the notice's id, ledger index and leaf hash (SHA-256, hex) for a
    reader without a phone. Chinese and Latin text use reportlab's built-in CID
    font STSong-Light: no font file is embedded or read.
    """
    import segno
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import (
        Flowable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    doc = view.document
    record = view.record
    kind = record.kind

    def say(key: str, **params: Any) -> str:
        return render_message(key, params, lang)

    title_style = ParagraphStyle("t", fontName=_FONT, fontSize=18, leading=24)
    text_style = ParagraphStyle("p", fontName=_FONT, fontSize=10, leading=14)
    cell_style = ParagraphStyle("c", fontName=_FONT, fontSize=8.5, leading=11)
    small = ParagraphStyle("s", fontName=_FONT, fontSize=7, leading=9)

    class _QR(Flowable):  # type: ignore[misc]  # reportlab ships no types
        """The receipt's URL as a QR code drawn with rectangles (no image file)."""

        def __init__(self, data: str, size: float) -> None:
            super().__init__()
            self.qr = segno.make(data, error="m")
            self.size = size
            self.width = self.height = size

        def draw(self) -> None:
            matrix = list(self.qr.matrix_iter(border=4))
            cell = self.size / len(matrix)
            self.canv.setFillColor(colors.black)
            for y, line in enumerate(matrix):
                for x, dark in enumerate(line):
                    if dark:
                        self.canv.rect(
                            x * cell,
                            self.size - (y + 1) * cell,
                            cell,
                            cell,
                            stroke=0,
                            fill=1,
                        )

    def para(text: str, style: ParagraphStyle = text_style) -> Paragraph:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(escaped, style)

    header = [
        para(say(f"notice.title.{kind}"), title_style),
        Spacer(1, 2 * mm),
        para(say("notice.pdf.region", region=record.region)),
        para(
            say(
                "notice.pdf.period",
                start=record.period_start.isoformat(),
                end=record.period_end.isoformat(),
                published=record.published_on.isoformat(),
            )
        ),
        para(
            say(
                "notice.pdf.deadline",
                ends=record.objection_ends.isoformat(),
                days=record.objection_days,
            )
        ),
        para(say(f"notice.pdf.how.{kind}", ends=record.objection_ends.isoformat())),
        para(say("notice.pdf.verify")),
    ]
    qr_side = 42 * mm
    qr_block = [
        _QR(page_url, qr_side),
        para(say("notice.pdf.scan"), small),
        para(page_url, small),
        para(
            say(
                "notice.pdf.entry",
                notice=record.id,
                index=record.ledger_index,
                leaf=leaf_hash,
            ),
            small,
        ),
    ]
    page_w, _ = landscape(A4)
    usable = page_w - 24 * mm
    top = Table(
        [[header, qr_block]],
        colWidths=[usable - qr_side - 8 * mm, qr_side + 8 * mm],
    )
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    columns = _COLUMNS[kind]
    head = [para(say(f"notice.col.{c}"), cell_style) for c in columns]
    body = [
        [para(_cell(kind, c, row, lang), cell_style) for c in columns]
        for row in doc["rows"]
    ]
    widths = {
        "row": 0.05,
        "farmer": 0.12,
        "farmer_id": 0.11,
        "policy": 0.09,
        "claim": 0.09,
        "product": 0.12,
        "insured": 0.16,
        "subject": 0.16,
        "sum_insured": 0.1,
        "premium": 0.1,
        "farmer_share": 0.15,
        "loss_date": 0.1,
        "peril": 0.12,
        "assessed_loss": 0.1,
        "indemnity": 0.15,
    }
    total_w = sum(widths[c] for c in columns)
    table = Table(
        [head, *body],
        colWidths=[usable * widths[c] / total_w for c in columns],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0e8")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    currency = doc["rows"][0]["currency"] if doc["rows"] else "CNY"
    story = [
        top,
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 3 * mm),
        para(say("notice.pdf.amounts", currency=currency), small),
        para(say("notice.pdf.masked"), small),
    ]
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=say(f"notice.title.{kind}") + f" {record.region}",
        author="",
        subject=record.id,
        creator="agri-insurance",
        invariant=1,
    )
    pdf.build(story)
    return out.getvalue()
