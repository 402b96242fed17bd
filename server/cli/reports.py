"""``agri report``: the portfolio and checks reports in the terminal, or as CSV.

``agri report portfolio [--by region,product,peril,month] [--from DAY] [--to DAY]
[--format table|csv]`` prints premium, sum insured, claims, paid and incurred
amounts and the loss ratios, grouped by the dimensions given (and always by
currency), then each currency's totals; ``agri report checks [--from] [--to]
[--format]`` how often each check fired and was overridden.

A table speaks the shell's locale: words from the message catalogues
(``server/i18n``, by ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG``), numbers, money
and months by Babel's CLDR data for ``LC_ALL`` / ``LC_NUMERIC`` / ``LANG``
(``de_DE.UTF-8`` groups thousands with dots), columns aligned by display width
(a Chinese character takes two). CSV is for machines: codes, integer minor
units, ratios as decimals, the same in every locale.

The operator who runs ``agri`` holds the database, and reads as an admin.
Exit codes: 0 success, 2 input refused (one line: ``Error: ...``).
"""

from __future__ import annotations

import csv
import os
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from server.cli.common import app_context

if TYPE_CHECKING:
    from babel import Locale

    from server.i18n import Lang
    from server.services.reports import ChecksReport, PortfolioLine

__all__ = ["report"]

_DAY = click.DateTime(formats=["%Y-%m-%d"])
PORTFOLIO_COLUMNS = (
    "policies",
    "premium_minor",
    "sum_insured_minor",
    "claims",
    "claimed_minor",
    "paid_minor",
    "approved_unpaid_minor",
    "incurred_minor",
    "loss_ratio",
    "incurred_loss_ratio",
)
CHECK_COLUMNS = (
    "checked",
    "green",
    "amber",
    "red",
    "fired",
    "fired_rate",
    "decided",
    "approved_despite_red",
    "declined_despite_green",
    "override_rate",
)


class Refused(click.ClickException):
    """Input the command refuses: one line to stderr (``Error: ...``), exit code 2."""

    exit_code = 2


def number_locale(environ: Mapping[str, str] | None = None) -> Locale:
    """Babel's locale for numbers and dates: ``LC_ALL``, ``LC_NUMERIC``, then ``LANG``.

    ``C``, ``POSIX``, an unknown or no locale is English (``en_US``).
    """
    from babel import Locale, UnknownLocaleError

    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_NUMERIC", "LANG"):
        value = env.get(name)
        if not value:
            continue
        tag = value.split(".")[0].split("@")[0]
        if tag in ("C", "POSIX"):
            break
        try:
            return Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            break
    return Locale.parse("en_US")


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (East Asian wide and full-width: two)."""
    return sum(
        0
        if unicodedata.combining(c)
        else 2
        if unicodedata.east_asian_width(c) in ("W", "F")
        else 1
        for c in text
    )


def render_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    """Rows under a header and a rule, columns padded to their widest cell."""
    widths = [
        max([width(header[i]), *(width(r[i]) for r in rows)])
        for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            " " * (widths[i] - width(c)) + c
            if right[i]
            else c + " " * (widths[i] - width(c))
            for i, c in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


class _Words:
    """The catalogue's words and Babel's formats for one reader."""

    def __init__(self, lang: Lang, loc: Locale) -> None:
        self.lang, self.loc = lang, loc

    def __call__(self, key: str, fallback: str | None = None) -> str:
        from server.i18n import catalogue

        return (
            catalogue(self.lang).get(key)
            or catalogue("en").get(key)
            or (fallback if fallback is not None else key)
        )

    def count(self, n: int) -> str:
        from babel.numbers import format_decimal

        return format_decimal(n, locale=self.loc)

    def money(self, minor: int) -> str:
        from babel.numbers import format_decimal

        return format_decimal(
            Decimal(minor).scaleb(-2), format="#,##0.00", locale=self.loc
        )

    def ratio(self, value: Decimal | None) -> str:
        from babel.numbers import format_percent

        if value is None:
            return "—"
        return format_percent(value, format="#,##0.0%", locale=self.loc)

    def month(self, text: str) -> str:
        from babel.dates import format_skeleton

        day = datetime.strptime(text, "%Y-%m").date()
        return format_skeleton("yMMM", day, locale=self.loc)

    def key(self, dimension: str, value: str) -> str:
        if dimension == "month":
            return self.month(value)
        if dimension == "peril":
            return self(f"value.peril.{value}", value)
        return value


def _words() -> _Words:
    from server.i18n import cli_lang

    return _Words(cli_lang(), number_locale())


def _period(
    start: datetime | None, end: datetime | None
) -> tuple[date | None, date | None]:
    return (start.date() if start else None, end.date() if end else None)


def _refusing(run: Callable[[], Any]) -> Any:
    from server.errors import ServiceError

    try:
        return run()
    except ServiceError as exc:
        raise Refused(str(exc)) from exc


def _portfolio_cells(line: PortfolioLine, say: _Words) -> list[str]:
    cells = []
    for name in PORTFOLIO_COLUMNS:
        value = getattr(line, name)
        if name.endswith("_minor"):
            cells.append(say.money(value))
        elif name.endswith("ratio"):
            cells.append(say.ratio(value))
        else:
            cells.append(say.count(value))
    return cells


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(header)
    for row in rows:
        out.writerow(["" if x is None else x for x in row])


@click.group("report")
def report() -> None:
    """Portfolio reports: premium, claims and loss ratios; how the checks fare."""


_FROM = click.option(
    "--from",
    "start",
    type=_DAY,
    help="First day (YYYY-MM-DD): policies by their first day, claims by their loss day.",
)
_TO = click.option("--to", "end", type=_DAY, help="Last day, inclusive (YYYY-MM-DD).")
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
    help="A table in the shell's locale, or CSV (codes, minor units) for machines.",
)


@report.command("portfolio")
@click.option(
    "--by",
    default="",
    help="Dimensions joined by commas: region, product, peril, month "
    "(currency always). None: each currency's totals.",
)
@_FROM
@_TO
@_FORMAT
@click.pass_context
def portfolio(
    ctx: click.Context,
    by: str,
    start: datetime | None,
    end: datetime | None,
    fmt: str,
) -> None:
    """Premium, sum insured, claims, paid, incurred and loss ratios, grouped."""
    from server.services.access import Viewer
    from server.services.reports import MAX_LIMIT, ReportService

    service = ReportService(app_context(ctx).engine)
    first, last = _period(start, end)
    operator = Viewer("admin")
    lines: list[PortfolioLine] = []
    while True:
        page = _refusing(
            partial(
                service.portfolio,
                operator,
                by=by,
                start=first,
                end=last,
                offset=len(lines),
                limit=MAX_LIMIT,
            )
        )
        lines += page.items
        if not page.items or len(lines) >= page.total:
            break
    if fmt == "csv":
        _csv(
            [*page.by, "currency", *PORTFOLIO_COLUMNS],
            [
                [
                    *(x.keys[d] for d in page.by),
                    x.currency,
                    *(getattr(x, c) for c in PORTFOLIO_COLUMNS),
                ]
                for x in lines
            ],
        )
        return
    say = _words()
    header = [
        *(say(f"report.col.{d}") for d in page.by),
        say("report.col.currency"),
        *(say(f"report.col.{c}") for c in PORTFOLIO_COLUMNS),
    ]
    rows = [
        [
            *(say.key(d, x.keys[d]) for d in page.by),
            x.currency,
            *_portfolio_cells(x, say),
        ]
        for x in lines
    ]
    if page.by:
        blank = [""] * (len(page.by) - 1)
        rows += [
            [say("report.total"), *blank, x.currency, *_portfolio_cells(x, say)]
            for x in page.totals
        ]
    right = [False] * (len(page.by) + 1) + [True] * len(PORTFOLIO_COLUMNS)
    click.echo(render_table(header, rows, right))


@report.command("checks")
@_FROM
@_TO
@_FORMAT
@click.pass_context
def checks(
    ctx: click.Context, start: datetime | None, end: datetime | None, fmt: str
) -> None:
    """How often each check fired (amber, red) and a decision overrode it."""
    from server.services.access import Viewer
    from server.services.reports import ReportService

    service = ReportService(app_context(ctx).engine)
    first, last = _period(start, end)
    found: ChecksReport = _refusing(
        lambda: service.checks(Viewer("admin"), start=first, end=last)
    )
    if fmt == "csv":
        _csv(
            ["family", "code", *CHECK_COLUMNS],
            [
                [c.family, c.code, *(getattr(c, k) for k in CHECK_COLUMNS)]
                for c in found.checks
            ],
        )
        return
    say = _words()
    header = [
        say("report.col.family"),
        say("report.col.check"),
        *(say(f"report.col.{k}") for k in CHECK_COLUMNS),
    ]
    rows = [
        [
            say(f"value.family.{c.family}", c.family),
            say(f"report.check.{c.code}", c.code),
            *(
                say.ratio(getattr(c, k))
                if k.endswith("rate")
                else say.count(getattr(c, k))
                for k in CHECK_COLUMNS
            ),
        ]
        for c in found.checks
    ]
    click.echo(render_table(header, rows, [False, False] + [True] * len(CHECK_COLUMNS)))
