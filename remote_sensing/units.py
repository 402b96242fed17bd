"""Area units: square metres, hectares and mu (亩, the Chinese land unit).

>>> to_ha(25_000.0)
2.5
>>> round(to_mu(10_000.0), 6)
15.0
"""

from __future__ import annotations

import math

__all__ = ["M2_PER_HA", "M2_PER_MU", "json_number", "to_ha", "to_mu"]

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


def json_number(value: float, digits: int = 4) -> float | None:
    """``value`` rounded for a JSON report; ``None`` (null) when NaN or infinite.

    >>> json_number(0.123456), json_number(float("nan"))
    (0.1235, None)
    """
    return round(value, digits) if math.isfinite(value) else None
