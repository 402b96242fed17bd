"""Portfolio and check figures, summed by the database (GROUP BY), on SQLite and PostgreSQL.

SQL only; what the sums mean (loss ratios, what counts as an override) is
``claims.portfolio``'s, and the service (``server.services.reports``) puts
them together. No query reads every record into Python: each report is one
grouped statement (with a count of its groups), whatever the portfolio's size.

* **Portfolio** (:meth:`ReportStore.portfolio`): policies and claims in one
  ``UNION ALL``, grouped by the dimensions asked for and always by currency.
  A policy counts in the period and month of its first day (premium, sum
  insured), a claim in those of its loss day (claimed = its amount as reckoned
  at intake or assessment; paid = the amount of a paid claim; approved and
  not yet paid apart). Region is the farmer's, product and peril (by the
  product's kind, :data:`claims.PERILS`) the policy's. A policy's premium is
  stored as JSON text (``{"total": "1234.56", ...}``, always two decimals:
  ``str(Money)``): its minor units are the digits without the point, cast to
  an integer in SQL (exact, no float).
* **Checks** (:meth:`ReportStore.checks`): each check stored in a claim's or
  an application's ``checks`` (a JSON list; ``json_each`` on SQLite,
  ``jsonb_array_elements`` on PostgreSQL) counted by code and light, with
  the decided records and the overrides of :func:`claims.override_of`
  (the statuses of :data:`claims.DECIDED_FOR` / :data:`claims.DECIDED_AGAINST`).
  Claims are in the period of their loss day, applications of their cover's
  first day, as in the portfolio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    FromClause,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from claims import DECIDED_AGAINST, DECIDED_FOR, PERILS, Dimension, Family
from server.storage.schema import applications, claims, farmers, policies

__all__ = ["CheckRow", "PortfolioRow", "RecordRow", "ReportStore"]

_MEASURES = (
    "policies",
    "premium_minor",
    "sum_insured_minor",
    "claims",
    "claimed_minor",
    "paid_minor",
    "approved_unpaid_minor",
)


@dataclass(frozen=True)
class PortfolioRow:
    """One group of the portfolio: its keys, its currency and its sums (minor units).

    Attributes:
        keys: each dimension grouped by and its value (a month is ``YYYY-MM``).
        currency: ISO 4217 code; every amount of the row is in it.
        policies: policies starting in the period.
        premium_minor: their premiums.
        sum_insured_minor: their sums insured.
        claims: claims with a loss day in the period (any status).
        claimed_minor: their amounts as reckoned (a crop claim not yet assessed: 0).
        paid_minor: the amounts of those paid.
        approved_unpaid_minor: the amounts of those approved and not yet paid.
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


@dataclass(frozen=True)
class CheckRow:
    """How one check (by code) of one record family fared in the period.

    Attributes:
        family: ``claim`` or ``application``.
        code: the check's code.
        checked: records carrying it.
        green, amber, red: of those, by the check's light.
        decided: of those, decided records (for or against the farmer).
        decided_red: decided records where the check was red.
        decided_green: decided records whose every check was green.
        approved_despite_red: decided for the farmer while the check was red.
        declined_despite_green: decided against while every check was green.
    """

    family: Family
    code: str
    checked: int
    green: int
    amber: int
    red: int
    decided: int
    decided_red: int
    decided_green: int
    approved_despite_red: int
    declined_despite_green: int


@dataclass(frozen=True)
class RecordRow:
    """The records of one family in the period, by their own light and decision.

    Attributes:
        family: ``claim`` or ``application``.
        records: records in the period.
        green, amber, red: by the record's light (the worst of its checks).
        decided: decided for or against the farmer.
        approved_despite_red: decided for the farmer while the record was red.
        declined_despite_green: decided against while the record was green.
    """

    family: Family
    records: int
    green: int
    amber: int
    red: int
    decided: int
    approved_despite_red: int
    declined_despite_green: int


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _day(value: date) -> datetime:
    """A loss day as stored: midnight UTC of that date (``claims.event_date``)."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _month_of_date(conn: Connection, column: Any) -> ColumnElement[str]:
    """``YYYY-MM`` of a DATE column."""
    if _is_postgres(conn):
        return func.to_char(column, "YYYY-MM")
    return func.substr(column, 1, 7)  # SQLite stores a date as 'YYYY-MM-DD'


def _month_of_instant(conn: Connection, column: Any) -> ColumnElement[str]:
    """``YYYY-MM`` of a timestamp column, in UTC (whatever the session's time zone)."""
    if _is_postgres(conn):
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, 1, 7)  # SQLite stores UTC text 'YYYY-MM-DD HH:MM:SS...'


def _json_text(conn: Connection, document: Any, key: str) -> ColumnElement[str]:
    """The text of member ``key`` of a JSON object (a text column or a JSON value)."""
    if _is_postgres(conn):
        member: ColumnElement[str] = type_coerce(cast(document, JSONB), JSONB)[
            key
        ].astext
        return member
    return func.json_extract(document, f"$.{key}")


def _elements(conn: Connection, document: Any) -> Any:
    """The elements of a JSON list held as text, as a table ``j`` of one column ``value``.

    A NULL or empty text is an empty list.
    """
    text = func.coalesce(func.nullif(document, ""), "[]")
    if _is_postgres(conn):
        return (
            func.jsonb_array_elements(cast(text, JSONB))
            .table_valued("value")
            .lateral("j")
        )
    return func.json_each(text).table_valued("value").alias("j")


def _peril(kind: Any) -> ColumnElement[str]:
    """The peril of a product's kind (:data:`claims.PERILS`; an unknown kind is itself)."""
    return case(*((kind == k, literal(v)) for k, v in PERILS.items()), else_=kind)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(column: Any, start: Any, end: Any) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if start is not None:
        where.append(column >= start)
    if end is not None:
        where.append(column <= end)
    return where


class ReportStore:
    """Grouped sums over policies, claims and applications; reads on the caller's connection."""

    # --- portfolio ----------------------------------------------------------------

    def _portfolio_union(
        self, conn: Connection, start: date | None, end: date | None
    ) -> FromClause:
        """Policies and claims as rows of one shape: keys, currency and the measures."""
        zero = literal(0, BigInteger)
        premium = cast(
            func.replace(_json_text(conn, policies.c.premium, "total"), ".", ""),
            BigInteger,
        )
        of_policies = (
            select(
                farmers.c.region.label("region"),
                policies.c.product_code.label("product"),
                _peril(policies.c.kind).label("peril"),
                _month_of_date(conn, policies.c.start_date).label("month"),
                policies.c.currency.label("currency"),
                literal(1, BigInteger).label("policies"),
                premium.label("premium_minor"),
                policies.c.sum_insured_minor.label("sum_insured_minor"),
                zero.label("claims"),
                zero.label("claimed_minor"),
                zero.label("paid_minor"),
                zero.label("approved_unpaid_minor"),
            )
            .select_from(policies.join(farmers, farmers.c.id == policies.c.farmer_id))
            .where(*_in_period(policies.c.start_date, start, end))
        )
        amount = claims.c.amount_minor
        of_claims = (
            select(
                farmers.c.region,
                policies.c.product_code,
                _peril(policies.c.kind),
                _month_of_instant(conn, claims.c.event_date),
                claims.c.currency,
                zero,
                zero,
                zero,
                literal(1, BigInteger),
                amount,
                case((claims.c.status == "paid", amount), else_=zero),
                case((claims.c.status == "approved", amount), else_=zero),
            )
            .select_from(
                claims.join(policies, policies.c.id == claims.c.policy_id).join(
                    farmers, farmers.c.id == policies.c.farmer_id
                )
            )
            .where(
                *_in_period(
                    claims.c.event_date,
                    _day(start) if start is not None else None,
                    _day(end) if end is not None else None,
                )
            )
        )
        return union_all(of_policies, of_claims).subquery("portfolio")

    def _grouped(
        self,
        conn: Connection,
        by: Sequence[Dimension],
        start: date | None,
        end: date | None,
    ) -> Select[Any]:
        rows = self._portfolio_union(conn, start, end)
        keys = [rows.c[d] for d in by] + [rows.c.currency]
        sums = [func.sum(rows.c[m]).label(m) for m in _MEASURES]
        return select(*keys, *sums).group_by(*keys)

    def portfolio(
        self,
        conn: Connection,
        by: Sequence[Dimension],
        *,
        start: date | None = None,
        end: date | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> tuple[list[PortfolioRow], int]:
        """One page of the portfolio's groups, in key order, and how many groups there are.

        Args:
            conn: the connection to read on.
            by: the dimensions to group by (none: one group per currency).
            start: the period's first day (None: open).
            end: its last day, inclusive (None: open).
            offset: groups to skip.
            limit: groups in the page (None: every group).
        """
        grouped = self._grouped(conn, by, start, end).subquery("groups")
        total = int(
            conn.execute(select(func.count()).select_from(grouped)).scalar_one()
        )
        order = [grouped.c[d] for d in by] + [grouped.c.currency]
        query = select(grouped).order_by(*order).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        found = [
            PortfolioRow(
                {d: str(getattr(r, d)) for d in by},
                r.currency,
                *(int(getattr(r, m) or 0) for m in _MEASURES),
            )
            for r in conn.execute(query).all()
        ]
        return found, total

    # --- checks -------------------------------------------------------------------

    @staticmethod
    def _family(family: Family) -> tuple[Table, Any]:
        """The family's table and the column its period is on."""
        if family == "claim":
            return claims, claims.c.event_date
        return applications, applications.c.start_date

    @staticmethod
    def _period(
        family: Family, start: date | None, end: date | None
    ) -> tuple[Any, Any]:
        if family == "claim":
            return (
                _day(start) if start is not None else None,
                _day(end) if end is not None else None,
            )
        return start, end

    def checks(
        self,
        conn: Connection,
        family: Family,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> list[CheckRow]:
        """Each check code of ``family``'s records in the period, by code (one grouped query)."""
        table, when = self._family(family)
        elements = _elements(conn, table.c.checks)
        code = _json_text(conn, elements.c.value, "code")
        light = _json_text(conn, elements.c.value, "light")
        status = table.c.status
        decided_for = status.in_(sorted(DECIDED_FOR[family]))
        decided_against = status.in_(sorted(DECIDED_AGAINST[family]))
        decided = status.in_(sorted(DECIDED_FOR[family] | DECIDED_AGAINST[family]))
        all_green = table.c.light == "green"
        query = (
            select(
                code.label("code"),
                func.count().label("checked"),
                _count_if(light == "green").label("green"),
                _count_if(light == "amber").label("amber"),
                _count_if(light == "red").label("red"),
                _count_if(decided).label("decided"),
                _count_if(and_(decided, light == "red")).label("decided_red"),
                _count_if(and_(decided, all_green)).label("decided_green"),
                _count_if(and_(decided_for, light == "red")).label(
                    "approved_despite_red"
                ),
                _count_if(and_(decided_against, all_green)).label(
                    "declined_despite_green"
                ),
            )
            .select_from(table.join(elements, true()))
            .where(*_in_period(when, *self._period(family, start, end)))
            .group_by(code)
            .order_by(code)
        )
        return [
            CheckRow(
                family,
                str(r.code),
                *(
                    int(getattr(r, k))
                    for k in (
                        "checked",
                        "green",
                        "amber",
                        "red",
                        "decided",
                        "decided_red",
                        "decided_green",
                        "approved_despite_red",
                        "declined_despite_green",
                    )
                ),
            )
            for r in conn.execute(query).all()
            if r.code is not None
        ]

    def records(
        self,
        conn: Connection,
        family: Family,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> RecordRow:
        """``family``'s records in the period by their own light and decision (one query)."""
        table, when = self._family(family)
        status, light = table.c.status, table.c.light
        decided_for = status.in_(sorted(DECIDED_FOR[family]))
        decided_against = status.in_(sorted(DECIDED_AGAINST[family]))
        row = conn.execute(
            select(
                func.count().label("records"),
                _count_if(light == "green").label("green"),
                _count_if(light == "amber").label("amber"),
                _count_if(light == "red").label("red"),
                _count_if(decided_for | decided_against).label("decided"),
                _count_if(and_(decided_for, light == "red")).label("for_red"),
                _count_if(and_(decided_against, light == "green")).label(
                    "against_green"
                ),
            ).where(*_in_period(when, *self._period(family, start, end)))
        ).one()
        return RecordRow(
            family,
            int(row.records),
            int(row.green),
            int(row.amber),
            int(row.red),
            int(row.decided),
            int(row.for_red),
            int(row.against_green),
        )
