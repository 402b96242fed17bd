"""Claims and policies as CSV and XLSX, read back cell by cell and compared with the records.

CSV is read with the csv module (after checking the byte order mark and the
CRLF line ends), XLSX with openpyxl (types, number formats, the frozen
header row); both must hold the same columns and the same rows as the
records, headed in the reader's language. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from server.context import AppContext
from server.i18n import render_message
from server.services.exports import (
    CLAIM_COLUMNS,
    POLICY_COLUMNS,
    Column,
    ExportService,
)
from server.storage.claims_store import ClaimRecord
from tests.server.pages_records import crop_claim, crop_policy

CJK = "\u4e00-\u9fff"
FORMULA = '=HYPERLINK("http://x")'


@pytest.fixture
def records(app: AppContext) -> dict[str, Any]:
    """F-5's wheat policy with two claims (one rejected by a decider named like a
    formula), F-6's policy with one claim."""
    _, mine = crop_policy(app, ["AT-0488", "AT-0002"], farmer="F-5")
    _, theirs = crop_policy(app, ["AT-0003"], farmer="F-6", start=date(2021, 5, 1))
    first = crop_claim(app, mine, "AT-0488")
    second = crop_claim(app, mine, "AT-0002", event=date(2021, 7, 2))
    app.claims.decide(second.id, "reject", actor=FORMULA, reason="not a hail loss")
    other = app.claims.file(
        policy_id=theirs,
        farmer_id="F-6",
        subject_kind="plot",
        subject_id="AT-0003",
        event_date=date(2021, 6, 20),
        reported_at=datetime(2021, 6, 21, 3, 30, tzinfo=UTC),
        claimed_fraction=0.5,
        growth_stage="heading",
        event_id="HAIL-2021-06",
        actor="agent",
    )
    return {"policies": [mine, theirs], "claims": [first.id, second.id, other.id]}


def _service(app: AppContext) -> ExportService:
    return ExportService(app.engine, app.settings.resolved_imagery_dir())


def _expected_claim(c: ClaimRecord) -> dict[str, Any]:
    return {
        "claim_id": c.id,
        "policy_id": c.policy_id,
        "farmer_id": c.farmer_id,
        "subject_kind": c.subject_kind,
        "subject_id": c.subject_id,
        "event_id": c.event_id,
        "event_date": c.event_date,
        "reported_at": c.reported_at,
        "status": c.status,
        "light": c.light,
        "amount": Decimal(c.amount.minor) / 100,
        "currency": c.amount.currency,
        "decided_by": c.decided_by,
        "payment_ref": c.payment_ref,
    }


def _from_csv(kind: str, text: str) -> Any:
    """A CSV cell back as the record holds it (``""`` is None; ``'`` guards a formula)."""
    if text == "":
        return None
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "datetime":
        assert text.endswith("Z"), text
        return datetime.fromisoformat(text)
    if kind == "money":
        return Decimal(text)
    if kind == "int":
        return int(text)
    return text[1:] if text.startswith("'=") else text


def read_csv(
    data: bytes, columns: tuple[Column, ...]
) -> tuple[list[str], list[dict[str, Any]]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte order mark"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", ""), "CRLF line ends"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    return header, [
        {c.name: _from_csv(c.kind, v) for c, v in zip(columns, row, strict=True)}
        for row in body
    ]


def read_xlsx(
    data: bytes, columns: tuple[Column, ...], sheet: str
) -> tuple[list[str], list[dict[str, Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book[sheet]
    assert ws.freeze_panes == "A2", "the header row is frozen"
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    assert all(c.font.bold for c in rows[0])
    out = []
    for row in rows[1:]:
        values: dict[str, Any] = {}
        for column, cell in zip(columns, row, strict=True):
            value = cell.value
            if value is None:
                values[column.name] = None
            elif column.kind == "date":
                assert cell.is_date and cell.number_format == "yyyy-mm-dd", cell
                values[column.name] = value.date()
            elif column.kind == "datetime":
                assert cell.is_date, cell
                values[column.name] = value.replace(tzinfo=UTC)
            elif column.kind == "money":
                assert cell.data_type == "n" and cell.number_format == "#,##0.00"
                values[column.name] = Decimal(str(value)).quantize(Decimal("0.01"))
            elif column.kind == "int":
                assert cell.data_type == "n", cell
                values[column.name] = value
            else:
                assert cell.data_type == "s", (column.name, cell.data_type)
                values[column.name] = value
        out.append(values)
    return header, out


def _export(app: AppContext, what: str, fmt: str, lang: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    service = _service(app)
    write = service.write_claims if what == "claims" else service.write_policies
    write(out, fmt, lang, **kw)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_claims_as_csv_and_xlsx_hold_the_records_row_by_row(
    app: AppContext, records: dict[str, Any], lang: str
) -> None:
    want = [_expected_claim(c) for c in app.claims.store.page(limit=50).items]
    assert {w["claim_id"] for w in want} == set(records["claims"])
    names = [render_message(c.header, {}, lang) for c in CLAIM_COLUMNS]
    header, rows = read_csv(_export(app, "claims", "csv", lang), CLAIM_COLUMNS)
    assert header == names
    assert rows == want
    header, rows = read_xlsx(
        _export(app, "claims", "xlsx", lang), CLAIM_COLUMNS, "claims"
    )
    assert header == names
    # Excel keeps times to the millisecond: compare the report times so.
    for r in (rows, want):
        for row in r:
            when = row["reported_at"]
            row["reported_at"] = when.replace(
                microsecond=when.microsecond // 1000 * 1000
            )
    assert rows == want
    if lang == "zh-CN":
        assert all(any(CJK[0] <= ch <= CJK[-1] for ch in n) for n in names), names
        assert names[0] == "理赔编号"
    else:
        assert names[:2] == ["Claim", "Policy"]


def test_a_formula_stays_text(app: AppContext, records: dict[str, Any]) -> None:
    data = _export(app, "claims", "csv", "en")
    assert f"'{FORMULA}".replace('"', '""') in data.decode("utf-8-sig")
    book = openpyxl.load_workbook(io.BytesIO(_export(app, "claims", "xlsx", "en")))
    cells = [c for row in book["claims"].iter_rows() for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" for c in cells)


def test_claims_filters(app: AppContext, records: dict[str, Any]) -> None:
    _, rows = read_csv(
        _export(app, "claims", "csv", "en", status="rejected"), CLAIM_COLUMNS
    )
    assert [r["claim_id"] for r in rows] == [records["claims"][1]]
    _, rows = read_csv(
        _export(app, "claims", "csv", "en", farmer_id="F-6"), CLAIM_COLUMNS
    )
    assert [(r["claim_id"], r["event_id"]) for r in rows] == [
        (records["claims"][2], "HAIL-2021-06")
    ]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_policies_as_csv_and_xlsx_hold_the_records_row_by_row(
    app: AppContext, records: dict[str, Any], lang: str
) -> None:
    policies = app.underwriting.policies(limit=50).items
    assert {p.id for p in policies} == set(records["policies"])
    want = []
    for p in policies:
        premium = {k: Decimal(v) for k, v in p.premium.items()}
        assert (
            sum(premium[k] for k in ("farmer", "central", "provincial", "county"))
            == (premium["total"])
        )
        want.append(
            {
                "policy_id": p.id,
                "farmer_id": p.farmer_id,
                "product": "WHEAT",
                "kind": "crop",
                "start_date": p.start_date,
                "end_date": date(2021, 10, 31),
                "sum_insured": Decimal(p.sum_insured.minor) / 100,
                "premium": premium["total"],
                "premium_farmer": premium["farmer"],
                "premium_central": premium["central"],
                "premium_provincial": premium["provincial"],
                "premium_county": premium["county"],
                "currency": "CNY",
                "plots": len(p.plots),
                "animals": 0,
                "application_id": p.application_id,
            }
        )
    assert sorted(w["plots"] for w in want) == [1, 2]
    names = [render_message(c.header, {}, lang) for c in POLICY_COLUMNS]
    header, rows = read_csv(_export(app, "policies", "csv", lang), POLICY_COLUMNS)
    assert (header, rows) == (names, want)
    header, rows = read_xlsx(
        _export(app, "policies", "xlsx", lang), POLICY_COLUMNS, "policies"
    )
    assert (header, rows) == (names, want)
