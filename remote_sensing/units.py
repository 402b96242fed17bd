"""Area units: square metres, hectares and mu (亩, the Chinese land unit).

>>> to_ha(25_000.0)
2.5
>>> round(to_mu(10_000.0), 6)
15.0
"""

from __future__ import annotations

__all__ = ["M2_PER_HA", "M2_PER_MU", "to_ha", "to_mu"]

M2_PER_HA = 10_000.0
"""Square metres in one hectare."""

M2_PER_MU = 10_000.0 / 15.0
"""Square metres in one mu (市亩): 1/15 ha, about 666.67 m2."""


def to_ha(area_m2: float) -> float:
    """Convert an area from m2 to hectares."""
    return area_m2 / M2_PER_HA


def to_mu(area_m2: float) -> float:
    """Convert an area from m2 to mu (1 mu = 10000/15 m2)."""
    return area_m2 / M2_PER_MU
