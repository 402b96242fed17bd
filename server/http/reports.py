"""API routes of the portfolio reports, for underwriters, adjusters and admins (a farmer: 403).

* ``GET /api/v1/reports/portfolio?by=region,product,peril,month&from=&to=``:
  premium, sum insured, claims, paid, approved-unpaid and incurred amounts
  (integer minor units, per currency) and the loss ratios, grouped by any of
  the four dimensions and currency; a page of groups and the totals.
* ``GET /api/v1/reports/checks?from=&to=``: how often each check of claims
  and applications fired (amber or red) and how often a decision overrode it.

Codes, not words: the pages and the CLI word dimensions, perils and checks in
their reader's language. What the figures mean is in ``docs/reports.md``.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.http.deps import API, Deps, Offset, iso_day
from server.services.auth import User
from server.services.reports import (
    MAX_LIMIT,
    CheckFigures,
    ChecksReport,
    PortfolioLine,
    PortfolioReport,
    RecordFigures,
    ReportService,
)

__all__ = [
    "CheckOut",
    "ChecksOut",
    "PortfolioOut",
    "PortfolioRowOut",
    "RecordsOut",
    "reports_router",
]

_DIMENSION = "(region|product|peril|month)"
BY = rf"^({_DIMENSION}(,{_DIMENSION})*)?$"
"""``by``: dimensions joined by commas (none: totals only)."""
RATIO = r"^\d+\.\d{4}$"
_RATIO_DOC = (
    "A decimal string with four places (0.6250 is 62.5 %); null without premium."
)

Dimension = Literal["region", "product", "peril", "month"]
Family = Literal["claim", "application"]


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class PortfolioRowOut(BaseModel):
    """One group of the portfolio (or a currency's totals): sums in minor units of ``currency``."""

    region: str | None = Field(
        None, description="The farmers' county or region (when grouped by it)."
    )
    product: str | None = Field(
        None, description="The product code (when grouped by it)."
    )
    peril: Literal["crop_loss", "animal_death"] | None = Field(
        None,
        description="What the policies insure against, by their product's kind: a "
        "crop's loss or an animal's death (when grouped by it).",
    )
    month: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}$",
        description="YYYY-MM: the policies' first day, the claims' loss day (when grouped by it).",
    )
    currency: str = Field(
        examples=["CNY"], description="ISO 4217: every amount's currency."
    )
    policies: int = Field(
        ge=0, description="Policies whose cover starts in the period."
    )
    premium_minor: int = Field(ge=0, description="Their premiums, in minor units.")
    sum_insured_minor: int = Field(
        ge=0, description="Their sums insured, in minor units."
    )
    claims: int = Field(
        ge=0, description="Claims with a loss day in the period (any status)."
    )
    claimed_minor: int = Field(
        ge=0,
        description="Their amounts as reckoned at intake or assessment (a crop claim "
        "not yet assessed counts 0), in minor units.",
    )
    paid_minor: int = Field(ge=0, description="The amounts of those paid.")
    approved_unpaid_minor: int = Field(
        ge=0, description="The amounts of those approved and not yet paid."
    )
    incurred_minor: int = Field(
        ge=0, description="Paid plus approved and not yet paid."
    )
    loss_ratio: str | None = Field(
        pattern=RATIO, description="Paid / premium. " + _RATIO_DOC, examples=["0.6250"]
    )
    incurred_loss_ratio: str | None = Field(
        pattern=RATIO, description="Incurred / premium. " + _RATIO_DOC
    )


def _row(line: PortfolioLine) -> PortfolioRowOut:
    return PortfolioRowOut(
        region=line.keys.get("region"),
        product=line.keys.get("product"),
        peril=line.keys.get("peril"),  # crop | livestock: a product's kind
        month=line.keys.get("month"),
        currency=line.currency,
        policies=line.policies,
        premium_minor=line.premium_minor,
        sum_insured_minor=line.sum_insured_minor,
        claims=line.claims,
        claimed_minor=line.claimed_minor,
        paid_minor=line.paid_minor,
        approved_unpaid_minor=line.approved_unpaid_minor,
        incurred_minor=line.incurred_minor,
        loss_ratio=_ratio(line.loss_ratio),
        incurred_loss_ratio=_ratio(line.incurred_loss_ratio),
    )


class PortfolioOut(BaseModel):
    """A page of the portfolio's groups, and the period's totals per currency."""

    model_config = ConfigDict(populate_by_name=True)

    by: list[Dimension] = Field(description="The dimensions grouped by, as asked.")
    from_: date | None = Field(alias="from", description="The period's first day.")
    to: date | None = Field(description="The period's last day (inclusive).")
    items: list[PortfolioRowOut]
    total: int = Field(description="Groups in the whole report.")
    offset: int
    limit: int
    totals: list[PortfolioRowOut] = Field(
        description="One line per currency over the whole period (no dimension)."
    )


def _portfolio(report: PortfolioReport) -> PortfolioOut:
    return PortfolioOut(
        by=list(report.by),
        from_=report.start,
        to=report.end,
        items=[_row(x) for x in report.items],
        total=report.total,
        offset=report.offset,
        limit=report.limit,
        totals=[_row(x) for x in report.totals],
    )


class CheckOut(BaseModel):
    """How one check (by code) of claims or applications fared in the period."""

    family: Family
    code: str = Field(examples=["duplicate_claim"])
    checked: int = Field(ge=0, description="Records carrying the check.")
    green: int = Field(ge=0)
    amber: int = Field(ge=0)
    red: int = Field(ge=0)
    fired: int = Field(ge=0, description="Amber + red.")
    fired_rate: str | None = Field(pattern=RATIO, description="Fired / checked.")
    decided: int = Field(ge=0, description="Of the records, those decided.")
    decided_red: int = Field(ge=0, description="Decided records where it was red.")
    decided_green: int = Field(
        ge=0, description="Decided records whose every check was green."
    )
    approved_despite_red: int = Field(ge=0)
    declined_despite_green: int = Field(ge=0)
    overridden: int = Field(ge=0, description="The two overrides together.")
    override_rate: str | None = Field(
        pattern=RATIO,
        description="Overridden / (decided_red + decided_green); null without such a decision.",
    )


class RecordsOut(BaseModel):
    """A record family's records in the period, by their own light and decision."""

    family: Family
    records: int = Field(ge=0)
    green: int = Field(ge=0)
    amber: int = Field(ge=0)
    red: int = Field(ge=0)
    decided: int = Field(ge=0)
    approved_despite_red: int = Field(ge=0)
    declined_despite_green: int = Field(ge=0)
    overridden: int = Field(ge=0)
    override_rate: str | None = Field(
        pattern=RATIO, description="Overridden / decided."
    )


class ChecksOut(BaseModel):
    """Checks by family and code, and each family's records, for the period."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(alias="from")
    to: date | None
    checks: list[CheckOut]
    records: list[RecordsOut]


def _check(c: CheckFigures) -> CheckOut:
    return CheckOut(
        family=c.family,
        code=c.code,
        checked=c.checked,
        green=c.green,
        amber=c.amber,
        red=c.red,
        fired=c.fired,
        fired_rate=_ratio(c.fired_rate),
        decided=c.decided,
        decided_red=c.decided_red,
        decided_green=c.decided_green,
        approved_despite_red=c.approved_despite_red,
        declined_despite_green=c.declined_despite_green,
        overridden=c.overridden,
        override_rate=_ratio(c.override_rate),
    )


def _records(r: RecordFigures) -> RecordsOut:
    return RecordsOut(
        family=r.family,
        records=r.records,
        green=r.green,
        amber=r.amber,
        red=r.red,
        decided=r.decided,
        approved_despite_red=r.approved_despite_red,
        declined_despite_green=r.declined_despite_green,
        overridden=r.overridden,
        override_rate=_ratio(r.override_rate),
    )


def _checks(report: ChecksReport) -> ChecksOut:
    return ChecksOut(
        from_=report.start,
        to=report.end,
        checks=[_check(c) for c in report.checks],
        records=[_records(r) for r in report.records],
    )


From = Annotated[
    date | None,
    BeforeValidator(iso_day),
    Query(
        alias="from",
        description="The period's first day (policies by their first day, claims by "
        "their loss day); default: no bound.",
    ),
]
To = Annotated[
    date | None,
    BeforeValidator(iso_day),
    Query(
        alias="to",
        description="The period's last day, inclusive, on or after ``from`` (422 "
        "naming ``to`` otherwise); default: no bound.",
    ),
]


def reports_router(deps: Deps) -> APIRouter:
    """Routes of the portfolio and checks reports."""
    router = APIRouter(prefix=f"{API}/reports")
    readers = deps.may("reports.read")
    service = ReportService(deps.ctx.engine)

    @router.get("/portfolio", tags=["reports"], response_model_by_alias=True)
    def portfolio_report(
        user: Annotated[User, Depends(readers)],
        by: Annotated[
            str,
            Query(
                max_length=100,
                pattern=BY,
                description="Dimensions to group by, joined by commas, in any "
                "combination and order: region, product, peril, month (currency "
                "always). Empty: one line per currency.",
                examples=["region,month"],
            ),
        ] = "",
        start: From = None,
        end: To = None,
        offset: Offset = 0,
        limit: Annotated[
            int,
            Query(
                ge=1,
                le=MAX_LIMIT,
                description=f"Groups per page (at most {MAX_LIMIT}).",
            ),
        ] = 50,
    ) -> PortfolioOut:
        """Premium, sum insured, claims, paid and incurred amounts and loss ratios, grouped.

        Money is integer minor units with its currency; a group is always one
        currency. Premium and sum insured count in the month and period of a
        policy's first day, claims in those of their loss day.
        """
        report = service.portfolio(
            user, by=by, start=start, end=end, offset=offset, limit=limit
        )
        return _portfolio(report)

    @router.get("/checks", tags=["reports"], response_model_by_alias=True)
    def checks_report(
        user: Annotated[User, Depends(readers)],
        start: From = None,
        end: To = None,
    ) -> ChecksOut:
        """How often each check of claims and applications fired, and was overridden.

        An override is a decision against the light: approved (or paid)
        although the check was red, or declined (rejected) although every
        check of the record was green. Claims count by their loss day,
        applications by their cover's first day.
        """
        return _checks(service.checks(user, start=start, end=end))

    return router
