"""agri livestock evaluate keeps its keys and intervals; agri livestock train (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli.main import cli


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={})


def subset(
    shared_data: Path, tmp_path: Path, n: int, source: str = "cattle_faces"
) -> Path:
    """The first ``n`` animals of a shared set, linked into a folder of the set's name."""
    folder = tmp_path / f"first-{n}" / source
    folder.mkdir(parents=True)
    for animal in sorted(p for p in (shared_data / source).iterdir())[:n]:
        (folder / animal.name).symlink_to(animal)
    return folder


def test_evaluate_json_keeps_its_keys_for_photos_and_sessions(
    shared_data: Path, tmp_path: Path
) -> None:
    keys = {
        "top1",
        "top5",
        "map",
        "tar_at_far_1e-2",
        "tar_at_far_1e-3",
        "genuine_queries",
        "impostor_queries",
    }
    r = run(
        "livestock",
        "evaluate",
        subset(shared_data, tmp_path, 6),
        "--fuse",
        "--no-reference",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) >= keys | {"top1_ci95"} and set(doc["fused_sessions"]) >= keys
    assert doc["animals"] == 6
    low, high = doc["top1_ci95"]
    assert 0 <= low <= doc["top1"] <= high <= 1
    # 6 cows give fewer than 1,000 impostor trials: FAR 0.1 % is not measured
    assert doc["impostor_queries"] < 1000 and doc["tar_at_far_1e-3"] is None
    sessions = doc["fused_sessions"]
    assert sessions["genuine_queries"] < doc["genuine_queries"]
    assert doc["decision_threshold_far"] == 0.01


def test_held_out_needs_a_model_that_held_animals_out(
    shared_data: Path, tmp_path: Path
) -> None:
    from livestock import DEFAULT_WEIGHTS, WEIGHTS_DIR

    (tmp_path / f"{DEFAULT_WEIGHTS}.pt").symlink_to(
        WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.pt"
    )
    manifest = json.loads((WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())
    manifest["recipe"].pop("validation_animals", None)  # as for a model trained on all
    (tmp_path / f"{DEFAULT_WEIGHTS}.json").write_text(json.dumps(manifest))
    r = run(
        "livestock",
        "evaluate",
        shared_data / "cattle_faces",
        "--held-out",
        "--weights-dir",
        tmp_path,
    )
    assert r.exit_code == 2
    assert "out-of-fold" in r.output


def test_evaluate_table_with_the_imagenet_reference(
    shared_data: Path, tmp_path: Path
) -> None:
    r = run("livestock", "evaluate", subset(shared_data, tmp_path, 4))
    assert r.exit_code == 0, r.output
    assert "ImageNet backbone (untrained)" in r.stdout
    assert "photo decision threshold" in r.stdout
    # The shipped model trained on these cows: the figures say so, and name it.
    assert "warning: cowface-v2 trained on 4 of the animals" in r.stderr
    assert r.stdout.splitlines()[1].startswith("cowface-v2 ")


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
        subset(shared_data, tmp_path, 8),
        "--out",
        tmp_path / "out",
        "--folds",
        "2",
        "--epochs",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "cowface-v2.pt").is_file()
    assert (tmp_path / "out" / "fold0.json").is_file()
    manifest = json.loads((tmp_path / "out" / "cowface-v2.json").read_text())
    assert manifest["threshold"] > 0
    assert "photo" in manifest["out_of_fold"]


def test_train_refuses_a_fold_outside_the_folds(
    shared_data: Path, tmp_path: Path
) -> None:
    r = run(
        "livestock",
        "train",
        "--data",
        subset(shared_data, tmp_path, 2),
        "--out",
        tmp_path / "out",
        "--folds",
        "2",
        "--only-fold",
        "2",
    )
    assert r.exit_code == 2
    assert "--only-fold takes 0 to 1" in r.output
    assert not (tmp_path / "out").exists()


def test_held_out_impostors_are_only_the_other_farms_cows_the_model_never_saw(
    shared_data: Path, tmp_path: Path
) -> None:
    import click

    from server.cli.livestock import _outside_held_out

    ssfr = subset(shared_data, tmp_path, 3, "cattle_faces_ssfr")
    source = sorted(ssfr.iterdir())
    a, b, c = (f"cattle_faces_ssfr/{p.name}" for p in source)
    recipe = {"trained_on": ["998230000006455", a, b], "validation_animals": [c]}
    view = _outside_held_out(ssfr, recipe)
    assert [p.name for p in view.iterdir()] == [source[2].name]
    # a model that never trained on that farm takes every cow there
    assert _outside_held_out(ssfr, {"trained_on": ["998230000006455"]}) == ssfr
    with pytest.raises(click.UsageError, match="trained on every animal there"):
        _outside_held_out(ssfr, {"trained_on": [a, b, c], "validation_animals": []})


@pytest.mark.slow
def test_train_on_other_farms_cows_reports_them_as_outside_impostors(
    shared_data: Path, tmp_path: Path
) -> None:
    ssfr = subset(shared_data, tmp_path, 40, "cattle_faces_ssfr")
    r = run(
        "livestock",
        "train",
        "--data",
        subset(shared_data, tmp_path, 8),
        "--extra",
        ssfr,
        "--extra",
        shared_data / "cattle_faces_cattely",  # enough impostor trials for FAR 0.1 %
        "--extra-share",
        "0.25",
        "--out",
        tmp_path / "out",
        "--folds",
        "2",
        "--epochs",
        "1",
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "out" / "cowface-v2.json").read_text())
    assert (
        sum(
            a.startswith("cattle_faces_ssfr/") for a in manifest["recipe"]["trained_on"]
        )
        == 40
    )
    outside = manifest["calibration_trials"]["photo"]["impostor_outside"]
    assert outside == 40 + len(list((shared_data / "cattle_faces_cattely").glob("*/*")))
    assert "far_1e-2_outside" in manifest["out_of_fold"]["photo"]


def test_train_refuses_extra_options_that_cannot_work(
    shared_data: Path, tmp_path: Path
) -> None:
    data = subset(shared_data, tmp_path, 2)
    out = tmp_path / "out"
    r = run("livestock", "train", "--data", data, "--out", out, "--extra-share", "0.2")
    assert r.exit_code == 2 and "needs at least one --extra" in r.output
    twin = tmp_path / "elsewhere" / "cattle_faces_ssfr"
    twin.mkdir(parents=True)
    r = run(
        "livestock",
        "train",
        "--data",
        data,
        "--out",
        out,
        "--extra",
        shared_data / "cattle_faces_ssfr",
        "--extra",
        twin,
    )
    assert r.exit_code == 2 and "give each a different name" in r.output
    r = run(
        "livestock", "train", "--data", data, "--out", out, "--oof-only", "--only-final"
    )
    assert r.exit_code == 2 and "--oof-only goes without" in r.output
    ssfr = shared_data / "cattle_faces_ssfr"
    r = run(
        "livestock",
        "train",
        "--data",
        data,
        "--out",
        out,
        "--oof-only",
        "--distractors",
        ssfr,
    )
    assert (
        r.exit_code == 2 and "--distractors calibrates the final manifest" in r.output
    )
    r = run(
        "livestock",
        "train",
        "--data",
        data,
        "--out",
        out,
        "--extra",
        ssfr,
        "--distractors",
        ssfr,
    )
    assert r.exit_code == 2 and "a distractor must be a cow no model saw" in r.output
    r = run("livestock", "train", "--data", data, "--out", out, "--distractors", data)
    assert r.exit_code == 2 and "names the training data" in r.output
    r = run(
        "livestock",
        "train",
        "--data",
        data,
        "--out",
        out,
        "--distractors",
        ssfr,
        "--distractors",
        twin,
    )
    assert r.exit_code == 2 and "give each a different name" in r.output
    assert not out.exists()


@pytest.mark.slow
def test_oof_only_reports_without_a_final_model(
    shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    r = run(
        "livestock",
        "train",
        "--data",
        subset(shared_data, tmp_path, 8),
        "--out",
        out,
        "--folds",
        "2",
        "--epochs",
        "1",
        "--oof-only",
    )
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)) == {"out_of_fold", "seconds"}
    assert (out / "oof.npz").is_file() and not (out / "cowface-v2.pt").exists()
