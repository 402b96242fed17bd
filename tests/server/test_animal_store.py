"""The registry's templates in SQLite and PostgreSQL: exact round trip, rebuilt at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from livestock import FaceID, Photo, Registry
from livestock.data import scan_folder, split_enrol_query
from livestock.registry import AnimalRecord
from livestock.tags import parse_tag
from server.storage.animal_store import SqlTemplateStore
from server.storage.migrate import upgrade
from server.storage.schema import make_engine
from tests.cattle import sample_animals


@pytest.fixture
def store(db_url: str) -> Iterator[SqlTemplateStore]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield SqlTemplateStore(engine)
    engine.dispose()


def record(tag: str, seed: int) -> AnimalRecord:
    v = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return AnimalRecord(
        parse_tag(tag), "farm-1", "P-1", v / np.linalg.norm(v), 3, (2**64 - 1, 0, 12345)
    )


def test_templates_round_trip_exactly(store: SqlTemplateStore) -> None:
    a, b = record("998230000006455", 1), record("998230000006712", 2)
    store.add(a)
    store.add(b)
    got = store.get(a.tag.value)
    assert got is not None
    assert got.tag == a.tag and (got.farm, got.policy, got.photos) == (
        "farm-1",
        "P-1",
        3,
    )
    assert np.array_equal(got.template, a.template)
    assert got.photo_hashes == a.photo_hashes
    assert [r.tag.value for r in store.all()] == [a.tag.value, b.tag.value]
    assert store.get("998230000000000") is None
    with pytest.raises(IntegrityError):
        store.add(a)


def test_a_restarted_registry_finds_enrolled_animals(
    store: SqlTemplateStore, shared_data: Path
) -> None:
    faceid = FaceID.load()
    held_out = set(sample_animals(shared_data))
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held_out]
    )
    animals = sorted(split.enrol)[:3]
    first = Registry(faceid, store)
    for animal in animals:
        photos = [Photo(c.path.name, c.path) for c in split.enrol[animal]]
        assert first.enrol(animal, photos, farm="farm-1").status == "enrolled"
    restarted = Registry(faceid, SqlTemplateStore(store.engine))
    assert len(restarted) == 3
    animal = animals[0]
    later = [Photo(c.path.name, c.path) for c in split.query[animal][:3]]
    assert restarted.identify(later)[0].tag == animal


def test_a_binding_holds_for_its_own_thread_only(store: SqlTemplateStore) -> None:
    """Requests run in a thread pool: one request's transaction is not another's."""
    import threading

    seen: list[object] = []
    with store.engine.begin() as conn, store.bound(conn):
        store.add(record("276098001234501", 1))
        assert store.get("276098001234501") is not None  # visible in the transaction
        other = threading.Thread(target=lambda: seen.append(store._bound))
        other.start()
        other.join()
    assert seen == [None]
    assert store.get("276098001234501") is not None  # committed with the transaction
