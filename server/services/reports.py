"""Portfolio reports for managers and regulators: premium, claims and loss ratios; how checks fare.

Two reports, read-only, for staff who may take the action ``reports.read``
(:mod:`server.services.access`: underwriters, adjusters, admins; a farmer is
refused):

* :meth:`ReportService.portfolio`: premium, sum insured, claims (count and
  amount), paid and approved-unpaid amounts, and the loss ratios of
  :func:`claims.loss_ratios`, grouped by any of region, product, peril and
  month (:data:`claims.DIMENSIONS`) and always by currency, for a period; one
  page of groups and the totals per currency.
* :meth:`ReportService.checks`: per check code of claims and of
  applications, how often it fired (amber or red) and how often a decision
  overrode it (:func:`claims.override_of`), with the same figures per record.

The sums are the database's (``server/storage/report_store.py``: GROUP BY);
this module asks for them, names what is wrong with a request, and adds what
the rules say the sums mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import get_args

from sqlalchemy import Connection, Engine

from claims import (
    ClaimInputError,
    Dimension,
    Family,
    loss_ratios,
    override_rate,
    parse_dimensions,
    ratio,
)
from server.errors import ForbiddenError, InvalidInputError
from server.services.access import Caller, may_do, roles_for
from server.services.work import reading
from server.storage.report_store import PortfolioRow, ReportStore

__all__ = [
    "FAMILIES",
    "MAX_LIMIT",
    "CheckFigures",
    "ChecksReport",
    "PortfolioLine",
    "PortfolioReport",
    "RecordFigures",
    "ReportService",
]

FAMILIES: tuple[Family, ...] = get_args(Family)
MAX_LIMIT = 1000
"""The most groups one page of the portfolio holds."""


@dataclass(frozen=True)
class PortfolioLine:
    """One group of the portfolio, with its incurred amount and loss ratios.

    Amounts are minor units of ``currency``. ``keys`` holds each dimension
    grouped by and its value (``month``: ``YYYY-MM``; ``peril``: ``crop_loss``
    or ``animal_death``); totals have none.

    Attributes:
        incurred_minor: paid plus approved and not yet paid.
        loss_ratio: paid / premium (None: no premium in the group).
        incurred_loss_ratio: incurred / premium (None: no premium).
    """

    keys: dict[str, str]
    currency: str
    policies: int
    premium_minor: int
    sum_insured_minor: int
    claims: int
    claimed_minor: int
    paid_minor: int
    approved_unpaid_minor: int
    incurred_minor: int
    loss_ratio: Decimal | None
    incurred_loss_ratio: Decimal | None


@dataclass(frozen=True)
class PortfolioReport:
    """A page of the portfolio's groups and the totals of the whole period, per currency.

    Attributes:
        by: the dimensions grouped by, in the order asked.
        start, end: the period (inclusive days; None: open).
        items: the page's groups, in key order then currency.
        total: how many groups there are in all.
        offset, limit: the page.
        totals: one line per currency over the whole period (no keys).
    """

    by: tuple[Dimension, ...]
    start: date | None
    end: date | None
    items: list[PortfolioLine]
    total: int
    offset: int
    limit: int
    totals: list[PortfolioLine]


@dataclass(frozen=True)
class CheckFigures:
    """How one check of one record family fared (the counts of ``report_store.CheckRow``).

    Attributes:
        fired: amber + red.
        fired_rate: fired / checked.
        overridden: approved despite red + declined despite green.
        override_rate: :func:`claims.override_rate` (None: no decision it
            could have been overridden in).
    """

    family: Family
    code: str
    checked: int
    green: int
    amber: int
    red: int
    fired: int
    fired_rate: Decimal | None
    decided: int
    decided_red: int
    decided_green: int
    approved_despite_red: int
    declined_despite_green: int
    overridden: int
    override_rate: Decimal | None


@dataclass(frozen=True)
class RecordFigures:
    """A record family's records in the period by their own light and decision."""

    family: Family
    records: int
    green: int
    amber: int
    red: int
    decided: int
    approved_despite_red: int
    declined_despite_green: int
    overridden: int
    override_rate: Decimal | None


@dataclass(frozen=True)
class ChecksReport:
    """Checks by family and code, and each family's records, for a period."""

    start: date | None
    end: date | None
    checks: list[CheckFigures]
    records: list[RecordFigures]


def _line(row: PortfolioRow) -> PortfolioLine:
    ratios = loss_ratios(row.premium_minor, row.paid_minor, row.approved_unpaid_minor)
    return PortfolioLine(
        row.keys,
        row.currency,
        row.policies,
        row.premium_minor,
        row.sum_insured_minor,
        row.claims,
        row.claimed_minor,
        row.paid_minor,
        row.approved_unpaid_minor,
        row.paid_minor + row.approved_unpaid_minor,
        ratios.paid,
        ratios.incurred,
    )


def _check_period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            f"to ({end.isoformat()}) is before from ({start.isoformat()}): "
            "a period ends on or after its first day",
            field="to",
        )


class ReportService:
    """The portfolio and checks reports, read on one connection each."""

    def __init__(self, engine: Engine) -> None:
        """Read through ``engine``."""
        self.engine = engine
        self.store = ReportStore()

    @staticmethod
    def _may_read(viewer: Caller) -> None:
        if not may_do(viewer, "reports.read"):
            raise ForbiddenError(
                "reports are for "
                + ", ".join(roles_for("reports.read"))
                + f"; not for a {viewer.role}"
            )

    def portfolio(
        self,
        viewer: Caller,
        *,
        by: str | Sequence[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        offset: int = 0,
        limit: int = 50,
        conn: Connection | None = None,
    ) -> PortfolioReport:
        """One page of the portfolio grouped ``by`` (and currency), and its totals per currency.

        Args:
            viewer: who asks (staff who may ``reports.read``).
            by: dimensions, as ``"region,month"`` or a sequence of names
                (:data:`claims.DIMENSIONS`); None or empty: totals only.
            start: the period's first day (None: open). Policies count by
                their first day, claims by their loss day.
            end: the period's last day, inclusive (None: open).
            offset: groups to skip (>= 0).
            limit: groups per page, 1 to :data:`MAX_LIMIT`.
            conn: the caller's unit of work, if any.

        Raises:
            ForbiddenError: ``viewer`` may not read reports.
            InvalidInputError: an unknown dimension (``by``), ``end`` before
                ``start`` (``to``), or a page out of range (``offset``, ``limit``).
        """
        self._may_read(viewer)
        text = by if by is None or isinstance(by, str) else ",".join(by)
        try:
            dims = parse_dimensions(text)
        except ClaimInputError as exc:
            raise InvalidInputError(str(exc), field=exc.field) from exc
        _check_period(start, end)
        if offset < 0:
            raise InvalidInputError("offset must be >= 0", field="offset")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(
                f"limit must be from 1 to {MAX_LIMIT}", field="limit"
            )
        with reading(self.engine, conn) as c:
            rows, total = self.store.portfolio(
                c, dims, start=start, end=end, offset=offset, limit=limit
            )
            totals, _ = self.store.portfolio(c, (), start=start, end=end, limit=None)
        return PortfolioReport(
            dims,
            start,
            end,
            [_line(r) for r in rows],
            total,
            offset,
            limit,
            [_line(r) for r in totals],
        )

    def checks(
        self,
        viewer: Caller,
        *,
        start: date | None = None,
        end: date | None = None,
        conn: Connection | None = None,
    ) -> ChecksReport:
        """How each check of claims and applications fired and was overridden in a period.

        Claims count by their loss day, applications by their cover's first
        day (as in :meth:`portfolio`); ``start`` and ``end`` are inclusive.

        Raises:
            ForbiddenError: ``viewer`` may not read reports.
            InvalidInputError: ``end`` before ``start`` (``to``).
        """
        self._may_read(viewer)
        _check_period(start, end)
        checks: list[CheckFigures] = []
        records: list[RecordFigures] = []
        with reading(self.engine, conn) as c:
            for family in FAMILIES:
                for r in self.store.checks(c, family, start=start, end=end):
                    overridden = r.approved_despite_red + r.declined_despite_green
                    checks.append(
                        CheckFigures(
                            r.family,
                            r.code,
                            r.checked,
                            r.green,
                            r.amber,
                            r.red,
                            r.amber + r.red,
                            ratio(r.amber + r.red, r.checked),
                            r.decided,
                            r.decided_red,
                            r.decided_green,
                            r.approved_despite_red,
                            r.declined_despite_green,
                            overridden,
                            override_rate(overridden, r.decided_red, r.decided_green),
                        )
                    )
                s = self.store.records(c, family, start=start, end=end)
                overridden = s.approved_despite_red + s.declined_despite_green
                records.append(
                    RecordFigures(
                        s.family,
                        s.records,
                        s.green,
                        s.amber,
                        s.red,
                        s.decided,
                        s.approved_despite_red,
                        s.declined_despite_green,
                        overridden,
                        ratio(overridden, s.decided),
                    )
                )
        return ChecksReport(start, end, checks, records)
