"""agri livestock evaluate on the held-out animals; agri livestock train (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli.main import cli


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={})


def test_evaluate_held_out_animals_json(shared_data: Path) -> None:
    r = run(
        "livestock",
        "evaluate",
        shared_data / "cattle_faces",
        "--held-out",
        "--no-reference",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) >= {
        "top1",
        "top5",
        "map",
        "tar_at_far_1e-2",
        "tar_at_far_1e-3",
        "genuine_queries",
        "impostor_queries",
    }
    assert doc["animals"] == 15
    assert doc["top5"] >= doc["top1"] > 0.5
    assert doc["decision_threshold_far"] == 0.01


def test_evaluate_table_with_the_imagenet_reference(
    shared_data: Path, tmp_path: Path
) -> None:
    subset = tmp_path / "four"
    subset.mkdir()
    for animal in sorted(p for p in (shared_data / "cattle_faces").iterdir())[:4]:
        (subset / animal.name).symlink_to(animal)
    r = run("livestock", "evaluate", subset)
    assert r.exit_code == 0, r.output
    assert "ImageNet backbone (untrained)" in r.stdout
    assert "decision threshold" in r.stdout


def test_evaluate_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    r = run("livestock", "evaluate", tmp_path, "--no-reference")
    assert r.exit_code == 2
    assert "no animal" in r.output


@pytest.mark.slow
def test_train_reproduces_a_working_model(shared_data: Path, tmp_path: Path) -> None:
    r = run(
        "livestock",
        "train",
        "--data",
        shared_data / "cattle_faces",
        "--out",
        tmp_path,
        "--epochs",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cowface-v1.pt").is_file()
    manifest = json.loads((tmp_path / "cowface-v1.json").read_text())
    assert manifest["threshold"] > 0
