"""Which shared cows the behaviour tests enrol."""

from __future__ import annotations

from pathlib import Path

from livestock.data import validation_animals


def sample_animals(shared_data: Path) -> list[str]:
    """Fifteen cows of ``shared_data/cattle_faces``: every 4th tag in sorted order.

    A fixed, documented choice. The shipped model trained on every shared cow,
    so tests that use these check behaviour; accuracy on unseen cows is the
    out-of-fold report's (``agri livestock train``), not a test's.
    """
    folder = shared_data / "cattle_faces"
    return validation_animals([p.name for p in folder.iterdir() if p.is_dir()])
