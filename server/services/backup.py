"""Backup and restore of the whole database, a restore checked against the ledger first.

A backup is one file (:mod:`server.storage.backup`). A restore never lands a
copy whose ledger does not verify with this installation's key: the copy is
loaded into a scratch database first (a file beside SQLite's, a scratch
PostgreSQL database), its ledger re-hashed and its signed checkpoints checked
(``agri ledger verify``'s audit), its anchors looked up on the configured
chain, and only then loaded into the real one. An altered copy is refused,
naming the first bad entry, and so is a copy older than the chain's latest
anchor (the chain anchors a tree the copy does not have: restoring it would
drop anchored entries); nothing is written. With the chain unreachable or
anchoring off, the anchors are not checked and the restore says so.
What a backup does not hold: the ledger's signing key (a secret: keep it
apart), the kept photos and the imagery catalogue (folders: copy them with
the database; docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ledger import AnchorUnavailableError
from server.chain import ChainContext
from server.config import Settings
from server.errors import ConflictError, InvalidInputError
from server.services.ledger import VerifyReport
from server.storage.backup import (
    BackupError,
    dump,
    holds_a_ledger,
    load,
    scratch_database,
)

__all__ = ["RestoreRefusedError", "Restored", "backup", "restore"]


class RestoreRefusedError(ConflictError):
    """The copy's ledger does not verify: it was not restored (the first bad entry named)."""


@dataclass(frozen=True)
class Restored:
    """A restore that landed: what its ledger holds.

    Attributes:
        entries: ledger entries restored.
        checkpoints: signed checkpoints among them.
        anchors_checked: anchor transactions found on the chain.
        notes: what was not checked, and why (e.g. the chain is unreachable).
    """

    entries: int
    checkpoints: int
    anchors_checked: int = 0
    notes: tuple[str, ...] = ()


def backup(settings: Settings, out: Path) -> int:
    """Copy the database of ``settings`` to ``out``; its size in bytes.

    Raises:
        InvalidInputError: the database cannot be read or the file written (field ``out``).
    """
    try:
        dump(settings.resolved_database_url(), out)
    except BackupError as exc:
        raise InvalidInputError(f"backup: {exc}", field="out") from exc
    return out.stat().st_size


def _verify(settings: Settings, url: str, chain: ChainContext | bool) -> VerifyReport:
    from server.context import build_context

    try:
        app = build_context(
            settings.model_copy(update={"database_url": SecretStr(url)}), chain=chain
        )
    except AnchorUnavailableError as exc:  # checked without the chain, and said so
        report = _verify(settings, url, False)
        report.notes.append(f"anchors not checked: {exc}")
        return report
    try:
        return app.ledger.verify()
    finally:
        app.close()


def restore(
    settings: Settings,
    src: Path,
    *,
    force: bool = False,
    chain: ChainContext | bool = True,
) -> Restored:
    """Load the copy ``src`` into the database of ``settings``, if its ledger verifies.

    Args:
        settings: the installation (its database and its ledger key).
        src: a file made by :func:`backup`.
        force: replace a database that already holds a ledger.
        chain: where the copy's anchors are checked: True for the configured
            chain, False for none, or a ready context.

    Raises:
        RestoreRefusedError: the copy's ledger does not verify, or the chain
            anchors a tree it does not have (nothing written).
        ConflictError: the database holds a ledger and ``force`` is not given.
        InvalidInputError: ``src`` is not a copy, or a database cannot be written.
    """
    url = settings.resolved_database_url()
    if not src.is_file():
        raise InvalidInputError(f"restore: {src}: no such file", field="file")
    if not force and holds_a_ledger(url):
        raise ConflictError(
            "the database already holds a ledger: restore with --force to replace it",
            field="force",
        )
    try:
        with scratch_database(url) as scratch:
            load(scratch, src)
            report = _verify(settings, scratch, chain)
        if not report.ok:
            where = (
                f" at entry {report.first_bad_index}"
                if report.first_bad_index is not None
                else ""
            )
            raise RestoreRefusedError(
                f"{src.name}: its ledger does not verify{where} ({report.error}): "
                "not restored",
                field="file",
            )
        load(url, src)
    except BackupError as exc:
        raise InvalidInputError(f"restore: {exc}", field="file") from exc
    return Restored(
        report.size, report.checkpoints, report.anchors_checked, tuple(report.notes)
    )
