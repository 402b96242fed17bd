"""Declared versus measured area: the ratio, a tolerance, a verdict.

The default tolerance is the EU IACS rule for area measurement: a buffer of
1.25 m along the plot's perimeter, at most 1 ha. A percentage can be used
instead (``Tolerance.parse("2%")``).

Registers often declare the planar area in their national projection, which
differs from the geodesic area by up to about 0.2 %. :func:`compare_declared`
detects that (the register's declared areas match the planar areas), says so,
and widens each plot's tolerance by its planar-versus-geodesic difference, so
a projection's distortion is not reported as over-declaration.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from remote_sensing.errors import ParameterError
from remote_sensing.plots import PlotSet

__all__ = ["DeclaredSummary", "Tolerance", "Verdict", "compare_declared"]

Verdict = Literal[
    "within_tolerance", "over_declared", "under_declared", "no_declared_area", "invalid"
]


@dataclass(frozen=True)
class Tolerance:
    """How far a declared area may be from the measured one.

    Attributes:
        buffer_m: IACS buffer width along the perimeter, in m (None for a percentage).
        cap_m2: IACS upper bound on the allowed difference, in m2.
        percent: allowed difference as a percentage of the measured area.
    """

    buffer_m: float | None = 1.25
    cap_m2: float = 10_000.0
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """``iacs`` (1.25 m x perimeter, at most 1 ha), ``iacs:BUFFER_M`` or ``N%``.

        >>> Tolerance.parse("2.5%").percent
        2.5
        >>> Tolerance.parse("iacs").allowed_m2(area_m2=10_000.0, perimeter_m=400.0)
        500.0
        """
        text = text.strip().lower()
        if text == "iacs":
            return cls()
        if m := re.fullmatch(r"iacs:(\d+(?:\.\d+)?)", text):
            return cls(buffer_m=float(m.group(1)))
        if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text):
            return cls(buffer_m=None, percent=float(m.group(1)))
        raise ParameterError(
            f"tolerance {text!r}: use 'iacs', 'iacs:<buffer metres>' or a percentage like '2%'"
        )

    def allowed_m2(self, *, area_m2: float, perimeter_m: float) -> float:
        """The allowed absolute difference in m2 for one plot."""
        if self.percent is not None:
            return area_m2 * self.percent / 100.0
        assert self.buffer_m is not None
        return min(self.buffer_m * perimeter_m, self.cap_m2)

    def describe(self) -> str:
        """The rule in words, for reports."""
        if self.percent is not None:
            return f"{self.percent:g} % of the measured area"
        return f"IACS: {self.buffer_m:g} m x perimeter, at most {self.cap_m2 / 10_000:g} ha"


@dataclass(frozen=True)
class DeclaredSummary:
    """Declared-versus-measured results for a whole plot set.

    Attributes:
        ratio: declared / geodesic area per plot (NaN where not comparable).
        verdict: one :data:`Verdict` per plot.
        allowed_m2: the allowed difference per plot, in m2.
        basis: ``geodesic``, or ``planar EPSG:xxxx`` when the declared areas are
            the register's planar areas.
        note: a sentence for people about how declared areas were compared.
        compared: plots with a declared area and no error.
        within: of those, how many are within tolerance.
        median_ratio, p05_ratio, p95_ratio: the ratio's distribution (NaN if none).
    """

    ratio: npt.NDArray[np.float64]
    verdict: list[Verdict]
    allowed_m2: npt.NDArray[np.float64]
    basis: str
    note: str
    compared: int
    within: int
    median_ratio: float
    p05_ratio: float
    p95_ratio: float

    @property
    def within_share(self) -> float:
        """Share of compared plots within tolerance (NaN when none were compared)."""
        return self.within / self.compared if self.compared else math.nan


def compare_declared(
    plots: PlotSet, tolerance: Tolerance | None = None
) -> DeclaredSummary:
    """Compare each plot's declared area with its geodesic area."""
    tolerance = tolerance or Tolerance()
    n = len(plots)
    measured = plots.area_m2
    declared = plots.declared_m2
    errors = np.array([plots.has_error(i) for i in range(n)], dtype=bool)
    comparable = (
        np.isfinite(declared) & np.isfinite(measured) & ~errors & (measured > 0)
    )
    ratio = np.full(n, np.nan)
    ratio[comparable] = declared[comparable] / measured[comparable]

    basis, note, widen = _declared_basis(plots, comparable)
    allowed = np.full(n, np.nan)
    verdicts: list[Verdict] = []
    for i in range(n):
        if errors[i] or not np.isfinite(measured[i]):
            verdicts.append("invalid")
            continue
        allowed[i] = (
            tolerance.allowed_m2(
                area_m2=float(measured[i]), perimeter_m=float(plots.perimeter_m[i])
            )
            + widen[i]
        )
        if not comparable[i]:
            verdicts.append("no_declared_area")
        elif abs(declared[i] - measured[i]) <= allowed[i]:
            verdicts.append("within_tolerance")
        elif declared[i] > measured[i]:
            verdicts.append("over_declared")
        else:
            verdicts.append("under_declared")
    compared = int(comparable.sum())
    within = sum(v == "within_tolerance" for v in verdicts)
    r = ratio[comparable]
    q = np.percentile(r, [50, 5, 95]) if compared else np.full(3, np.nan)
    return DeclaredSummary(
        ratio=ratio,
        verdict=verdicts,
        allowed_m2=allowed,
        basis=basis,
        note=note + f" Tolerance: {tolerance.describe()}.",
        compared=compared,
        within=within,
        median_ratio=float(q[0]),
        p05_ratio=float(q[1]),
        p95_ratio=float(q[2]),
    )


def _declared_basis(
    plots: PlotSet, comparable: npt.NDArray[np.bool_]
) -> tuple[str, str, npt.NDArray[np.float64]]:
    """Detect whether declared areas are the register's planar areas."""
    n = len(plots)
    zero = np.zeros(n)
    if not comparable.any():
        return "geodesic", "No declared areas to compare.", zero
    planar_ok = comparable & np.isfinite(plots.planar_m2)
    if planar_ok.sum() >= max(3, comparable.sum() // 2):
        declared = plots.declared_m2[planar_ok]
        vs_planar = np.median(np.abs(declared / plots.planar_m2[planar_ok] - 1))
        vs_geodesic = np.median(np.abs(declared / plots.area_m2[planar_ok] - 1))
        if vs_planar < 5e-4 and vs_planar < vs_geodesic:
            code = plots.source_crs.to_epsg()
            name = f"EPSG:{code}" if code else plots.source_crs.name
            diff = (plots.planar_m2 - plots.area_m2) / plots.area_m2 * 100
            d = diff[planar_ok]
            note = (
                f"Declared areas are planar areas in {name} (median |declared/planar - 1| = "
                f"{vs_planar * 100:.3f} %); geodesic areas differ from planar by "
                f"{np.median(d):+.3f} % (median; {d.min():+.3f} % to {d.max():+.3f} %), "
                "so each plot's tolerance is widened by that difference."
            )
            widen = np.where(
                np.isfinite(plots.planar_m2),
                np.abs(plots.planar_m2 - plots.area_m2),
                0.0,
            )
            return f"planar {name}", note, widen
    return (
        "geodesic",
        "Declared areas are compared with geodesic (ellipsoidal) areas.",
        zero,
    )
