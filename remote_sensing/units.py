"""Area units: square metres, hectares and mu (亩, the Chinese land unit).

>>> to_ha(25_000.0)
2.5
>>> round(to_mu(10_000.0), 6)
15.0
"""

from __future__ import annotations

import math

__all__ = [
    "AREA_HA_DIGITS",
    "AREA_M2_DIGITS",
    "AREA_MU_DIGITS",
    "M2_PER_HA",
    "M2_PER_MU",
    "json_area_ha",
    "json_area_m2",
    "json_area_mu",
    "json_number",
    "to_ha",
    "to_mu",
]

M2_PER_HA = 10_000.0
"""Square metres in one hectare."""

M2_PER_MU = 10_000.0 / 15.0
"""Square metres in one mu (市亩): 1/15 ha, about 666.67 m2."""


AREA_M2_DIGITS = 2
"""Decimals of an area in m2 in machine-readable output: 0.01 m2, the precision
of the geodesic computation (tables for people may round more)."""

AREA_HA_DIGITS = 6
"""Decimals of an area in ha in machine-readable output: 1e-6 ha = 0.01 m2."""

AREA_MU_DIGITS = 5
"""Decimals of an area in mu in machine-readable output: 1e-5 mu = 0.0067 m2."""


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


def json_area_m2(area_m2: float) -> float | None:
    """An area in m2 for JSON, to 0.01 m2; ``None`` when NaN or infinite.

    >>> json_area_m2(4.6049), json_area_m2(float("nan"))
    (4.6, None)
    """
    return json_number(area_m2, AREA_M2_DIGITS)


def json_area_ha(area_m2: float) -> float | None:
    """An area given in m2, as hectares for JSON to 1e-6 ha (0.01 m2).

    >>> json_area_ha(4.6)
    0.00046
    """
    return json_number(to_ha(area_m2), AREA_HA_DIGITS)


def json_area_mu(area_m2: float) -> float | None:
    """An area given in m2, as mu for JSON to 1e-5 mu (about 0.0067 m2).

    >>> json_area_mu(1_000.0)
    1.5
    """
    return json_number(to_mu(area_m2), AREA_MU_DIGITS)
