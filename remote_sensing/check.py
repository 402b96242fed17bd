"""The underwriter's plot check: measure, compare with declared, find overlaps."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from remote_sensing.declared import (
    DeclaredSummary,
    Tolerance,
    Verdict,
    compare_declared,
)
from remote_sensing.overlaps import Overlaps, find_overlaps
from remote_sensing.plots import PlotSet, Problem
from remote_sensing.units import (
    M2_PER_HA,
    M2_PER_MU,
    json_area_ha,
    json_area_m2,
    json_area_mu,
    json_number,
)

__all__ = ["OverlapRef", "PlotCheck", "PlotCheckReport", "check_plots"]


@dataclass(frozen=True)
class OverlapRef:
    """One plot this plot overlaps: its id, the overlap in ha, and shares of both."""

    other_id: str
    area_ha: float
    share_of_this: float
    share_of_other: float


@dataclass(frozen=True)
class PlotCheck:
    """One row of the plot check (areas NaN where the plot could not be measured)."""

    plot_id: str
    area_ha: float
    area_mu: float
    perimeter_m: float
    declared_ha: float
    ratio: float
    verdict: Verdict
    problems: tuple[Problem, ...]
    overlaps: tuple[OverlapRef, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null).

        Areas keep the computation's precision: ``area_m2`` to 0.01 m2,
        ``area_ha`` and ``declared_ha`` to 1e-6 ha, ``area_mu`` to 1e-5 mu.
        """
        area_m2 = self.area_ha * M2_PER_HA
        return {
            "plot_id": self.plot_id,
            "area_m2": json_area_m2(area_m2),
            "area_ha": json_area_ha(area_m2),
            "area_mu": json_area_mu(area_m2),
            "perimeter_m": json_number(self.perimeter_m, 2),
            "declared_ha": json_area_ha(self.declared_ha * M2_PER_HA),
            "ratio": json_number(self.ratio, 4),
            "verdict": self.verdict,
            "problems": [
                {"code": p.code, "severity": p.severity, "message": p.message}
                for p in self.problems
            ],
            "overlaps": [
                {
                    "plot_id": o.other_id,
                    "area_m2": json_area_m2(o.area_ha * M2_PER_HA),
                    "area_ha": json_area_ha(o.area_ha * M2_PER_HA),
                    "share_of_this": round(o.share_of_this, 4),
                    "share_of_other": round(o.share_of_other, 4),
                }
                for o in self.overlaps
            ],
        }


@dataclass(frozen=True)
class PlotCheckReport:
    """Every plot's row and a summary of the file."""

    rows: list[PlotCheck]
    declared: DeclaredSummary
    overlaps: Overlaps
    source: str

    def summary(self) -> dict[str, Any]:
        """Counts, shares and notes for the whole file."""
        problems = Counter(
            p.code for r in self.rows for p in r.problems if p.severity != "info"
        )
        fixed = Counter(
            p.code for r in self.rows for p in r.problems if p.severity == "info"
        )
        verdicts = Counter(r.verdict for r in self.rows)
        total = sum(r.area_ha for r in self.rows if math.isfinite(r.area_ha))
        return {
            "source": self.source,
            "plots": len(self.rows),
            "measured": sum(math.isfinite(r.area_ha) for r in self.rows),
            "total_area_ha": json_area_ha(total * M2_PER_HA),
            "verdicts": dict(sorted(verdicts.items())),
            "problems": dict(sorted(problems.items())),
            "fixed": dict(sorted(fixed.items())),
            "compared": self.declared.compared,
            "within_tolerance": self.declared.within,
            "within_share": json_number(self.declared.within_share, 4),
            "median_ratio": json_number(self.declared.median_ratio, 4),
            "p05_ratio": json_number(self.declared.p05_ratio, 4),
            "p95_ratio": json_number(self.declared.p95_ratio, 4),
            "declared_basis": self.declared.basis,
            "note": self.declared.note,
            "overlapping_pairs": len(self.overlaps),
        }


def check_plots(
    plots: PlotSet, *, tolerance: Tolerance | None = None, min_overlap_m2: float = 100.0
) -> PlotCheckReport:
    """Measure each plot, compare declared areas, and find overlaps within the set."""
    declared = compare_declared(plots, tolerance)
    usable = plots.usable
    geoms = plots.geometry.copy()
    geoms[~usable] = None
    overlaps = find_overlaps(
        geoms, min_overlap_m2=min_overlap_m2, areas_m2=plots.area_m2
    )
    refs: list[list[OverlapRef]] = [[] for _ in range(len(plots))]
    for a, b, area, sa, sb in zip(
        overlaps.left.tolist(),
        overlaps.right.tolist(),
        overlaps.area_m2.tolist(),
        overlaps.share_left.tolist(),
        overlaps.share_right.tolist(),
        strict=True,
    ):
        refs[a].append(OverlapRef(plots.ids[b], area / M2_PER_HA, sa, sb))
        refs[b].append(OverlapRef(plots.ids[a], area / M2_PER_HA, sb, sa))
    rows = [
        PlotCheck(
            plot_id=plots.ids[i],
            area_ha=float(plots.area_m2[i]) / M2_PER_HA,
            area_mu=float(plots.area_m2[i]) / M2_PER_MU,
            perimeter_m=float(plots.perimeter_m[i]),
            declared_ha=float(plots.declared_m2[i]) / M2_PER_HA,
            ratio=float(declared.ratio[i]),
            verdict=declared.verdict[i],
            problems=tuple(plots.problems[i]),
            overlaps=tuple(refs[i]),
        )
        for i in range(len(plots))
    ]
    return PlotCheckReport(
        rows=rows, declared=declared, overlaps=overlaps, source=plots.source
    )
