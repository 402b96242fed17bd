"""``agri demo`` tells the whole story, and every flag fires for its reason."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from server.cli.demo import FARMS, PASSWORD, closing_hints, run_demo

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_story_runs_and_every_flag_fires(
    tmp_path: Path,
    shared_data: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert run_demo(tmp_path, shared=shared_data) == 0
    # No personal data in the logs of a whole season, at every level: farmers'
    # names and farm positions, passwords, tokens.
    logs = caplog.text
    assert logs  # the libraries and the server did log
    secrets = [PASSWORD, "Bearer ", "access_token"]
    for name, _, lat, lon in FARMS.values():
        secrets += [name, f"{lat}", f"{lon}"]
    leaked = [s for s in secrets if s in logs]
    assert leaked == [], leaked
    out = capsys.readouterr().out
    for line in (
        "-> duplicate: matches",
        "RED   plot_area",
        "RED   double_insurance",
        "a retried payment pays nothing more",
        "tries to pay it at once: refused (not on a public claims notice",
        "posted in the village: 1 claim, objections until 2025-04-23",
        "policy, names masked (L** Jun), objections until",
        "refused (four-eyes rule",
        "RED   duplicate_claim",
        "suspected fraud",
        "RED   photo_reuse",
        "RED   waiting_period",
        "RED   measured_damage",
        "AMBER scene_timing",
        "RED   crop_season",
        "sent for a field survey on",
        "GREEN scene_timing      the scenes of 2015-08-30 and 2015-09-09",
        "GREEN season_baseline   NDVI changed by",
        "the plot as a whole shows no loss beyond the season",
        "OK=True",
        "farmer f-0002 asking for it gets HTTP 403",
        "valid: entry",
    ):
        assert line in out, line
    flags = out.split("Every flag")[1].split("== Try it yourself")[0]
    assert "NO " not in flags and flags.count("yes") == 14
    assert (tmp_path / "receipt.json").exists()
    # One clock: the payment is dated in the story (the day after its claims notice's
    # objection period, 2025-04-16 to 2025-04-23), not on the day the demo ran.
    assert '"timestamp": "2025-04-24T10:00:00.000000Z"' in out
    hints = out.split("== Try it yourself")[1]
    assert f"AGRI_DATA_DIR={tmp_path} .venv/bin/agri serve" in hints
    assert f"AGRI_DATA_DIR={tmp_path} .venv/bin/agri ledger verify" in hints


def test_the_demo_says_what_data_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(tmp_path / "var", shared=tmp_path / "nothing") == 2
    assert "cattle_faces: it is missing" in capsys.readouterr().out


def test_the_closing_hints_name_the_data_dir_the_demo_used() -> None:
    """Copying a hint serves (and verifies) the demo's database, wherever it was."""
    hints = closing_hints(Path("elsewhere/demo"))
    serve = next(h for h in hints if "agri serve" in h)
    verify = next(h for h in hints if "agri ledger verify" in h)
    assert serve.split("#")[0].split() == [
        "AGRI_DATA_DIR=elsewhere/demo",
        ".venv/bin/agri",
        "serve",
    ]
    assert "elsewhere/demo/agri.db" in serve
    assert verify.split() == [
        "AGRI_DATA_DIR=elsewhere/demo",
        ".venv/bin/agri",
        "ledger",
        "verify",
    ]
    # The default, and a folder a shell would split, quoted.
    assert "AGRI_DATA_DIR=var .venv/bin/agri serve" in "\n".join(
        closing_hints(Path("var"))
    )
    assert "AGRI_DATA_DIR='my demo' .venv/bin/agri serve" in "\n".join(
        closing_hints(Path("my demo"))
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_demo_hint_serves_the_demos_database() -> None:
    """`make demo` runs the demo in var/ and its hint serves var/ (not AGRI_DATA_DIR's)."""
    done = subprocess.run(
        ["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, check=True
    )
    recipe = done.stdout.splitlines()
    assert ".venv/bin/agri demo" in recipe  # its --data-dir default: var
    hint = next(line for line in recipe if "make serve" in line)
    assert "AGRI_DATA_DIR=var make serve" in hint and "var/agri.db" in hint
