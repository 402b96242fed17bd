"""``agri export``: the insurer's records as standard files.

``plots`` writes the insured plots as fiboa GeoParquet or GeoJSON; ``claims``
and ``policies`` as CSV or XLSX, headed in the shell's language (``LANG``,
or ``--lang``); ``stac`` a crop claim's or an event's assessment imagery as a
STAC collection in a folder. A file is written beside its destination and
renamed into place, so a refused or failed export leaves no partial file.
Exit codes: 0 written, 2 a usage or input error (the option at fault named).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from server.cli.common import app_context

if TYPE_CHECKING:
    from server.services.exports import ExportService

__all__ = ["export"]

_HINTS = {
    "product": "--product",
    "farmer_id": "--farmer",
    "claim_id": "--claim",
    "event_id": "--event",
}
_MAX = click.option(
    "--max-rows",
    type=click.IntRange(1, 10_000_000),
    default=None,
    help="The most records one export may hold (default 100000); more is refused.",
)
_FARMER = click.option("--farmer", "farmer_id", help="Only this farmer's records.")


def _service(ctx: click.Context) -> ExportService:
    from server.services.exports import ExportService

    app = app_context(ctx)
    return ExportService(app.engine, app.settings.resolved_imagery_dir())


def _write(out: Path, write: Callable[[BinaryIO], Any]) -> Any:
    """Run ``write`` on a file beside ``out`` and rename it into place; its result.

    Raises:
        click.BadParameter: the service refused (the option named), or ``out``
            cannot be written.
    """
    from server.errors import ServiceError

    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder", param_hint="--out")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            result = write(f)
        os.replace(tmp, out)
    except ServiceError as exc:
        raise click.BadParameter(
            str(exc), param_hint=_HINTS.get(exc.field or "", None)
        ) from exc
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {out}: {exc.strerror}", param_hint="--out"
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return result


def _lang(value: str | None) -> Any:
    from server.i18n import cli_lang

    return value or cli_lang()


def _limit(max_rows: int | None) -> int:
    from server.services.exports import MAX_ROWS

    return max_rows or MAX_ROWS


@click.group()
def export() -> None:
    """The insurer's records as standard files: fiboa, GeoJSON, CSV, XLSX, STAC."""


@export.command("plots")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["fiboa", "geojson"]),
    default="fiboa",
    show_default=True,
    help="fiboa 0.3.0 GeoParquet 1.1, or GeoJSON (RFC 7946).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--on",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only policies in force on this day, YYYY-MM-DD.",
)
@click.option("--product", help="Only this product's plots (its code).")
@_FARMER
@_MAX
@click.pass_context
def plots(
    ctx: click.Context,
    fmt: str,
    out: Path,
    day: Any,
    product: str | None,
    farmer_id: str | None,
    max_rows: int | None,
) -> None:
    """Write the insured plots (fiboa core fields and insurance:*) to OUT."""
    service = _service(ctx)
    count = _write(
        out,
        lambda f: service.write_plots(
            f,
            fmt,  # type: ignore[arg-type]
            on=day.date() if day else None,
            product=product,
            farmer_id=farmer_id,
            max_rows=_limit(max_rows),
        ),
    )
    click.echo(f"wrote {count} insured plots to {out}")


def _table_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--lang",
        type=click.Choice(["en", "zh-CN"]),
        default=None,
        help="The headers' language (default: the shell's, LANG).",
    )(fn)
    fn = click.option(
        "--out", required=True, type=click.Path(dir_okay=False, path_type=Path)
    )(fn)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["csv", "xlsx"]),
        default="csv",
        show_default=True,
        help="CSV (UTF-8 with BOM, RFC 4180) or XLSX.",
    )(fn)


@export.command("claims")
@_table_options
@click.option(
    "--status",
    type=click.Choice(["filed", "survey", "approved", "rejected", "paid"]),
    help="Only claims in this status.",
)
@_FARMER
@_MAX
@click.pass_context
def claims(
    ctx: click.Context,
    fmt: str,
    out: Path,
    lang: str | None,
    status: str | None,
    farmer_id: str | None,
    max_rows: int | None,
) -> None:
    """Write the claims, newest report first, to OUT."""
    service = _service(ctx)
    count = _write(
        out,
        lambda f: service.write_claims(
            f,
            fmt,  # type: ignore[arg-type]
            _lang(lang),
            status=status,  # type: ignore[arg-type]
            farmer_id=farmer_id,
            max_rows=_limit(max_rows),
        ),
    )
    click.echo(f"wrote {count} claims to {out}")


@export.command("policies")
@_table_options
@_FARMER
@_MAX
@click.pass_context
def policies(
    ctx: click.Context,
    fmt: str,
    out: Path,
    lang: str | None,
    farmer_id: str | None,
    max_rows: int | None,
) -> None:
    """Write the policies, newest first, to OUT."""
    service = _service(ctx)
    count = _write(
        out,
        lambda f: service.write_policies(
            f,
            fmt,  # type: ignore[arg-type]
            _lang(lang),
            farmer_id=farmer_id,
            max_rows=_limit(max_rows),
        ),
    )
    click.echo(f"wrote {count} policies to {out}")


@export.command("stac")
@click.option("--claim", "claim_id", help="A crop claim assessed by map.")
@click.option("--event", "event_id", help="A catastrophe event: its assessed claims.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder for collection.json and the items (created; must be empty).",
)
@click.pass_context
def stac(
    ctx: click.Context, claim_id: str | None, event_id: str | None, out: Path
) -> None:
    """Write a claim's or an event's assessment imagery as a STAC collection in OUT."""
    from server.errors import ServiceError
    from server.services.exports import save_stac

    if (claim_id is None) == (event_id is None):
        raise click.UsageError("name one of --claim or --event")
    if out.exists() and any(out.iterdir()):
        raise click.BadParameter(f"{out} is not empty", param_hint="--out")
    service = _service(ctx)
    try:
        collection = (
            service.stac_for_claim(claim_id)
            if claim_id is not None
            else service.stac_for_event(event_id or "")
        )
    except ServiceError as exc:
        raise click.BadParameter(
            str(exc), param_hint=_HINTS.get(exc.field or "", None)
        ) from exc
    files = save_stac(collection, out)
    items = len(files) - 1
    click.echo(f"wrote {collection.id}: {items} items in {out / 'collection.json'}")
