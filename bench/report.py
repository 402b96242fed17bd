"""One result shape for every benchmark, and the report written from a run.

Each bench module's ``run(*, quick: bool) -> list[Result]`` prints its side-by-side
table as it goes and returns one :class:`Result` per figure. ``python -m bench``
gathers them and calls :func:`write_report`, which writes

* ``results.json``: every figure (ours, the reference measured in the same run,
  the ratio, the settings of both, curve points), the machine, the date and the
  load average before and after the run;
* ``RESULTS.md``: the same figures as one table per group, charts embedded;
* one PNG chart (matplotlib, Agg) per result that carries a :class:`Curve`.

The ratio always reads the same way: how many times better ours is than the
reference (reference time / our time, or our rate / the reference's rate), so
above 1 ours is faster or smaller, below 1 the reference is.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA = 1
RATIO_MEANS = (
    "how many times better ours is than the reference: reference / ours where lower is "
    "better (times, sizes), ours / reference where higher is better (rates); > 1: ours is better"
)
# Versions recorded with every run: ours and each reference's library.
PACKAGES = (
    "agri-insurance",
    "numpy",
    "SQLAlchemy",
    "pymerkle",
    "shapely",
    "pyproj",
    "rasterio",
    "exactextract",
    "geopandas",
    "rio-tiler",
    "titiler.core",
    "torch",
    "faiss-cpu",
    "onnxruntime",
    "playwright",
    "psycopg",
    "matplotlib",
)


class Skipped(Exception):
    """Raised by a group's ``run`` when what it needs is not there (a server, a tool).

    The collector reports the group as skipped, with this message as the reason,
    and the run still succeeds.
    """


@dataclass(frozen=True)
class Curve:
    """A scaling curve: for each implementation, its (x, y) points.

    ``title`` names the chart (and its file); ``series`` maps a name ("agri",
    "pymerkle 7", ...) to points in x order. Axes are drawn logarithmic where
    the flags say so (sizes spanning decades).
    """

    title: str
    x_label: str
    y_label: str
    series: Mapping[str, Sequence[tuple[float, float]]]
    log_x: bool = False
    log_y: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The curve as JSON-ready values."""
        return {
            "title": self.title,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "log_x": self.log_x,
            "log_y": self.log_y,
            "series": {
                name: [[float(x), float(y)] for x, y in points]
                for name, points in self.series.items()
            },
        }


@dataclass(frozen=True)
class Result:
    """One figure beside its reference, both measured in the same run.

    ``ours`` or ``reference_value`` is None where a side was not measured
    (a figure with no peer, or a peer without such a feature). A goal stands in
    as the reference where the project states one and no library compares
    (``reference="goal"``). ``group`` is set by the collector to the group's name.
    """

    figure: str
    unit: str
    ours: float | None
    reference: str | None = None
    reference_value: float | None = None
    settings: str = ""
    reference_settings: str = ""
    higher_is_better: bool = False
    curve: Curve | None = None
    group: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better ours is (> 1: ours better); None without both sides."""
        if not self.ours or not self.reference_value:
            return None
        if self.higher_is_better:
            return self.ours / self.reference_value
        return self.reference_value / self.ours

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values, the ratio included."""
        return {
            "group": self.group,
            "figure": self.figure,
            "unit": self.unit,
            "ours": self.ours,
            "reference": self.reference,
            "reference_value": self.reference_value,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "settings": self.settings,
            "reference_settings": self.reference_settings,
            "curve": self.curve.to_dict() if self.curve else None,
        }


@dataclass
class Run:
    """What a run adds around its results: when, where, how loaded, what failed."""

    date: str
    command: str
    quick: bool
    groups: list[str]
    machine: dict[str, Any]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_s: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info(packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and the installed versions of ``packages``."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def chart_name(result: Result) -> str:
    """The PNG file name of a result's curve: ``<group>-<curve title or figure>.png``."""
    title = result.curve.title if result.curve and result.curve.title else result.figure
    name = _slug(title)
    group = _slug(result.group or "bench")
    if not name.startswith(group):
        name = f"{group}-{name}"
    return f"{name}.png"


def write_chart(path: Path, result: Result) -> Path:
    """Draw ``result.curve`` (one line per series) to ``path`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result.curve
    if curve is None:
        raise ValueError(f"{result.figure!r} has no curve")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    try:
        for name, points in curve.series.items():
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            ax.plot(xs, ys, marker="o", label=name)
        if curve.log_x:
            ax.set_xscale("log")
        if curve.log_y:
            ax.set_yscale("log")
        ax.set_xlabel(curve.x_label)
        ax.set_ylabel(curve.y_label)
        ax.set_title(curve.title or result.figure, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        # No timestamp in the file: the same figures give the same bytes.
        fig.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for people: three significant digits, thousands separated, its unit."""
    if value is None or not math.isfinite(value):
        return "-" if value is None else str(value)
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:,.1f}"
    elif magnitude >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit.startswith("/") or unit == "%" else f"{text} {unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(run: Run, results: Sequence[Result], charts: Mapping[int, str]) -> str:
    """RESULTS.md: the run's settings, one table per group, then the charts."""
    m = run.machine
    load = "{:.2f} {:.2f} {:.2f}"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{run.command}` on {run.date}"
        + (" (quick sizes: a smoke run, not for comparison)." if run.quick else "."),
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores"
        f" ({m.get('cores_usable')} usable), {m.get('memory_gib')} GiB,"
        f" {m.get('os')}, Python {m.get('python')}.",
        f"Load average (1, 5, 15 min) before the run {load.format(*run.load_before)},"
        f" after it {load.format(*run.load_after)}: figures taken while other work"
        " shared the machine are noisy.",
        "",
        f"Ratio: {RATIO_MEANS}. Every row's reference was measured in the same run."
        " Versions and raw values: [results.json](results.json).",
        "",
    ]
    for group in run.groups:
        rows = [r for r in results if r.group == group]
        error = run.errors.get(group)
        skipped = run.skipped.get(group)
        if not rows and not error and not skipped:
            continue
        wall = run.wall_s.get(group)
        lines.append(f"## {group}" + (f" ({wall:.0f} s)" if wall is not None else ""))
        lines.append("")
        if error:
            lines += [f"Not measured: {error}", ""]
        if skipped:
            lines += [f"Skipped: {skipped}", ""]
        if not rows:
            continue
        lines += [
            "| figure | ours | reference | ratio | settings |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            ref = "-"
            if r.reference:
                ref = f"{r.reference}: {fmt(r.reference_value, r.unit)}"
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
            settings = r.settings
            if r.reference_settings:
                settings += f"; reference: {r.reference_settings}"
            lines.append(
                "| "
                + " | ".join(
                    _cell(c)
                    for c in (r.figure, fmt(r.ours, r.unit), ref, ratio, settings)
                )
                + " |"
            )
        lines.append("")
        for i, r in enumerate(results):
            if r.group == group and i in charts:
                title = r.curve.title if r.curve and r.curve.title else r.figure
                lines += [f"![{_cell(title)}]({charts[i]})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(folder: Path, run: Run, results: Sequence[Result]) -> dict[str, Any]:
    """Write results.json, RESULTS.md and a PNG per curve into ``folder``.

    Charts a previous report in ``folder`` listed and this one does not are
    removed, so the folder holds one run's files. Returns the JSON document.
    """
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "results.json"
    stale: set[str] = set()
    if json_path.is_file():
        try:
            stale = set(json.loads(json_path.read_text()).get("charts", []))
        except (ValueError, AttributeError):
            stale = set()
    charts: dict[int, str] = {}
    for i, r in enumerate(results):
        if r.curve is not None and r.curve.series:
            charts[i] = write_chart(folder / chart_name(r), r).name
    for name in stale - set(charts.values()):
        if name.endswith(".png") and "/" not in name:
            (folder / name).unlink(missing_ok=True)
    doc = {
        "schema": SCHEMA,
        "date": run.date,
        "command": run.command,
        "quick": run.quick,
        "groups": run.groups,
        "machine": run.machine,
        "load_average": {
            "before": [round(x, 2) for x in run.load_before],
            "after": [round(x, 2) for x in run.load_after],
        },
        "wall_s": {k: round(v, 1) for k, v in run.wall_s.items()},
        "errors": run.errors,
        "skipped": run.skipped,
        "ratio_means": RATIO_MEANS,
        "results": [r.to_dict() for r in results],
        "charts": sorted(set(charts.values())),
    }
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    (folder / "RESULTS.md").write_text(markdown(run, results, charts))
    return doc
