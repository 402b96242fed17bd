"""The benchmark report: results.json, RESULTS.md and a chart per curve, from given results."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.report import Curve, Result, Run, Skipped, chart_name, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _results() -> list[Result]:
    curve = Curve(
        "ledger: inclusion proof time vs log size",
        "log size (entries)",
        "ms",
        {"agri": [(1e3, 0.4), (1e6, 0.5)], "peer": [(1e3, 0.9), (1e6, 400.0)]},
        log_x=True,
        log_y=True,
    )
    return [
        Result(
            "inclusion proof, generate",
            "ms",
            0.5,
            "peer",
            400.0,
            settings="WAL, FULL",
            reference_settings="its default",
            curve=curve,
            group="ledger",
        ),
        Result(
            "appends in batches",
            "/s",
            100_000.0,
            "peer",
            250_000.0,
            higher_is_better=True,
            group="ledger",
        ),
        Result("memory per animal", "B", 520.0, group="livestock"),
    ]


def _run() -> Run:
    return Run(
        date="2026-01-02T03:04:05+00:00",
        command="python -m bench",
        quick=False,
        groups=["ledger", "livestock"],
        machine={"cpu": "test CPU", "cores": 2, "memory_gib": 4.0, "python": "3.11"},
        load_before=(1.0, 0.5, 0.25),
        load_after=(2.0, 1.0, 0.5),
        wall_s={"ledger": 1.0, "livestock": 2.0},
    )


def test_ratio_reads_as_how_many_times_better_ours_is() -> None:
    times, rates, alone = _results()
    assert times.ratio == pytest.approx(800.0)  # 400 ms / 0.5 ms
    assert rates.ratio == pytest.approx(0.4)  # 100k/s over 250k/s
    assert alone.ratio is None


def test_report_writes_json_markdown_and_a_chart(tmp_path: Path) -> None:
    results = _results()
    doc = write_report(tmp_path, _run(), results)

    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == doc
    for key in ("date", "machine", "load_average", "results", "ratio_means", "charts"):
        assert key in on_disk
    assert on_disk["load_average"] == {
        "before": [1.0, 0.5, 0.25],
        "after": [2.0, 1.0, 0.5],
    }
    first = on_disk["results"][0]
    for key in (
        "figure",
        "unit",
        "ours",
        "reference",
        "reference_value",
        "ratio",
        "settings",
        "reference_settings",
        "curve",
    ):
        assert key in first
    assert first["ratio"] == pytest.approx(800.0)
    assert first["curve"]["series"]["peer"] == [[1000.0, 0.9], [1e6, 400.0]]

    chart = tmp_path / chart_name(results[0])
    assert on_disk["charts"] == [chart.name]
    assert chart.read_bytes().startswith(PNG)

    md = (tmp_path / "RESULTS.md").read_text()
    assert "| figure | ours | reference | ratio | settings |" in md
    assert "| inclusion proof, generate | 0.5 ms | peer: 400 ms | 800.00x |" in md
    assert "| appends in batches | 100,000/s | peer: 250,000/s | 0.40x |" in md
    assert "| memory per animal | 520 B | - | - |" in md
    assert f"]({chart.name})" in md
    assert "test CPU" in md
    assert "1.00 0.50 0.25" in md


def test_a_new_report_removes_the_charts_it_no_longer_draws(tmp_path: Path) -> None:
    results = _results()
    write_report(tmp_path, _run(), results)
    old = tmp_path / chart_name(results[0])
    keep = tmp_path / "someone-elses.png"
    keep.write_bytes(PNG)
    write_report(tmp_path, _run(), results[1:])
    assert not old.exists()
    assert keep.exists()
    assert json.loads((tmp_path / "results.json").read_text())["charts"] == []


def test_collector_runs_the_chosen_groups_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = types.ModuleType("bench._good")
    good.run = lambda *, quick: _results()[1:2]  # type: ignore[attr-defined]
    bad = types.ModuleType("bench._bad")

    def fail(*, quick: bool) -> list[Result]:
        raise RuntimeError("no such server")

    bad.run = fail  # type: ignore[attr-defined]
    away = types.ModuleType("bench._away")

    def skip(*, quick: bool) -> list[Result]:
        raise Skipped("no PostGIS server")

    away.run = skip  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench._good", good)
    monkeypatch.setitem(sys.modules, "bench._bad", bad)
    monkeypatch.setitem(sys.modules, "bench._away", away)
    monkeypatch.setattr(
        bench_main,
        "GROUPS",
        {
            "good": ("bench._good", False),
            "absent": ("bench._not_written_yet", True),
            "bad": ("bench._bad", False),
            "away": ("bench._away", False),
        },
    )
    status = bench_main.main(["--quick", "--out", str(tmp_path)])
    assert status == 1
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["groups"] == ["good", "bad", "away"]
    assert doc["quick"] is True
    assert doc["errors"] == {"bad": "RuntimeError: no such server"}
    assert doc["skipped"] == {"away": "no PostGIS server"}
    assert [r["group"] for r in doc["results"]] == ["good"]
    md = (tmp_path / "RESULTS.md").read_text()
    assert "Not measured: RuntimeError: no such server" in md
    assert "Skipped: no PostGIS server" in md

    with pytest.raises(SystemExit, match="unknown group"):
        bench_main.main(["--only", "good,nope", "--out", str(tmp_path)])
