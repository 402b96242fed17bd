"""The agri CLI: keygen, append, checkpoint, proof, verify-receipt, verify; exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server.cli.main import cli
from server.services.underwriting import UnderwritingService
from tests.server.live import free_port

REPO = Path(__file__).resolve().parents[2]


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


def test_users_add_refuses_a_farmer_not_registered(
    env: dict[str, str], uw: UnderwritingService
) -> None:
    """A farmer user must name a registered farmer: one line naming it, exit 2."""
    env = {**env, "AGRI_NEW_PASSWORD": "correct horse battery"}
    r = run(env, "users", "add", "f404", "--role", "farmer", "--farmer-id", "F-404")
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "F-404" in lines[0] and "not registered" in lines[0]
    r = run(env, "users", "add", "f1", "--role", "farmer", "--farmer-id", "F-1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["role"] == "farmer"
    r = run(env, "users", "add", "agent", "--role", "field_agent")
    assert r.exit_code == 0, r.output


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_serve_passes_port_and_host_to_agri_serve() -> None:
    """`make serve PORT=... HOST=...` reaches `agri serve`; the defaults stay 8000, 127.0.0.1."""

    def dry_run(*args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["make", "-n", "serve", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return done.stdout

    assert "agri serve --host 0.0.0.0 --port 8099" in dry_run(
        "PORT=8099", "HOST=0.0.0.0"
    )
    assert "agri serve --host 127.0.0.1 --port 8000" in dry_run()
    # A HOST or PORT in the environment (zsh's HOST) is not taken: only make's command line.
    env = {**os.environ, "HOST": "somehost", "PORT": "1"}
    assert "agri serve --host 127.0.0.1 --port 8000" in dry_run(env=env)


def test_db_upgrade_says_it_created_the_schema_then_that_it_is_at_the_latest(
    env: dict[str, str],
) -> None:
    """On an empty database: created (with the revision); run again: already there."""
    first = run(env, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("created the schema on the empty database ")
    revision = first.output.strip().rsplit("(revision ", 1)[1].rstrip(")")
    again = run(env, "db", "upgrade")
    assert again.exit_code == 0, again.output
    assert again.output.strip().endswith(
        f"is already at the latest schema (revision {revision})"
    )


@pytest.mark.parametrize("case", ["folder is a file", "file is a folder", "no server"])
def test_db_upgrade_refuses_a_database_it_cannot_use_in_one_line(
    tmp_path: Path, case: str
) -> None:
    """No traceback: one line naming the URL (password masked) and what to do, exit 2."""
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    port = free_port()
    env, expected = {
        "folder is a file": (
            {"AGRI_DATA_DIR": str(tmp_path / "afile" / "var")},
            f"cannot use the database sqlite:///{tmp_path}/afile/var/agri.db: "
            f"cannot create its folder {tmp_path}/afile/var (Not a directory)",
        ),
        "file is a folder": (
            {"AGRI_DATABASE_URL": f"sqlite:///{tmp_path}/adir"},
            f"cannot use the database sqlite:///{tmp_path}/adir: cannot open the "
            f"SQLite file {tmp_path}/adir",
        ),
        "no server": (
            {
                "AGRI_DATABASE_URL": f"postgresql+psycopg://agri:s3cret@127.0.0.1:{port}/agri"
            },
            f"cannot use the database postgresql+psycopg://agri:***@127.0.0.1:{port}"
            f"/agri: no PostgreSQL server answers at 127.0.0.1:{port}",
        ),
    }[case]
    env = {"AGRI_DATA_DIR": str(tmp_path / "var"), **env}
    r = run(env, "db", "upgrade")
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith(f"Error: {expected}"), lines[0]
    assert "s3cret" not in r.output
    assert "AGRI_DATABASE_URL" in lines[0]


def test_every_command_refuses_an_unreachable_database_in_one_line(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_DATABASE_URL": f"postgresql+psycopg://agri:s3cret@127.0.0.1:{port}/agri",
    }
    r = run(env, "ledger", "verify")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "s3cret" not in r.output
    assert f"no PostgreSQL server answers at 127.0.0.1:{port}" in r.output


def test_serve_says_database_ledger_anchoring_and_folders_before_listening(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up lines name the database (password masked) and whether it anchors."""
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    r = CliRunner().invoke(
        cli, ["serve", "--port", "8123"], env=env, obj={}, catch_exceptions=False
    )
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    url = make_url(env["AGRI_DATABASE_URL"])
    assert lines[0] == f"database: {url.render_as_string(hide_password=True)}"
    assert lines[1].startswith("ledger: 0 entries, checkpoints signed by test.example/")
    assert lines[2] == (
        "anchoring: off (AGRI_ANCHOR_ENABLED=false): checkpoints are signed, not "
        "anchored"
    )
    assert lines[3].startswith("photos: ") and "; imagery: " in lines[3]
    assert lines[4].startswith(
        "serving http://127.0.0.1:8123/ (health: /api/v1/health)"
    )
    assert calls == [
        {
            "host": "127.0.0.1",
            "port": 8123,
            "proxy_headers": True,
            "forwarded_allow_ips": "127.0.0.1",
            "access_log": True,
        }
    ]


def test_imagery_register_refuses_bands_the_file_describes_otherwise(
    tmp_path: Path, shared_data: Path
) -> None:
    """The real 13-band Slovenian scene: red=1 is B01, refused (exit 2) naming it."""
    source = str(shared_data / "sentinel2/slovenia/S2_L1C_2015-08-30.tif")
    env = {"AGRI_DATA_DIR": str(tmp_path / "var")}
    args = ["imagery", "register", source, "--name", "s", "--date", "2015-08-30"]
    r = run(env, *args, "--bands", "red=1,green=2,blue=3,nir=4")
    assert r.exit_code == 2, r.output
    assert (
        "Invalid value for --bands: S2_L1C_2015-08-30.tif: band 1 is described B01, "
        "not red (B04); band 2 is described B02, not green (B03); "
    ) in r.output
    assert (
        "the descriptions give red=4,green=3,blue=2,nir=8 (or --ignore-descriptions, "
        "if the descriptions are wrong)"
    ) in r.output
    assert not (tmp_path / "var" / "imagery" / "s.tif").exists()
    forced = run(
        env, *args, "--bands", "red=1,green=2,blue=3,nir=4", "--ignore-descriptions"
    )
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["source_bands"]["red"] == 1

    def register(name: str, bands: str, *more: str, file: str = source) -> Any:
        return run(
            env,
            "imagery",
            "register",
            file,
            "--name",
            name,
            "--date",
            "2015-08-30",
            "--bands",
            bands,
            *more,
        )

    right = register("t", "red=4,green=3,blue=2,nir=8", "--scale", "0.0001")
    assert right.exit_code == 0, right.output
    # With the descriptions ignored, every other check still holds.
    for refused, option in (
        (register("u", "red=4", "--scale", "0", "--ignore-descriptions"), "--scale"),
        (register("t", "red=4", "--ignore-descriptions"), "--name"),  # taken
        (register("no/pe", "red=4", "--ignore-descriptions"), "--name"),
        (register("v", "red=14", "--ignore-descriptions"), "--bands"),  # no band 14
        (
            register(
                "w", "red=1", "--ignore-descriptions", file=str(tmp_path / "none.tif")
            ),
            "FILE",
        ),
    ):
        assert refused.exit_code == 2, refused.output
        assert f"Invalid value for {option}" in refused.output
