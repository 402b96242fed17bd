"""Which shared cows the behaviour tests enrol."""

from __future__ import annotations

from pathlib import Path

from livestock.data import validation_animals


def sample_animals(shared_data: Path) -> list[str]:
    """Fifteen cows of ``shared_data/cattle_faces``: every 4th tag in sorted order.

    A fixed, documented choice, independent of any model's manifest: the
    tests that use these check behaviour, not accuracy (the shipped model
    trained on every shared cow; its accuracy is reported out-of-fold).
    """
    folder = shared_data / "cattle_faces"
    return validation_animals([p.name for p in folder.iterdir() if p.is_dir()])
