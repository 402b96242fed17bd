"""The agri CLI: keygen, append, checkpoint, proof, verify-receipt, verify; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from server.cli.main import cli


@pytest.fixture
def env(db_url: str, tmp_path: Path, key_file: Path) -> dict[str, str]:
    return {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }


def run(env: dict[str, str], *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, obj={})


def _append(env: dict[str, str], tmp_path: Path, n: int) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"note": "import"}')
    for i in range(n):
        r = run(
            env,
            "ledger",
            "append",
            "--type",
            "claim.imported",
            "--subject",
            f"claim=C-{i}",
            "--payload-file",
            str(payload),
        )
        assert r.exit_code == 0, r.output
        assert r.output.strip() == str(i)


def test_help_lists_areas() -> None:
    """agri --help lists the subcommand groups."""
    r = CliRunner().invoke(cli, ["--help"], obj={})
    assert r.exit_code == 0
    for group in ("ledger", "db", "demo"):
        assert group in r.output


def test_keygen_writes_note_keys(tmp_path: Path) -> None:
    """keygen writes a signer key and a verifier key in the note format."""
    r = CliRunner().invoke(
        cli, ["ledger", "keygen", "ins.example/log", "--out", str(tmp_path)], obj={}
    )
    assert r.exit_code == 0, r.output
    paths = json.loads(r.output)
    assert (
        Path(paths["signer_key_file"])
        .read_text()
        .startswith("PRIVATE+KEY+ins.example/log+")
    )
    assert Path(paths["verifier_key_file"]).read_text().startswith("ins.example/log+")
    bad = CliRunner().invoke(
        cli, ["ledger", "keygen", "bad name", "--out", str(tmp_path)], obj={}
    )
    assert bad.exit_code == 2


def test_proof_then_offline_verification(
    env: dict[str, str], tmp_path: Path, key_file: Path
) -> None:
    """A receipt from 'proof' verifies with 'verify-receipt'; a forged one exits 1."""
    _append(env, tmp_path, 5)
    r = run(env, "ledger", "proof", "3")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert set(doc) == {
        "index",
        "tree_size",
        "entry",
        "leaf_hash",
        "inclusion_proof",
        "checkpoint",
        "anchor",
    }
    receipt = tmp_path / "receipt.json"
    receipt.write_text(r.output)
    pub = key_file.with_suffix(".pub")
    ok = CliRunner().invoke(
        cli, ["ledger", "verify-receipt", str(receipt), "--key", str(pub)], obj={}
    )
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output
    doc["index"] = 2
    receipt.write_text(json.dumps(doc))
    bad = CliRunner().invoke(
        cli, ["ledger", "verify-receipt", str(receipt), "--key", str(pub)], obj={}
    )
    assert bad.exit_code == 1
    assert "INVALID" in bad.output
    receipt.write_text("{not json")
    worse = CliRunner().invoke(
        cli, ["ledger", "verify-receipt", str(receipt), "--key", str(pub)], obj={}
    )
    assert worse.exit_code == 1
    assert "not JSON" in worse.output


def test_verify_exit_codes(env: dict[str, str], tmp_path: Path, db_url: str) -> None:
    """verify exits 0 on a clean log and 1 naming the first bad index after tampering."""
    _append(env, tmp_path, 6)
    r = run(env, "ledger", "checkpoint")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["tree_size"] == 6
    assert run(env, "ledger", "verify").exit_code == 0
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_entries SET data = :d WHERE idx = 4"), {"d": b"x"}
        )
    engine.dispose()
    r = run(env, "ledger", "verify")
    assert r.exit_code == 1
    assert "first bad index: 4" in r.output


def test_usage_errors_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    """Bad input is a usage error (exit 2) that names the problem; nothing is written."""
    payload = tmp_path / "p.json"
    payload.write_text("[1, 2")
    r = run(
        env,
        "ledger",
        "append",
        "--type",
        "claim.x",
        "--subject",
        "C",
        "--payload-file",
        str(payload),
    )
    assert r.exit_code == 2
    assert "not JSON" in r.output
    payload.write_text("{}")
    r = run(
        env,
        "ledger",
        "append",
        "--type",
        "Claim",
        "--subject",
        "C",
        "--payload-file",
        str(payload),
    )
    assert r.exit_code == 2
    assert "dotted lower case" in r.output
    assert run(env, "ledger", "proof", "0").exit_code == 2
    assert run(env, "ledger", "checkpoint").exit_code == 2  # empty log
