"""``agri demo`` tells the whole story, and every flag fires for its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.demo import run_demo


def test_the_demo_story_runs_and_every_flag_fires(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(tmp_path, shared=shared_data) == 0
    out = capsys.readouterr().out
    for line in (
        "-> duplicate: matches",
        "RED   plot_area",
        "RED   double_insurance",
        "a retried payment pays nothing more",
        "refused (four-eyes rule",
        "RED   duplicate_claim",
        "suspected fraud",
        "RED   photo_reuse",
        "RED   waiting_period",
        "RED   measured_damage",
        "AMBER scene_timing",
        "sent for a field survey on",
        "OK=True",
        "farmer f-0002 asking for it gets HTTP 403",
        "valid: entry",
    ):
        assert line in out, line
    flags = out.split("Every flag")[1].split("== Try it yourself")[0]
    assert "NO " not in flags and flags.count("yes") == 13
    assert (tmp_path / "receipt.json").exists()


def test_the_demo_says_what_data_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(tmp_path / "var", shared=tmp_path / "nothing") == 2
    assert "cattle_faces: it is missing" in capsys.readouterr().out
