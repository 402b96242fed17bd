"""Which shared cows the behaviour tests enrol."""

from __future__ import annotations

from pathlib import Path

from livestock.data import validation_animals


def sample_animals(shared_data: Path) -> list[str]:
    """Fifteen cows of ``shared_data/cattle_faces``: every 4th tag in sorted order.

    A fixed, documented choice, independent of any model's manifest: the
    tests that use these check behaviour (for cowface-v1 they are the cows it
    held out; a model trained on every cow would have seen them).
    """
    folder = shared_data / "cattle_faces"
    return validation_animals([p.name for p in folder.iterdir() if p.is_dir()])
