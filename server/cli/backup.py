"""``agri backup`` and ``agri restore``: the whole database; a restore checked by its ledger."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["backup", "restore"]


class _Refused(click.ClickException):
    exit_code = 2


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file (SQLite: a database file; PostgreSQL: a pg_dump archive).",
)
@click.pass_context
def backup(ctx: click.Context, out: Path) -> None:
    """Copy the configured database to one file, consistent while the server runs.

    The ledger's signing key, the kept photos and the imagery catalogue are not
    in it: keep them apart (docs/operations.md).
    """
    from server.errors import ServiceError
    from server.services.backup import backup as run

    try:
        size = run(ctx.obj["settings"], out)
    except ServiceError as exc:
        raise _Refused(str(exc)) from exc
    click.echo(f"backed up the database to {out} ({size:,} bytes)")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace a database that already holds a ledger."
)
@click.pass_context
def restore(ctx: click.Context, file: Path, force: bool) -> None:
    """Load a backup into the configured database, if its ledger verifies with this key.

    The copy is checked in a scratch database first (every entry re-hashed,
    every signed checkpoint checked, its anchors looked up on the configured
    chain): an altered ledger is refused naming its first bad entry, a copy
    older than the chain's latest anchor is refused, and nothing is written.
    Exit 2 on any refusal.
    """
    from server.errors import ServiceError
    from server.services.backup import restore as run

    try:
        done = run(ctx.obj["settings"], file, force=force)
    except ServiceError as exc:
        raise _Refused(str(exc)) from exc
    click.echo(
        f"restored {file}: ledger OK, {done.entries} entries, "
        f"{done.checkpoints} signed checkpoints, "
        f"{done.anchors_checked} anchors found on chain"
    )
    for note in done.notes:
        click.echo(f"note: {note}")
