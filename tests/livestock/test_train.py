"""Training writes checksummed models that a later run keeps (folds train in separate processes)."""

from __future__ import annotations

import random
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from livestock import LivestockError
from livestock.data import Capture, scan_extra, scan_folder
from livestock.model import load_embedder
from livestock.train import (
    Recipe,
    SubCenterArcFace,
    _batch_hard_triplet,
    _hard_batches,
    _mixed_batches,
    _same_recipe,
    fold_of,
    train_model,
)

TINY = Recipe(epochs=1, batch_size=8, threads=1)


@pytest.fixture(scope="module")
def few(shared_data: Path) -> list[Capture]:
    """Three cows, four photos each (a tiny but real training set)."""
    captures = scan_folder(shared_data / "cattle_faces")
    animals = sorted({c.animal for c in captures})[:3]
    return [c for a in animals for c in [c for c in captures if c.animal == a][:4]]


def test_a_trained_model_loads_by_its_checksum_and_names_what_it_saw(
    few: list[Capture], tmp_path: Path
) -> None:
    animals = sorted({c.animal for c in few})
    weights = train_model(
        few, animals[:2], TINY, tmp_path / "fold0.pt", note="test", log=lambda _: None
    )
    model, manifest = load_embedder("fold0", tmp_path)
    assert manifest.recipe["trained_on"] == animals[:2]
    assert manifest.recipe["validation_animals"] == animals[2:]
    assert manifest.recipe["train_images"] == 8
    assert model.fc.out_features == 128 and weights.is_file()


def test_a_model_of_the_same_recipe_and_animals_is_kept_and_any_change_retrains(
    few: list[Capture], tmp_path: Path
) -> None:
    animals = sorted({c.animal for c in few})
    lines: list[str] = []
    path = tmp_path / "fold0.pt"
    train_model(few, animals[:2], TINY, path, note="test", log=lines.append)
    first = path.read_bytes()
    # another thread count computes the same recipe: kept
    train_model(
        few, animals[:2], replace(TINY, threads=2), path, note="test", log=lines.append
    )
    assert lines[-1] == "fold0.pt: already trained by this recipe, kept"
    assert path.read_bytes() == first
    # other animals, or another recipe: trained again
    for animals_, recipe in ((animals[1:], TINY), (animals[:2], replace(TINY, seed=1))):
        lines.clear()
        train_model(few, animals_, recipe, path, note="test", log=lines.append)
        assert "kept" not in lines[-1]
    # a weights file that no longer matches its manifest is not trusted: retrained
    path.write_bytes(path.read_bytes() + b"\0")
    lines.clear()
    train_model(
        few, animals[:2], replace(TINY, seed=1), path, note="test", log=lines.append
    )
    assert "kept" not in lines[-1]
    load_embedder("fold0", tmp_path)  # the checksum holds again


def test_a_knob_added_later_at_its_default_is_the_same_recipe() -> None:
    saved = asdict(TINY)
    del saved["hard_negative_weight"]  # trained before the knob existed
    assert _same_recipe(TINY, saved)
    assert not _same_recipe(replace(TINY, hard_negative_weight=0.5), saved)
    assert _same_recipe(
        replace(TINY, threads=4), saved
    )  # threads do not change weights


def test_hard_negative_batches_hold_animals_that_look_alike() -> None:
    head = SubCenterArcFace(4, 2 * 4, k=1)
    with torch.no_grad():  # animals 0 and 1 look alike, and so do 2 and 3
        centres = torch.tensor(
            [[1, 0.1, 0, 0], [1, -0.1, 0, 0], [0, 0, 1, 0.1], [0, 0, 1, -0.1]]
        )
        head.weight.copy_(torch.cat([centres, centres]))
    items = [(None, a) for a in range(4) for _ in range(5)]
    recipe = replace(TINY, batch_size=4, hard_classes=2)
    batches = _hard_batches(items, head, 4, recipe, random.Random(0))  # type: ignore[arg-type]
    assert len(batches) == 5
    for batch in batches:
        animals = {items[i][1] for i in batch}
        assert animals in ({0, 1}, {2, 3}) and len(batch) == 4


def test_batch_hard_triplet_is_zero_once_negatives_are_far() -> None:
    e = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0], [1, 0.05], [0, 1], [0.05, 1]]), dim=1
    )
    y = torch.tensor([0, 0, 1, 1])
    assert _batch_hard_triplet(e, y, 0.2).item() == 0
    assert _batch_hard_triplet(e, torch.tensor([0, 1, 0, 1]), 0.2).item() > 0.5


def test_hard_negative_training_runs_and_is_recorded(
    few: list[Capture], tmp_path: Path
) -> None:
    animals = sorted({c.animal for c in few})
    recipe = replace(TINY, hard_negative_weight=0.5, hard_classes=2, batch_size=4)
    train_model(
        few, animals, recipe, tmp_path / "h.pt", note="test", log=lambda _: None
    )
    _, manifest = load_embedder("h", tmp_path)
    assert manifest.recipe["hard_negative_weight"] == 0.5


def test_training_without_photos_of_the_animals_is_a_clear_error(
    few: list[Capture], tmp_path: Path
) -> None:
    with pytest.raises(LivestockError, match="no photos of the 1 training animals"):
        train_model(few, ["998230000000000"], TINY, tmp_path / "x.pt", note="test")
    assert not (tmp_path / "x.pt").exists()


def test_folds_split_animals_not_photos() -> None:
    tags = [f"9982300000{i:05d}" for i in range(60)]
    fold = fold_of(tags, 4)
    assert sorted(fold.values()).count(3) == 15
    assert [t for t in sorted(tags) if fold[t] == 3] == sorted(tags)[3::4]


def test_other_farms_are_split_into_folds_on_their_own_and_leave_the_herds_alone() -> (
    None
):
    tags = [f"9982300000{i:05d}" for i in range(60)]
    outside = [f"cattely/n{i:03d}" for i in range(36)] + [
        f"ssfr/IMG_{i:03d}" for i in range(200)
    ]
    alone, mixed = fold_of(tags, 4), fold_of(tags + outside, 4)
    assert {t: mixed[t] for t in tags} == alone
    for source, count in (("cattely/", 9), ("ssfr/", 50)):
        held = [a for a in outside if a.startswith(source) and mixed[a] == 3]
        assert len(held) == count


def test_a_mixed_batch_keeps_the_herds_share_and_draws_other_farms_by_animal() -> None:
    herd = list(range(10))
    # one outside animal with many near-duplicate frames, nine with one photo each
    extra_of = {100: list(range(10, 60)), **{101 + k: [60 + k] for k in range(9)}}
    batches = _mixed_batches(herd, extra_of, 40, 3, 4, random.Random(0))
    assert len(batches) == 40 and all(len(b) == 4 for b in batches)
    assert all(set(b[:3]) <= set(herd) and b[3] >= 10 for b in batches)
    # every herd photo once per pass (30 = three passes over ten)
    firsts = [i for b in batches[:10] for i in b[:3]]
    assert sorted(firsts) == sorted(herd * 3)
    # drawn animal first: the many-framed animal is about a tenth of the draws
    many = sum(b[3] < 60 for b in batches)
    assert many < 15


def test_mixed_training_runs_and_names_the_other_farms_animals(
    few: list[Capture], shared_data: Path, tmp_path: Path
) -> None:
    outside = scan_extra(shared_data / "cattle_faces_ssfr")[:3]
    assert all(c.animal.startswith("cattle_faces_ssfr/") for c in outside)
    captures = [*few, *outside]
    animals = sorted({c.animal for c in captures})
    recipe = replace(TINY, extra_share=0.25)
    lines: list[str] = []
    train_model(
        captures, animals, recipe, tmp_path / "m.pt", note="t", log=lines.append
    )
    assert "3 of 3 other farms' animals, 25% of each batch" in lines[0]
    assert lines[1] == "batches of 6 herd photos and 2 of other farms' animals"
    lines.clear()
    on_top = replace(recipe, extra_on_top=True)
    train_model(
        captures, animals, on_top, tmp_path / "t.pt", note="t", log=lines.append
    )
    assert lines[1] == "batches of 8 herd photos and 3 of other farms' animals"
    _, manifest = load_embedder("m", tmp_path)
    assert manifest.recipe["extra_share"] == 0.25
    with pytest.raises(LivestockError, match="do not combine"):
        train_model(
            captures,
            animals,
            replace(recipe, hard_negative_weight=1.0),
            tmp_path / "h.pt",
            note="t",
        )
    assert set(manifest.recipe["trained_on"]) == set(animals)


def test_every_photo_is_embedded_by_each_fold_model_once_then_read_back(
    few: list[Capture], tmp_path: Path
) -> None:
    from livestock.train import embed_by_every_fold

    animals = sorted({c.animal for c in few})
    for k, trained in enumerate((animals[1:], animals[:2])):
        train_model(few, trained, TINY, tmp_path / f"fold{k}.pt", note="t", log=print)
    lines: list[str] = []
    first = embed_by_every_fold(few, tmp_path, 2, threads=1, log=lines.append)
    assert first.shape == (2, len(few), 128)
    assert not np.allclose(first[0], first[1])  # two models, two embeddings
    again = embed_by_every_fold(few, tmp_path, 2, threads=1, log=lines.append)
    assert "already embedded" in lines[-1] and np.array_equal(first, again)
    # another fold model: embedded afresh
    train_model(few, animals, TINY, tmp_path / "fold1.pt", note="t", log=print)
    embed_by_every_fold(few, tmp_path, 2, threads=1, log=lines.append)
    assert "photos embedded" in lines[-1]


def test_thresholds_are_fitted_on_galleries_grown_by_cows_no_model_saw(
    few: list[Capture], shared_data: Path, tmp_path: Path
) -> None:
    import json

    from livestock.train import OutOfFold, write_manifest
    from tests.livestock.test_protocol import herd

    animals = sorted({c.animal for c in few})
    for k, trained in enumerate((animals[1:], animals[:2])):
        train_model(few, trained, TINY, tmp_path / f"fold{k}.pt", note="t", log=print)
    weights = train_model(
        few, animals, TINY, tmp_path / "final.pt", note="t", log=print
    )
    # out-of-fold scores of a herd large enough to calibrate FAR 0.1 %
    caps, emb = herd(
        120, noise=0.35, rng=np.random.default_rng(0), later_days=3, frames=5, dim=128
    )
    fold = fold_of([c.animal for c in caps], 2)
    oof = OutOfFold(caps, np.array([fold[c.animal] for c in caps]), emb)
    outside = scan_extra(shared_data / "cattle_faces_ssfr")[:5]
    recipe = replace(TINY, folds=2)
    path = write_manifest(weights, oof, recipe, few, 0, print, outside)
    manifest = json.loads(path.read_text())
    trials = manifest["calibration_trials"]
    assert trials["photo"]["gallery_per_fold"] == [60 + 5, 60 + 5]
    assert trials["session"]["gallery_per_fold"] == [65, 65]
    assert manifest["calibration_distractors"] == ["cattle_faces_ssfr"]
    # a cow a model trained on is no distractor
    with pytest.raises(LivestockError, match="were trained on"):
        write_manifest(weights, oof, recipe, few, 0, print, few[:1])
