"""``agri claims``: claims work run from the command line.

``agri claims assess-event --event ID`` assesses every open crop claim of one
catastrophe event on a Dask cluster (``server.services.events``): a local one
of ``--workers`` processes by default, or the running cluster whose scheduler
``--scheduler`` names. A progress bar on stderr, a one-line summary per
outcome on stdout. Exit codes: 0 done (claims refused are named, one line
each), 2 a usage or input error (one line).
"""

from __future__ import annotations

import click

from server.cli.common import app_context

__all__ = ["claims"]


@click.group()
def claims() -> None:
    """Claims: assess one catastrophe event's crop claims together."""


@claims.command("assess-event")
@click.option(
    "--event", "event_id", required=True, help="The event id the claims carry."
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDR",
    help="A running Dask scheduler (tcp://host:port); default: a local cluster.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes of the local cluster (one thread each).",
)
@click.option(
    "--batch",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Claims written per transaction.",
)
@click.option(
    "--actor", default="system", show_default=True, help="Who assesses (ledger)."
)
@click.pass_context
def assess_event_command(
    ctx: click.Context,
    event_id: str,
    scheduler: str | None,
    workers: int,
    batch: int,
    actor: str,
) -> None:
    """Assess every open crop claim of one event on a Dask cluster."""
    from server.errors import ServiceError
    from server.services.events import assess_event

    app = app_context(ctx)

    def started(dashboard: str | None) -> None:
        if dashboard is not None:
            click.echo(f"Dask dashboard: {dashboard}", err=True)

    def progress(done: int, total: int) -> None:
        # A bar on stderr, redrawn in place: tasks done of all.
        width = 30
        filled = width * done // max(total, 1)
        click.echo(
            f"\rtasks [{'#' * filled}{'-' * (width - filled)}] {done}/{total}",
            err=True,
            nl=done == total,
        )

    try:
        summary = assess_event(
            app,
            event_id,
            actor=actor,
            scheduler=scheduler,
            workers=workers,
            batch=batch,
            progress=progress,
            started=started,
        )
    except ServiceError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"event {event_id}: {summary.claims} open crop claims in {summary.tasks} tasks, "
        f"{summary.seconds:.1f} s"
    )
    click.echo(f"assessed: {len(summary.assessed)}")
    click.echo(f"already assessed on the same pair or decided: {len(summary.already)}")
    click.echo(f"refused: {len(summary.refused)}")
    for claim_id, reason in summary.refused:
        click.echo(f"  {claim_id}: {reason}")
