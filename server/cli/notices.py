"""``agri notices``: public notices (公示) from the command line.

``agri notices publish --kind claims|underwriting --region R --from DAY --to DAY
[--objection-days N] --actor NAME`` publishes the notice of a region and period
(the claims notice as an adjuster, the underwriting notice as an underwriter:
``--actor`` is who, on the ledger) and prints its id, rows, last day of
objections and ledger entry. ``agri notices list [--region R] [--kind K]`` prints
the notices, newest first, in the shell's language (``LANG``). ``agri notices pdf
NOTICE_ID --out FILE --base-url URL [--lang zh-CN|en]`` writes the printable
notice; its QR code opens ``URL/notices/NOTICE_ID``, the public page, so
``--base-url`` is where villagers' phones reach the insurer's server.

The operator who runs ``agri`` holds the database: lists and PDFs read every
region's notices. Exit codes: 0 success, 2 input refused (one line naming the
option: ``Error: Invalid value for '--region': ...``).
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from server.cli.common import app_context

if TYPE_CHECKING:
    from server.i18n import Lang
    from server.services.notices import NoticesService

__all__ = ["notices"]

_DAY = click.DateTime(formats=["%Y-%m-%d"])
_KINDS = click.Choice(["claims", "underwriting"])
_OPTION = {
    "kind": "--kind",
    "region": "--region",
    "start": "--from",
    "end": "--to",
    "objection_days": "--objection-days",
    "notice_id": "NOTICE_ID",
}
"""The option each refusal's field is about."""


def _service(ctx: click.Context) -> NoticesService:
    from server.services.notices import NoticesService

    app = app_context(ctx)
    return NoticesService(app.ledger, app.underwriting, app.claims)


def _refused(exc: Exception) -> click.BadParameter:
    """A service's refusal as a usage error naming the option it is about."""
    field = getattr(exc, "field", None) or ""
    return click.BadParameter(str(exc), param_hint=_OPTION.get(field))


def _lang(value: str | None) -> Lang:
    from server.i18n import cli_lang

    return "zh-CN" if value == "zh-CN" else "en" if value == "en" else cli_lang()


@click.group()
def notices() -> None:
    """Public notices (公示): publish a region's list, list the notices, print one."""


@notices.command("publish")
@click.option("--kind", type=_KINDS, required=True, help="claims or underwriting.")
@click.option(
    "--region", required=True, help="The farmers' region, as they are registered."
)
@click.option("--from", "start", type=_DAY, required=True, help="First day, ISO.")
@click.option("--to", "end", type=_DAY, required=True, help="Last day, ISO.")
@click.option(
    "--objection-days",
    type=int,
    default=None,
    help="Days objections are taken (3 to 30; default AGRI_NOTICE_OBJECTION_DAYS).",
)
@click.option(
    "--actor", required=True, help="Who publishes (an adjuster, an underwriter)."
)
@click.pass_context
def publish_command(
    ctx: click.Context,
    kind: str,
    region: str,
    start: datetime,
    end: datetime,
    objection_days: int | None,
    actor: str,
) -> None:
    """Publish the notice of a region and period: its rows frozen on the ledger."""
    from server.errors import ServiceError
    from server.services.access import Viewer

    service = _service(ctx)
    role = "adjuster" if kind == "claims" else "underwriter"
    try:
        view = service.publish(
            Viewer(role),
            kind="claims" if kind == "claims" else "underwriting",
            region=region,
            start=start.date(),
            end=end.date(),
            objection_days=objection_days,
            actor=actor,
        )
    except ServiceError as exc:
        raise _refused(exc) from exc
    r = view.record
    click.echo(
        f"{r.id}\t{r.kind}\t{r.region}\t{r.rows} rows\t"
        f"objections until {r.objection_ends}\tledger entry {r.ledger_index}"
    )


@notices.command("list")
@click.option("--region", default=None, help="Only this region's notices.")
@click.option("--kind", type=_KINDS, default=None, help="Only this kind.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.pass_context
def list_command(
    ctx: click.Context, region: str | None, kind: str | None, limit: int
) -> None:
    """The notices, newest first, in the shell's language."""
    from server.errors import ServiceError
    from server.i18n import render_message
    from server.services.access import Viewer

    service = _service(ctx)
    lang = _lang(None)
    try:
        page = service.notices(
            Viewer("admin"),
            region=region,
            kind="claims" if kind == "claims" else "underwriting" if kind else None,
            limit=limit,
        )
    except ServiceError as exc:
        raise _refused(exc) from exc
    for view in page.items:
        r = view.record
        state = "open" if view.in_objection_period else "closed"
        click.echo(
            "\t".join(
                [
                    r.id,
                    render_message(f"notice.title.{r.kind}", {}, lang),
                    r.region,
                    f"{r.period_start}..{r.period_end}",
                    render_message(
                        f"notice.cli.{state}",
                        {
                            "published": r.published_on.isoformat(),
                            "ends": r.objection_ends.isoformat(),
                        },
                        lang,
                    ),
                    render_message(
                        "notice.cli.rows",
                        {"rows": r.rows, "open": view.open_objections},
                        lang,
                    ),
                ]
            )
        )
    click.echo(render_message("notice.cli.total", {"total": page.total}, lang))


@notices.command("pdf")
@click.argument("notice_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--base-url",
    required=True,
    help="Where phones reach the insurer's server (https://host/): the QR code "
    "opens its /notices/NOTICE_ID page.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh-CN", "en"]),
    default=None,
    help="The notice's language (default: the shell's, LANG).",
)
@click.pass_context
def pdf_command(
    ctx: click.Context, notice_id: str, out: Path, base_url: str, lang: str | None
) -> None:
    """Write the printable notice (A4 landscape, its QR code the public page)."""
    from server.errors import ServiceError
    from server.services.access import Viewer

    if not re.fullmatch(r"ntc_[0-9a-f]{32}", notice_id):
        raise click.BadParameter(
            "a notice's id is ntc_ and 32 hex digits", param_hint="NOTICE_ID"
        )
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.netloc or url.query:
        raise click.BadParameter(
            "an http or https address such as https://insurer.example/",
            param_hint="--base-url",
        )
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder", param_hint="--out")
    service = _service(ctx)
    try:
        data = service.pdf(Viewer("admin"), notice_id, _lang(lang), base_url=base_url)
    except ServiceError as exc:
        raise _refused(exc) from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    click.echo(
        f"{out}\t{len(data):,} bytes\t{base_url.rstrip('/')}/notices/{notice_id}"
    )
