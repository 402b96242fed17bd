"""Evaluation metrics on embeddings whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from livestock.data import Capture, capture_day, split_enrol_query
from livestock.evaluate import evaluate_embeddings, threshold_at_far


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_separable_animals_score_perfectly() -> None:
    rng = np.random.default_rng(0)
    centres = unit(rng.standard_normal((20, 64)))
    enrol = {
        f"a{i}": unit(centres[i] + 0.05 * rng.standard_normal((3, 64)))
        for i in range(20)
    }
    query = {
        f"a{i}": unit(centres[i] + 0.05 * rng.standard_normal((5, 64)))
        for i in range(20)
    }
    m = evaluate_embeddings(enrol, query)
    assert (m.top1, m.top5, m.map) == (1.0, 1.0, 1.0)
    assert m.tar_at_far[1e-2] == 1.0
    assert (m.genuine_queries, m.impostor_queries, m.animals) == (100, 100, 20)


def test_random_embeddings_identify_at_chance() -> None:
    rng = np.random.default_rng(1)
    enrol = {f"a{i}": unit(rng.standard_normal((3, 64))) for i in range(50)}
    query = {f"a{i}": unit(rng.standard_normal((10, 64))) for i in range(50)}
    m = evaluate_embeddings(enrol, query)
    assert m.top1 < 0.1
    assert m.tar_at_far[1e-2] < 0.1


def test_threshold_keeps_false_accepts_within_the_rate() -> None:
    scores = np.linspace(0, 1, 1000)
    t = threshold_at_far(scores, 0.01)
    assert np.mean(scores >= t) <= 0.01
    assert np.mean(scores >= np.nextafter(scores[-11], -1)) > 0.01
    assert threshold_at_far(scores, 0.0) > scores.max()


def test_enrol_on_the_first_day_query_the_others(tmp_path) -> None:
    def cap(animal: str, name: str) -> Capture:
        return Capture(tmp_path / name, animal, capture_day(name))

    caps = [
        cap("a", "20250401090000_x_1.jpg"),
        cap("a", "20250401090000_x_2.jpg"),
        cap("a", "20250402090000_x_3.jpg"),  # second day joins: the first has only 2
        cap("a", "20250410090000_x_4.jpg"),
        cap("a", "331-2-5-3(1).jpg"),  # undated: its own session, last
        cap("b", "20250401090000_y_1.jpg"),
        cap("b", "20250401090000_y_2.jpg"),
        cap("b", "20250401090000_y_3.jpg"),
        cap("b", "20250405090000_y_4.jpg"),
    ]
    split = split_enrol_query(caps)
    assert [c.path.name for c in split.enrol["a"]] == [
        "20250401090000_x_1.jpg",
        "20250401090000_x_2.jpg",
        "20250402090000_x_3.jpg",
    ]
    assert [c.path.name for c in split.query["a"]] == [
        "20250410090000_x_4.jpg",
        "331-2-5-3(1).jpg",
    ]
    assert len(split.enrol["b"]) == 3 and len(split.query["b"]) == 1


def test_nothing_to_evaluate_is_an_error() -> None:
    from livestock import LivestockError

    with pytest.raises(LivestockError, match="no animal"):
        evaluate_embeddings({}, {})
