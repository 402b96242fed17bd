"""``agri report``: the portfolio and checks in the terminal (the shell's locale) and as CSV.

A small crop portfolio (two regions, two months, claims approved, paid and
rejected) built through the services; the CSV must hold the service's
figures, the tables the same figures in the locale's words and numbers.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli.main import cli
from server.cli.reports import number_locale, render_table, width
from server.context import AppContext
from server.services.access import Viewer
from server.services.reports import ReportService
from tests.server.test_reports import _crop_application
from underwriting import CropProduct, Money

ADMIN = Viewer("admin")


@pytest.fixture
def env(app: AppContext, db_url: str, tmp_path: Path, key_file: Path) -> dict[str, str]:
    """A crop portfolio in ``app``'s database, and the environment of ``agri`` on it."""
    uw, cl = app.underwriting, app.claims
    uw.register_farmer("F-5", "Gruber", "Upper Austria", actor="admin")
    uw.register_farmer("F-6", "Huber", "Lower Austria", actor="admin")
    uw.add_product(
        CropProduct("WHEAT", Money.parse("1234.5"), "mu", Decimal("0.06")),
        actor="admin",
    )
    first = _crop_application(app, "F-5", ["AT-0488"], date(2021, 4, 1), 1.0)
    policy = uw.decide(first, "approve", actor="zhang").policy_id or ""
    second = _crop_application(
        app, "F-6", ["AT-0002", "AT-0003"], date(2021, 6, 1), 1.5
    )
    uw.decide(second, "approve", actor="zhang", reason="measured on the map")
    for day in (date(2021, 6, 20), date(2021, 7, 2)):
        claim = cl.file(
            policy_id=policy,
            farmer_id="F-5",
            subject_kind="plot",
            subject_id="AT-0488",
            event_date=day,
            reported_at=datetime(day.year, day.month, day.day + 1, tzinfo=UTC),
            claimed_fraction=0.3,
            actor="li",
        )
    cl.decide(claim.id, "reject", actor="wang", reason="the same hail again")
    return {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
        "LC_ALL": "",
        "LC_MESSAGES": "",
        "LC_NUMERIC": "",
        "LANG": "en_US.UTF-8",
    }


def run(env: dict[str, str], *args: str, lang: str | None = None) -> tuple[int, str]:
    environ = env | ({"LANG": lang} if lang else {})
    r = CliRunner().invoke(cli, ["report", *args], env=environ, obj={})
    return r.exit_code, r.output


def test_csv_holds_the_services_figures(app: AppContext, env: dict[str, str]) -> None:
    code, out = run(env, "portfolio", "--by", "region,month", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    report = ReportService(app.engine).portfolio(ADMIN, by="region,month")
    # F-5: its policy (April) and two claims (June, July); F-6: its policy (June)
    assert len(rows) == report.total == 4
    for row, line in zip(rows, report.items, strict=True):
        assert (row["region"], row["month"], row["currency"]) == (
            line.keys["region"],
            line.keys["month"],
            line.currency,
        )
        assert int(row["premium_minor"]) == line.premium_minor
        assert int(row["sum_insured_minor"]) == line.sum_insured_minor
        assert int(row["claims"]) == line.claims
        assert row["loss_ratio"] == (
            "" if line.loss_ratio is None else str(line.loss_ratio)
        )
    assert sum(int(r["policies"]) for r in rows) == 2
    assert sum(int(r["claims"]) for r in rows) == 2
    # The same in any locale: CSV is for machines.
    assert (
        run(
            env,
            "portfolio",
            "--by",
            "region,month",
            "--format",
            "csv",
            lang="zh_CN.UTF-8",
        )[1]
        == out
    )


def test_a_table_in_english(app: AppContext, env: dict[str, str]) -> None:
    code, out = run(env, "portfolio", "--by", "region,peril,month")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["County", "/", "region"]
    assert "Loss ratio" in lines[0] and "Premium" in lines[0]
    assert set(lines[1]) <= {"-", " "}
    total = ReportService(app.engine).portfolio(ADMIN).totals[0]
    premium = f"{Decimal(total.premium_minor).scaleb(-2):,.2f}"
    assert any(x.startswith("Total") and premium in x for x in lines), out
    assert "Jun 2021" in out and "Jul 2021" in out and "crop loss" in out
    # Right-aligned to the last column: every line ends in the same column.
    assert len({width(x) for x in lines if not set(x) <= {"-", " "}}) == 1


def test_a_table_in_chinese_keeps_its_columns(env: dict[str, str]) -> None:
    code, out = run(env, "portfolio", "--by", "region,month", lang="zh_CN.UTF-8")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("区县") and "赔付率" in lines[0]
    assert "2021年6月" in out and "合计" in out
    assert len({width(x) for x in lines}) == 1, out


def test_numbers_follow_the_shells_locale(env: dict[str, str]) -> None:
    code, out = run(env, "portfolio", lang="de_DE.UTF-8")
    assert code == 0, out
    money = out.splitlines()[2].split()[2]  # currency, policies, premium
    assert "," in money and money.endswith(money[-2:]) and money[-3] == ","
    assert number_locale({"LANG": "de_DE.UTF-8"}).language == "de"
    assert str(number_locale({"LANG": "C.UTF-8"})) == "en_US"
    assert (
        str(number_locale({"LC_ALL": "zh_CN.UTF-8", "LANG": "de_DE"})) == "zh_Hans_CN"
    )


def test_checks_as_csv_and_as_a_table(app: AppContext, env: dict[str, str]) -> None:
    code, out = run(env, "checks", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    report = ReportService(app.engine).checks(ADMIN)
    assert [(r["family"], r["code"]) for r in rows] == [
        (c.family, c.code) for c in report.checks
    ]
    plot_area = next(r for r in rows if r["code"] == "plot_area")
    assert (plot_area["checked"], plot_area["decided"]) == ("3", "3")
    code, out = run(env, "checks", "--from", "2021-01-01", lang="zh_CN.UTF-8")
    assert code == 0, out
    assert "地块面积" in out and "推翻率" in out and "理赔" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["portfolio", "--by", "region,county"], "by: 'county' is not one of"),
        (
            ["portfolio", "--from", "2025-02-01", "--to", "2025-01-31"],
            "to (2025-01-31) is before",
        ),
        (["checks", "--from", "2025-02-01", "--to", "2025-01-31"], "is before from"),
        (["portfolio", "--from", "2025-13-01"], "'2025-13-01' does not match"),
        (["portfolio", "--format", "xlsx"], "'xlsx' is not one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str], args: list[str], words: str
) -> None:
    code, out = run(env, *args)
    assert code == 2, out
    assert words in out and "Traceback" not in out


def test_render_table_pads_by_display_width() -> None:
    table = render_table(["名称", "n"], [["小麦", "1"], ["wheat", "10"]], [False, True])
    # "wheat" is the widest first cell (5 columns; 小麦 takes 4), "10" the second.
    assert table.splitlines() == ["名称    n", "-----  --", "小麦    1", "wheat  10"]
    assert [width(x) for x in table.splitlines()] == [9, 9, 9, 9]
