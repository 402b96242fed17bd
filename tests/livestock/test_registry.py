"""The registry on real cows: enrol once, identify, verify, refuse duplicates and reused photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from livestock import (
    FaceID,
    ImageError,
    InMemoryTemplateStore,
    ModelError,
    Photo,
    Registry,
    RegistryError,
    TagError,
    UnknownAnimalError,
)
from livestock.data import split_enrol_query
from livestock.model import DEFAULT_WEIGHTS, WEIGHTS_DIR, load_embedder
from tests.cattle import sample_animals
from tests.livestock.conftest import encode


@pytest.fixture(scope="module")
def faceid() -> FaceID:
    return FaceID.load()


@pytest.fixture(scope="module")
def validation(faceid: FaceID, captures, shared_data: Path):
    """Fifteen cows of the shared set (every 4th tag), split by capture day."""
    held_out = set(sample_animals(shared_data))
    return split_enrol_query([c for c in captures if c.animal in held_out])


def photos(caps, n: int | None = None) -> list[Photo]:
    return [Photo(c.path.name, c.path) for c in caps[:n]]


@pytest.fixture
def registry(faceid: FaceID, validation) -> Registry:
    reg = Registry(faceid, InMemoryTemplateStore())
    for animal in sorted(validation.enrol)[:10]:
        result = reg.enrol(animal, photos(validation.enrol[animal]), farm="farm-1")
        assert result.status == "enrolled", (animal, result)
    return reg


def test_shipped_weights_load_offline_with_their_checksum(faceid: FaceID) -> None:
    m = faceid.manifest
    assert m.embedding_dim == 128
    assert 0 < m.threshold <= m.match_threshold < 1
    assert (m.threshold_far, m.match_threshold_far) == (0.01, 0.001)
    assert len(m.face_prototype) == 1280


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    for f in WEIGHTS_DIR.glob(f"{DEFAULT_WEIGHTS}.*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    weights = tmp_path / f"{DEFAULT_WEIGHTS}.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the manifest"):
        load_embedder(DEFAULT_WEIGHTS, tmp_path)


def test_a_later_photo_identifies_and_verifies_the_animal(
    registry: Registry, validation
) -> None:
    """Three photos of a later day, fused, of cows the model never trained on."""
    animals = sorted(validation.enrol)[:10]
    hits = genuine_higher = 0
    for i, animal in enumerate(animals):
        later = photos(validation.query[animal], 3)
        hits += registry.identify(later)[0].tag == animal
        other = animals[(i + 1) % len(animals)]
        genuine_higher += (
            registry.verify(animal, later).score > registry.verify(other, later).score
        )
    assert hits >= 8
    assert genuine_higher >= 9


def test_the_same_cow_under_another_tag_is_a_duplicate(
    registry: Registry, validation
) -> None:
    animal = sorted(validation.enrol)[0]
    before = len(registry)
    result = registry.enrol(
        "276098001234567", photos(validation.query[animal], 5), farm="farm-2"
    )
    assert result.status in ("duplicate", "needs_review")
    assert result.match is not None and result.match.tag == animal
    assert len(registry) == before


def test_a_reused_photo_is_caught_after_recompression(
    registry: Registry, validation
) -> None:
    animal = sorted(validation.enrol)[1]
    original = validation.enrol[animal][0].path
    img = Image.open(original).convert("RGB")
    copy = encode(
        img.resize((img.width * 3 // 2, img.height * 3 // 2)), "JPEG", quality=50
    )
    result = registry.enrol("276098001234568", [Photo("copy.jpg", copy)], farm="farm-3")
    assert result.status in ("duplicate", "needs_review")
    reused = registry.find_reused(registry.faceid.analyse([Photo("copy.jpg", copy)]))
    assert reused and reused[0].tag == animal


def test_examine_scores_the_claimed_tag_and_everyone_in_one_pass(
    registry: Registry, validation
) -> None:
    animals = sorted(validation.enrol)[:10]
    later = photos(validation.query[animals[2]], 3)
    exam = registry.examine(animals[5], later)
    assert exam.claimed is not None and exam.claimed.tag == animals[5]
    assert exam.candidates[0].score > exam.claimed.score
    assert len(exam.analyses) == 3 and not exam.reused
    assert registry.examine("276098009999999", later).claimed is None


def test_bad_input_stores_nothing(registry: Registry, validation) -> None:
    animal = sorted(validation.enrol)[12]
    good = photos(validation.enrol[animal])
    before = len(registry)
    with pytest.raises(TagError, match="14 digits"):
        registry.enrol("27609800123456", good, farm="f")
    with pytest.raises(ImageError, match=r"broken\.jpg"):
        registry.enrol(
            "276098001234569", [*good, Photo("broken.jpg", b"\xff\xd8\xff")], farm="f"
        )
    blurred = encode(
        Image.open(good[0].data).convert("RGB").filter(ImageFilter.GaussianBlur(5))
    )
    with pytest.raises(
        ImageError, match=r"blur\.jpg: failed the quality gate \(blur\.jpg: blurred"
    ):
        registry.enrol("276098001234569", [*good, Photo("blur.jpg", blurred)], farm="f")
    with pytest.raises(RegistryError, match="already enrolled"):
        registry.enrol(sorted(validation.enrol)[0], good, farm="f")
    with pytest.raises(UnknownAnimalError):
        registry.verify("276098001234560", good)
    assert len(registry) == before


def test_not_a_cow_face_is_refused(faceid: FaceID, shared_data: Path) -> None:
    import rasterio

    with rasterio.open(
        shared_data / "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"
    ) as ds:
        rgb = ds.read((1, 2, 3), window=((0, 200), (0, 100))).astype(np.float64)
    field = Image.fromarray(
        (np.clip(rgb / 2000, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    )
    noise = Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (200, 100, 3), dtype=np.uint8)
    )
    analyses = faceid.analyse_images(["field.png", "noise.png"], [field, noise])
    assert all("not_a_face" in a.quality.reasons for a in analyses)


def test_concurrent_enrolments_of_one_cow_store_one_identity(
    faceid: FaceID, validation
) -> None:
    """Two agents enrol the same cow under two tags at the same moment: one identity."""
    import threading

    reg = Registry(faceid, InMemoryTemplateStore())
    animal = sorted(validation.enrol)[0]
    results = []

    def enrol(tag: str) -> None:
        results.append(reg.enrol(tag, photos(validation.enrol[animal]), farm=tag))

    threads = [
        threading.Thread(target=enrol, args=(t,))
        for t in ("276098001234570", "276098001234571")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["duplicate", "enrolled"]
    assert len(reg) == 1


def test_one_photo_and_a_session_are_judged_by_their_own_thresholds(
    registry: Registry, validation
) -> None:
    m = registry.faceid.manifest
    assert registry.thresholds["photo"] == (m.threshold, m.match_threshold)
    assert registry.thresholds["session"] == (
        m.session_threshold,
        m.session_match_threshold,
    )
    animal = sorted(validation.enrol)[3]
    one = registry.verify(animal, photos(validation.query[animal], 1))
    three = registry.verify(animal, photos(validation.query[animal], 3))
    assert (one.basis, three.basis) == ("photo", "session")
    # the calibrated probability grows with the score on either basis
    for basis in ("photo", "session"):
        low, high = m.probability(0.3, basis), m.probability(0.9, basis)
        assert low is not None and high is not None and 0 < low < high < 1


def test_the_recompressed_enrolment_photo_is_its_own_animal_and_reused(
    registry: Registry, validation
) -> None:
    """A claim that sends the enrolment photo back, resized and re-saved."""
    animal = sorted(validation.enrol)[4]
    img = Image.open(validation.enrol[animal][0].path).convert("RGB")
    copy = encode(
        img.resize((img.width * 3 // 2, img.height * 3 // 2)), "JPEG", quality=60
    )
    exam = registry.examine(animal, [Photo("IMG_0412.jpg", copy)])
    # one photo against a template of twelve is a weak query: ranked first, its
    # score the claimed animal's; the reuse check is what catches the copy
    assert exam.claimed is not None and exam.candidates[0].tag == animal
    assert exam.claimed.score == pytest.approx(exam.candidates[0].score)
    assert [r.tag for r in exam.reused] == [animal]


def test_a_verified_later_session_grows_the_gallery(faceid: FaceID, validation) -> None:
    reg = Registry(faceid, InMemoryTemplateStore())
    a, b = sorted(validation.enrol)[5:7]
    for tag in (a, b):
        assert reg.enrol(tag, photos(validation.enrol[tag]), farm="f").status == (
            "enrolled"
        )
    later = validation.query[a]
    visit = [c for c in later if c.day == later[0].day][:5]
    rest = [c for c in later if c.day != later[0].day] or later[5:]
    before = reg.verify(a, photos(rest, 3)).score
    record, match = reg.add_session(a, photos(visit))
    assert match.decision == "match" and len(record.sessions) == 1
    assert record.gallery.shape == (2, faceid.manifest.embedding_dim)
    assert reg.verify(a, photos(rest, 3)).score >= before
    # the same photos again are copies, and another cow's photos do not verify
    with pytest.raises(RegistryError, match="near-copies"):
        reg.add_session(a, photos(visit))
    with pytest.raises(RegistryError, match="do not match"):
        reg.add_session(a, photos(validation.query[b], 3))
    with pytest.raises(UnknownAnimalError):
        reg.add_session("276098001234599", photos(visit))
    assert len(reg.store.get(a).sessions) == 1  # type: ignore[union-attr]


def test_a_store_that_cannot_grow_refuses_sessions(faceid: FaceID, validation) -> None:
    class Fixed:
        def __init__(self) -> None:
            self.inner = InMemoryTemplateStore()
            self.add, self.get, self.all = (
                self.inner.add,
                self.inner.get,
                self.inner.all,
            )

    reg = Registry(faceid, Fixed())
    tag = sorted(validation.enrol)[7]
    reg.enrol(tag, photos(validation.enrol[tag]), farm="f")
    with pytest.raises(RegistryError, match="cannot add sessions"):
        reg.add_session(tag, photos(validation.query[tag], 2))
