"""Backup and restore of the whole database, a restore checked against the ledger first.

A backup is one file (:mod:`server.storage.backup`). A restore never lands a
copy whose ledger does not verify with this installation's key: the copy is
loaded into a scratch database first (a file beside SQLite's, a scratch
PostgreSQL database), its ledger re-hashed and its signed checkpoints checked
(``agri ledger verify``'s audit), and only then loaded into the real one. An
altered copy is refused, naming the first bad entry; nothing is written.
What a backup does not hold: the ledger's signing key (a secret: keep it
apart), the kept photos and the imagery catalogue (folders: copy them with
the database; docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

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
    """A restore that landed: what its ledger holds."""

    entries: int
    checkpoints: int


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


def _verify(settings: Settings, url: str) -> VerifyReport:
    from server.context import build_context

    app = build_context(
        settings.model_copy(update={"database_url": SecretStr(url)}), chain=False
    )
    try:
        return app.ledger.verify()
    finally:
        app.close()


def restore(settings: Settings, src: Path, *, force: bool = False) -> Restored:
    """Load the copy ``src`` into the database of ``settings``, if its ledger verifies.

    Args:
        settings: the installation (its database and its ledger key).
        src: a file made by :func:`backup`.
        force: replace a database that already holds a ledger.

    Raises:
        RestoreRefusedError: the copy's ledger does not verify (nothing written).
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
            report = _verify(settings, scratch)
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
    return Restored(report.size, report.checkpoints)
