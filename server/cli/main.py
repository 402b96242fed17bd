"""The ``agri`` command line: one entry point, a subcommand group per area.

Data goes to stdout (JSON where machine-readable), logs to stderr. Exit codes:
0 success, 1 verification failed, 2 usage or input error.

Startup stays fast: this module imports only click at the top; settings, the
application context and every library a command needs are imported inside the
command (``agri --help`` loads no settings, database, torch, web3 or GDAL).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from server.cli.common import app_context

if TYPE_CHECKING:
    from server.config import Settings
    from server.context import AppContext

__all__ = ["cli", "main"]

logger = logging.getLogger("agri")


def configure_logging(verbosity: int) -> None:
    """Send logs to stderr at WARNING, INFO (-v) or DEBUG (-vv); -q for errors only."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG
    )
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def _echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


class Fail(click.ClickException):
    """A verification failure: message to stderr, exit code 1."""

    exit_code = 1


class Refused(click.ClickException):
    """Input the command refuses: one line to stderr (``Error: ...``), exit code 2."""

    exit_code = 2


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Agricultural insurance: livestock face ID, plots by map, verifiable ledger."""
    from server.config import Settings

    configure_logging(-1 if quiet else verbose)
    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = Settings()
    except ValueError as exc:
        raise click.UsageError(f"configuration: {exc}") from exc


@cli.group()
def ledger() -> None:
    """The verifiable ledger: append, checkpoint, prove, verify."""


@ledger.command()
@click.argument("name")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for NAME.key (signer) and NAME.pub (verifier).",
)
def keygen(name: str, out_dir: Path) -> None:
    """Generate an Ed25519 checkpoint key named NAME (the log's origin)."""
    from ledger import LedgerError, generate_key
    from server.context import write_keypair

    try:
        signer = generate_key(name)
    except LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    skey, vkey = write_keypair(signer, out_dir)
    _echo_json({"signer_key_file": str(skey), "verifier_key_file": str(vkey)})


@ledger.command()
@click.option(
    "--type", "event_type", required=True, help="Event type, e.g. claim.corrected."
)
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    required=True,
    help="Subject id, as KIND=ID or plain ID (kind 'subject'); repeatable.",
)
@click.option(
    "--payload-file",
    type=click.File("rb"),
    required=True,
    help="JSON object with the event's details ('-' for stdin).",
)
@click.option("--actor", default="operator", show_default=True, help="Who appends.")
@click.pass_context
def append(
    ctx: click.Context,
    event_type: str,
    subjects: tuple[str, ...],
    payload_file: Any,
    actor: str,
) -> None:
    """Append an operator event and print its index."""
    from ledger import Event, LedgerError

    try:
        payload = json.loads(payload_file.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(
            f"not JSON: {exc}", param_hint="--payload-file"
        ) from exc
    subject_map = {}
    for s in subjects:
        kind, sep, value = s.partition("=")
        subject_map[kind if sep else "subject"] = value if sep else s
    try:
        event = Event(
            type=event_type,
            subjects=subject_map,
            actor=actor,
            timestamp=datetime.now(UTC),
            payload=payload,
        )
        data = event.to_canonical_bytes()
    except LedgerError as exc:
        raise click.UsageError(str(exc)) from exc
    app = app_context(ctx)
    (entry,) = app.ledger.append([data])
    click.echo(entry.index)


@ledger.command()
@click.pass_context
def checkpoint(ctx: click.Context) -> None:
    """Sign a checkpoint of the log now, and anchor it."""
    from ledger import LedgerError

    app = app_context(ctx, chain=True)
    try:
        record = app.ledger.checkpoint(anchor=False)
    except LedgerError as exc:
        raise click.UsageError(str(exc)) from exc
    status = app.ledger.anchor_catch_up()
    anchor_rec = app.ledger.store.anchor_for(record.size)
    mined = anchor_rec.receipt() if anchor_rec else None
    _echo_json(
        {
            "tree_size": record.size,
            "root_hash": record.root_hash.hex(),
            "checkpoint": record.note,
            "anchor": mined.to_json() if mined else None,
            "anchor_status": status,
        }
    )


@ledger.command()
@click.pass_context
def anchor(ctx: click.Context) -> None:
    """Anchor the latest checkpoint and re-send pending anchor transactions."""
    app = app_context(ctx, chain=True)
    click.echo(app.ledger.anchor_catch_up())


@ledger.command()
@click.argument("index", type=click.IntRange(min=0))
@click.pass_context
def proof(ctx: click.Context, index: int) -> None:
    """Print the JSON receipt of entry INDEX (signing a checkpoint if needed)."""
    app = app_context(ctx, chain=True)
    try:
        receipt = app.ledger.receipt(index)
    except LookupError as exc:
        raise click.BadParameter(str(exc), param_hint="INDEX") from exc
    _echo_json(receipt.to_json())


@ledger.command("verify-receipt")
@click.argument("receipt_file", type=click.File("rb"))
@click.option(
    "--key",
    "key_file",
    type=click.File("r"),
    required=True,
    help="The log's verifier key file (name+keyid+base64).",
)
def verify_receipt_cmd(receipt_file: Any, key_file: Any) -> None:
    """Check a receipt offline, with no database. Exit 0 valid, 1 invalid."""
    from ledger import LedgerError, NoteVerifier, Receipt, ReceiptError, verify_receipt

    try:
        verifier = NoteVerifier.parse(key_file.read())
    except LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from exc
    try:
        doc = json.loads(receipt_file.read())
        receipt = Receipt.from_json(doc)
        cp = verify_receipt(receipt, [verifier])
    except ValueError as exc:  # ReceiptError and JSON errors are ValueErrors
        reason = str(exc) if isinstance(exc, ReceiptError) else f"not JSON: {exc}"
        raise Fail(f"receipt INVALID: {reason}") from exc
    click.echo(
        f"receipt valid: entry {receipt.index} is in {cp.origin} at size {cp.size}"
    )


@ledger.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Re-hash the whole log and check checkpoints and anchors (fsck).

    Exit 1 with the first bad index when any row was changed, deleted, inserted
    or re-ordered.
    """
    app = app_context(ctx, chain=True)
    report = app.ledger.verify()
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if not report.ok:
        where = (
            f" (first bad index: {report.first_bad_index})"
            if report.first_bad_index is not None
            else ""
        )
        raise Fail(f"ledger INVALID{where}: {report.error}")
    click.echo(
        f"ledger OK: {report.size} entries, {report.checkpoints} checkpoints, "
        f"{report.anchors_checked} anchors checked"
    )


@ledger.command("deploy-anchor")
@click.pass_context
def deploy_anchor(ctx: click.Context) -> None:
    """Deploy the LedgerAnchor contract on AGRI_CHAIN_RPC_URL and print its address."""
    settings: Settings = ctx.obj["settings"]
    if settings.chain_rpc_url is None or settings.chain_key_file is None:
        raise click.UsageError("set AGRI_CHAIN_RPC_URL and AGRI_CHAIN_KEY_FILE first")
    from web3 import Web3

    from ledger import LedgerError
    from ledger.adapters.evm import deploy_anchor_contract

    w3 = Web3(Web3.HTTPProvider(settings.chain_rpc_url.get_secret_value()))
    try:
        address = deploy_anchor_contract(
            w3, settings.chain_key_file.read_text().strip()
        )
    except (LedgerError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(address)


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Bring the configured database to the latest schema.

    Says whether it created the schema on an empty database, upgraded it (from
    which revision) or found it at the latest. A database it cannot reach, open
    or write is one line naming the URL (password masked) and what to do, exit 2.
    """
    said = _Said()
    log = logging.getLogger("server.storage.migrate")
    level, propagate = log.level, log.propagate
    log.addHandler(said)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        app_context(ctx)
    except ConnectionError as exc:  # storage's DatabaseAccessError: one line
        raise Refused(str(exc)) from exc
    except OSError as exc:  # a folder that cannot be made: SQLite's, the key's
        raise Refused(_os_problem(ctx.obj["settings"], exc)) from exc
    finally:
        log.removeHandler(said)
        log.setLevel(level)
        log.propagate = propagate
    for line in said.lines:
        click.echo(line)


class _Said(logging.Handler):
    """Keeps what the migrations said (the storage layer logs what it did)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _os_problem(settings: Settings, exc: OSError) -> str:
    """One line for a folder ``db upgrade`` could not make or write."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        return (
            f"cannot use the database {_masked(url)}: cannot create its folder "
            f"{exc.filename} ({exc.strerror}): make it a folder this user may "
            "write, or set AGRI_DATA_DIR or AGRI_DATABASE_URL"
        )
    return (
        f"cannot write {exc.filename} ({exc.strerror}): AGRI_DATA_DIR must be a "
        "folder this user may write"
    )


def _masked(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API worker processes on the same database (more than one needs a chain "
    "that outlives a process, or anchoring off).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log a line per request (off where a proxy in front logs them).",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, workers: int, access_log: bool
) -> None:
    """Start the HTTP API on the configured database (the demo's by default)."""
    import uvicorn

    from server.http.app import create_app
    from server.services.startup import production_problems

    app = app_context(ctx, chain=True)
    problems = production_problems(app.settings, app.engine)
    if problems:
        raise Refused("production refuses to start: " + "; ".join(problems))
    chain = app.ledger.chain
    if workers > 1 and chain is not None and chain.ephemeral:
        raise Refused(
            f"--workers {workers}: each worker would anchor on a chain of its own (the "
            "in-process test chain): set AGRI_CHAIN_RPC_URL, or AGRI_ANCHOR_ENABLED=false"
        )
    for line in _startup_lines(app, host, port):
        click.echo(line, err=True)
    if workers > 1:
        from server.http.workers import (
            WorkersError,
            reuse_port_supported,
            serve_workers,
        )

        click.echo(f"workers: {workers} processes on this database", err=True)
        app.close()  # each worker builds its own from the same settings
        if reuse_port_supported():  # a socket per worker: connections spread evenly
            try:
                serve_workers(
                    host,
                    port,
                    workers,
                    proxy_headers=True,
                    forwarded_allow_ips=app.settings.forwarded_allow_ips,
                    access_log=access_log,
                )
            except WorkersError as exc:
                raise Refused(str(exc)) from exc
            return
        uvicorn.run(
            "server.http.asgi:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=app.settings.forwarded_allow_ips,
            access_log=access_log,
        )
        return
    uvicorn.run(
        create_app(app),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=app.settings.forwarded_allow_ips,
        access_log=access_log,
    )


def _startup_lines(app: AppContext, host: str, port: int) -> list[str]:
    """What ``serve`` says before it listens: database, ledger, anchoring, folders."""
    settings = app.settings
    chain = app.ledger.chain
    if chain is None:
        anchoring = (
            "off (AGRI_ANCHOR_ENABLED=false): checkpoints are signed, not anchored"
        )
    elif chain.ephemeral:
        anchoring = (
            "on the in-process test chain (development only: its anchors die "
            "with this process)"
        )
    else:
        anchoring = f"on chain {settings.chain_id}, contract {chain.contract}"
    imagery = settings.resolved_imagery_dir()
    return [
        f"database: {app.engine.url.render_as_string(hide_password=True)}",
        f"ledger: {app.ledger.store.size()} entries, checkpoints signed by "
        f"{app.ledger.signer.name} (verifier key: GET /api/v1/ledger/key)",
        f"anchoring: {anchoring}",
        f"photos: {settings.resolved_photo_dir()}; imagery: {imagery}",
        f"serving http://{host}:{port}/ (health: /api/v1/health); "
        f"X-Forwarded-For and X-Forwarded-Proto trusted from "
        f"{settings.forwarded_allow_ips}",
    ]


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var"),
    show_default=True,
    help="Folder for the demo's database and keys (its database is recreated).",
)
def demo(data_dir: Path) -> None:
    """Run the end-to-end story on embedded defaults (SQLite, in-process chain)."""
    from server.cli.demo import run_demo

    sys.exit(run_demo(data_dir))


def _register_map_commands() -> None:
    from server.cli.backup import backup, restore
    from server.cli.claims import claims
    from server.cli.edge import edge
    from server.cli.exports import export
    from server.cli.imagery import imagery
    from server.cli.livestock import livestock
    from server.cli.maps import damage, plots
    from server.cli.notices import notices
    from server.cli.reports import report
    from server.cli.users import users

    cli.add_command(backup)
    cli.add_command(restore)
    cli.add_command(users)
    cli.add_command(plots)
    cli.add_command(damage)
    cli.add_command(livestock)
    cli.add_command(imagery)
    cli.add_command(edge)
    cli.add_command(export)
    cli.add_command(claims)
    cli.add_command(report)
    cli.add_command(notices)


_register_map_commands()


def main() -> None:
    """Console entry point."""
    cli(obj={})
