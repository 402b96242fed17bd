"""``agri notices``: publish, list and print public notices from the command line.

A claim approved through the services; the command publishes its village's
claims notice (on the ledger), lists it in English and Chinese, and writes the
PDF whose QR code opens the notice's public page at the address given. Input
the services refuse is one line naming the option, exit code 2.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from server.cli.main import cli
from server.context import AppContext
from tests.server.test_claims_regressions import animal_claim, insured_herd

TAG = "998230000007001"


@pytest.fixture
def env(app: AppContext, db_url: str, tmp_path: Path, key_file: Path) -> dict[str, str]:
    """F-1 (Liu, Hohhot) with a claim approved today; the environment of ``agri``."""
    today = datetime.now(UTC).date()
    policy = insured_herd(app, today, (TAG,))
    claim = animal_claim(app.claims, policy, TAG, today - timedelta(days=1))
    app.claims.decide(claim.id, "approve", actor="wang.fang", reason="vet seen")
    return {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
        "LC_ALL": "",
        "LC_MESSAGES": "",
        "LANG": "en_US.UTF-8",
    }


def run(env: dict[str, str], *args: str, lang: str | None = None) -> tuple[int, str]:
    environ = env | ({"LANG": lang} if lang else {})
    r = CliRunner().invoke(cli, ["notices", *args], env=environ, obj={})
    return r.exit_code, r.output


def _farm_day(days: int = 0) -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return (today + timedelta(days=days)).isoformat()


def _publish(env: dict[str, str], *extra: str) -> tuple[int, str]:
    return run(
        env,
        "publish",
        "--kind",
        "claims",
        "--region",
        "Hohhot",
        "--from",
        _farm_day(-30),
        "--to",
        _farm_day(),
        "--actor",
        "wang.fang",
        *extra,
    )


def test_publish_list_and_print_a_claims_notice(
    app: AppContext, env: dict[str, str], tmp_path: Path
) -> None:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]
    import zxingcpp

    code, out = _publish(env, "--objection-days", "5")
    assert code == 0, out
    notice_id, kind, region, rows, ends, entry = out.strip().split("\t")
    assert (kind, region, rows) == ("claims", "Hohhot", "1 rows")
    index = int(entry.removeprefix("ledger entry "))
    event = json.loads(app.ledger.store.entry(index).data)
    assert event["type"] == "notice.published" and event["actor"] == "wang.fang"
    assert event["payload"]["notice"] == notice_id
    assert [r["farmer"] for r in event["payload"]["rows"]] == ["L**"]
    assert ends == f"objections until {event['payload']['objection_ends']}"

    code, out = run(env, "list")
    assert code == 0, out
    first, total = out.strip().split("\n")
    assert first.split("\t")[:3] == [
        notice_id,
        "Public notice of the claim list",
        "Hohhot",
    ]
    assert "objections until" in first and "1 rows, 0 objection(s) open" in first
    assert total == "1 notice(s)"
    code, out = run(env, "list", lang="zh_CN.UTF-8")
    assert code == 0 and "理赔公示" in out and "异议受理至" in out, out
    assert run(env, "list", "--kind", "underwriting")[1].strip() == "0 notice(s)"

    pdf = tmp_path / "notice.pdf"
    base = "https://insurer.example/"
    code, out = run(env, "pdf", notice_id, "--out", str(pdf), "--base-url", base)
    assert code == 0, out
    assert out.strip().endswith(f"https://insurer.example/notices/{notice_id}")
    doc = pdfium.PdfDocument(pdf.read_bytes())
    try:
        image = doc[0].render(scale=3).to_pil().convert("RGB")
        text = doc[0].get_textpage().get_text_range()
    finally:
        doc.close()
    assert "Public notice of the claim list" in text  # LANG=en_US
    found = zxingcpp.read_barcodes(image)
    assert [f.text for f in found] == [f"https://insurer.example/notices/{notice_id}"]
    code, _ = run(
        env, "pdf", notice_id, "--out", str(pdf), "--base-url", base, "--lang", "zh-CN"
    )
    assert code == 0
    doc = pdfium.PdfDocument(pdf.read_bytes())
    try:
        assert "理赔公示" in doc[0].get_textpage().get_text_range()
    finally:
        doc.close()


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (("--region", "Nowhere"), "--region:", "nothing to post"),
        (("--to", "2999-01-01"), "--to:", "after today"),
        (("--objection-days", "2"), "--objection-days:", "3 to 30 days"),
    ],
)
def test_publishing_refuses_naming_the_option(
    app: AppContext, env: dict[str, str], args: tuple[str, ...], option: str, words: str
) -> None:
    before = app.ledger.store.size()
    code, out = _publish(env, *args)  # the later option wins
    assert code == 2, out
    assert option in out and words in out, out
    assert app.ledger.store.size() == before  # nothing written


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("ntc_" + "0" * 32, "--base-url", "https://insurer.example/"), "NOTICE_ID:"),
        (("not-a-notice", "--base-url", "https://insurer.example/"), "NOTICE_ID:"),
        (("ntc_" + "0" * 32, "--base-url", "file:///etc/passwd"), "--base-url:"),
    ],
)
def test_printing_refuses_naming_the_option(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], option: str
) -> None:
    out_file = tmp_path / "n.pdf"
    code, out = run(env, "pdf", *args, "--out", str(out_file))
    assert code == 2, out
    assert option in out, out
    assert not out_file.exists() and list(tmp_path.glob(".n.pdf.*")) == []
