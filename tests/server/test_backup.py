"""Backup and restore: one file; a restore lands only a copy whose ledger verifies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.cli.main import cli
from server.config import Settings
from server.context import AppContext, build_context
from server.errors import ConflictError
from server.services.backup import RestoreRefusedError, backup, restore


def _events(app: AppContext, n: int) -> None:
    with app.ledger.transaction() as conn:
        for i in range(n):
            app.ledger.record(conn, "op.test", {"x": str(i)}, "tester", {"i": i})
    app.ledger.checkpoint()


def _size(settings: Settings) -> int:
    app = build_context(settings, chain=False)
    try:
        return app.ledger.verify().size
    finally:
        app.close()


def _alter_entry(url: str, index: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_entries SET leaf_hash = prev_link WHERE idx = :i"),
            {"i": index},
        )
    engine.dispose()


def test_a_backup_restores_and_its_ledger_verifies(
    app: AppContext, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    _events(app, 5)
    out = tmp_path / "backups" / "agri.backup"
    assert backup(app.settings, out) > 0
    _events(app, 3)  # after the backup: a restore brings the ledger back to 5
    with pytest.raises(ConflictError, match="already holds a ledger"):
        restore(app.settings, out)
    done = restore(app.settings, out, force=True)
    assert (done.entries, done.checkpoints) == (5, 1)
    assert _size(app.settings) == 5


def test_a_copy_whose_ledger_was_altered_is_refused_and_nothing_is_written(
    app: AppContext, tmp_path: Path
) -> None:
    _events(app, 6)
    good = tmp_path / "good.backup"
    backup(app.settings, good)
    _alter_entry(app.settings.resolved_database_url(), 3)
    bad = tmp_path / "bad.backup"
    backup(app.settings, bad)
    _events(app, 0)
    restore(app.settings, good, force=True)  # the database is whole again
    with pytest.raises(RestoreRefusedError, match="does not verify at entry 3"):
        restore(app.settings, bad, force=True)
    app2 = build_context(app.settings, chain=False)
    try:
        report = app2.ledger.verify()
    finally:
        app2.close()
    assert report.ok and report.size == 6  # the good copy stayed


def test_a_copy_older_than_the_chains_latest_anchor_is_refused(
    app: AppContext, anchor: InMemoryAnchor, tmp_path: Path
) -> None:
    """Restoring it would drop entries the chain anchors: the restore says so, writes nothing."""
    chain = ChainContext(anchor, ephemeral=False, contract="mem")
    _events(app, 4)  # signed and anchored at size 4
    old = tmp_path / "old.backup"
    backup(app.settings, old)
    done = restore(app.settings, old, force=True, chain=chain)
    assert (done.entries, done.anchors_checked, done.notes) == (4, 1, ())
    _events(app, 3)  # anchored at size 7: the old copy no longer matches the chain
    with pytest.raises(
        RestoreRefusedError,
        match=r"does not verify at entry 4 \(the chain anchors size 7 with a root "
        r"this log does not have",
    ):
        restore(app.settings, old, force=True, chain=chain)
    assert _size(app.settings) == 7  # nothing was written
    # Without a chain to ask, the copy is restored and the restore says what it
    # could not check.
    done = restore(app.settings, old, force=True, chain=False)
    assert done.entries == 4
    assert done.notes == ("anchors not checked: anchoring is disabled",)


def test_the_commands_say_what_they_did_and_refuse_in_one_line(
    tmp_path: Path, key_file: Path
) -> None:
    env = {
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }
    runner = CliRunner()
    payload = tmp_path / "p.json"
    payload.write_text("{}")
    for i in range(3):
        r = runner.invoke(
            cli,
            [
                "ledger",
                "append",
                "--type",
                "op.test",
                "--subject",
                f"x={i}",
                "--payload-file",
                str(payload),
            ],
            env=env,
            obj={},
        )
        assert r.exit_code == 0, r.output
    out = tmp_path / "b.db"
    r = runner.invoke(cli, ["backup", "--out", str(out)], env=env, obj={})
    assert r.exit_code == 0 and "backed up the database" in r.output, r.output
    target = {**env, "AGRI_DATA_DIR": str(tmp_path / "restored")}
    r = runner.invoke(cli, ["restore", str(out)], env=target, obj={})
    assert r.exit_code == 0 and "ledger OK, 3 entries" in r.output, r.output
    r = runner.invoke(cli, ["restore", str(out)], env=target, obj={})
    assert r.exit_code == 2 and "--force" in r.output
    _alter_entry(f"sqlite:///{out}", 1)
    r = runner.invoke(cli, ["restore", str(out), "--force"], env=target, obj={})
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1].startswith("Error: b.db: its ledger")
    assert "at entry 1" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["restore", str(tmp_path / "none.db")], env=target, obj={})
    assert r.exit_code == 2 and "no such file" in r.output
