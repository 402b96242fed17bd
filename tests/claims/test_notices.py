"""Public notices' pure rules as tables: masking, the document, the objection period, payment.

No database: :mod:`claims.notices` decides what a posted row shows, what the
ledger keeps of a notice, how long objections are taken, and whether a claim
may be paid; the reasons are the catalogues' words in Chinese and English.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import rfc8785

from claims import (
    MAX_OBJECTION_DAYS,
    MIN_OBJECTION_DAYS,
    NOTICE_KINDS,
    ClaimRow,
    NoticeError,
    NoticeStanding,
    UnderwritingRow,
    area_text,
    check_objection_days,
    check_payment,
    check_public_notice,
    mask_id,
    mask_name,
    notice_document,
    objection_ends,
    record_digest,
    short_id,
    tag_tail,
)
from ledger import Event
from server.i18n import render_check

# --- masking -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        # Chinese: the first and last characters, a * for each one between.
        ("刘建军", "刘*军"),
        ("刘军", "刘*"),
        ("欧阳建国", "欧**国"),
        ("司马相如", "司**如"),
        ("刘", "刘"),  # one character: nothing to hide it behind
        ("阿卜杜拉·买买提", "阿******提"),
        # Latin: each word but the last cut to its first letter.
        ("Liu Jun", "L** Jun"),
        ("Maria de la Cruz", "M**** d* l* Cruz"),
        ("O'Brien Sean", "O****** Sean"),
        ("Gruber", "G*****"),  # one word: its first letter only
        ("Jo", "J*"),
        ("  Liu \t  Jun ", "L** Jun"),  # blanks squeezed, ends dropped
        ("", ""),
        ("   ", ""),
        # Mixed scripts in one word: the Chinese rule.
        ("李Lee", "李**e"),
    ],
)
def test_a_name_is_masked(name: str, shown: str) -> None:
    assert mask_name(name) == shown


@pytest.mark.parametrize(("name", "shown"), [("王 芳", "王*"), ("李 建 国", "李*国")])
def test_a_chinese_name_typed_with_spaces_is_masked_as_one(
    name: str, shown: str
) -> None:
    assert mask_name(name) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("F-0001", "F****1"),  # a quarter (1 to 4 characters) kept at each end
        ("F-1", "F*1"),
        ("F-12345678", "F-******78"),
        ("110101199003070011", "1101**********0011"),  # an ID number: 4 and 4
        ("AB", "**"),  # two characters or fewer: masked whole
        ("A", "*"),
        ("", ""),
    ],
)
def test_an_id_keeps_its_ends_only(value: str, shown: str) -> None:
    masked = mask_id(value)
    assert masked == shown
    assert len(masked) == len(value)
    if len(value) > 2:
        assert value not in masked and "*" in masked


@pytest.mark.parametrize(
    ("m2", "mu", "ha"),
    [
        (10_000.0, "15.00", "1.0000"),
        (6666.67, "10.00", "0.6667"),
        (0.0, "0.00", "0.0000"),
        (1234.5678, "1.85", "0.1235"),
    ],
)
def test_an_area_in_mu_and_hectares(m2: float, mu: str, ha: str) -> None:
    assert area_text(m2) == (mu, ha)


def test_records_are_named_by_a_short_id_a_tag_s_tail_and_a_digest() -> None:
    claim = "9b2f0c1a-7d3e-4f55-8a21-0c9e8d7b6a54"
    assert short_id(claim) == "9b2f0c1a"
    assert tag_tail("156010000004321") == "\u20264321"
    assert tag_tail("12") == "\u202612"
    digest = record_digest("claim", claim)
    assert digest == hashlib.sha256(f"claim:{claim}".encode()).hexdigest()
    assert claim not in digest and record_digest("policy", claim) != digest


# --- the document --------------------------------------------------------------------


def _claim_row(**changes: Any) -> ClaimRow:
    row: dict[str, Any] = {
        "farmer": mask_name("刘建军"),
        "farmer_id": mask_id("F-0001"),
        "claim": short_id("9b2f0c1a-7d3e-4f55-8a21-0c9e8d7b6a54"),
        "policy": short_id("5d1e2f3a-0000-4000-8000-000000000001"),
        "subject": "animal",
        "tag": tag_tail("156010000004321"),
        "area_mu": None,
        "area_ha": None,
        "loss_date": "2025-04-13",
        "peril": "animal_death",
        "event": None,
        "assessed_loss": "7600.00",
        "indemnity": "7400.00",
        "amount_minor": 740_000,
        "currency": "CNY",
        "digest": record_digest("claim", "9b2f0c1a-7d3e-4f55-8a21-0c9e8d7b6a54"),
    }
    return ClaimRow(**(row | changes))


def _policy_row() -> UnderwritingRow:
    return UnderwritingRow(
        farmer="L** Jun",
        farmer_id="F****2",
        policy="5d1e2f3a",
        product="WHEAT-2025",
        animals=None,
        area_mu="12.50",
        area_ha="0.8333",
        sum_insured="11250.00",
        premium="675.00",
        farmer_share="135.00",
        currency="CNY",
        digest=record_digest("policy", "5d1e2f3a-0000-4000-8000-000000000001"),
    )


def _document(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "notice_id": "ntc_" + "0" * 32,
        "kind": "claims",
        "region": "呼和浩特市赛罕区",
        "start": date(2025, 4, 1),
        "end": date(2025, 4, 16),
        "published": date(2025, 4, 16),
        "ends": date(2025, 4, 23),
        "rows": [_claim_row(), _claim_row(claim="0c9e8d7b", amount_minor=1)],
    }
    return notice_document(**(args | changes))


def _canonical(doc: dict[str, Any]) -> bytes:
    """The bytes the ledger hashes for a notice published with this document."""
    event = Event(
        "notice.published",
        {"notice": doc["notice"], "region": doc["region"]},
        "wang.fang",
        datetime(2025, 4, 16, 2, tzinfo=UTC),
        doc,
    )
    return event.to_canonical_bytes()


def test_the_document_numbers_its_rows_and_names_no_one_in_full() -> None:
    doc = _document()
    assert list(doc) == [
        "notice",
        "kind",
        "region",
        "period",
        "published",
        "objection_ends",
        "rows",
    ]
    assert doc["period"] == {"start": "2025-04-01", "end": "2025-04-16"}
    assert (doc["published"], doc["objection_ends"]) == ("2025-04-16", "2025-04-23")
    assert [r["row"] for r in doc["rows"]] == [1, 2]
    assert doc["rows"][0] == {"row": 1, **_claim_row().to_json()}
    text = json.dumps(doc, ensure_ascii=False)
    for secret in ("刘建军", "F-0001", "156010000004321", "9b2f0c1a-7d3e"):
        assert secret not in text, secret


def test_the_document_is_canonical_and_stable() -> None:
    """The same notice is the same bytes, whatever order its mappings were built in,
    and those bytes do not change from one release to the next (a posted notice's
    receipt must keep verifying against a document rebuilt from its rows)."""
    doc = _document()
    shuffled = json.loads(json.dumps(doc, sort_keys=True))
    shuffled["rows"] = [dict(reversed(list(r.items()))) for r in shuffled["rows"]]
    assert _canonical(doc) == _canonical(shuffled) == _canonical(_document())
    data = _canonical(doc)
    assert json.loads(data)["payload"] == doc
    assert b" " not in data.split(b'"region"')[0]  # no blanks between tokens
    assert "呼和浩特市赛罕区".encode() in data  # UTF-8, not \\u escapes
    # The document's own RFC 8785 bytes, pinned: a change of its shape or of a
    # rule that fills it (masking, numbering, dates) shows here first.
    assert (
        hashlib.sha256(rfc8785.dumps(doc)).hexdigest()
        == "a7af15758198ac3f721097900df10699108b13394e5119d4118cf3bea0952364"
    )


def test_an_underwriting_document_holds_its_rows_as_posted() -> None:
    doc = _document(
        kind="underwriting",
        rows=[_policy_row()],
        start=date(2025, 3, 1),
        end=date(2025, 3, 31),
    )
    assert doc["kind"] == "underwriting"
    assert doc["rows"] == [{"row": 1, **_policy_row().to_json()}]
    assert doc["rows"][0]["farmer_share"] == "135.00"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "payments"}, r"kind must be one of underwriting, claims"),
        (
            {"start": date(2025, 4, 17)},
            r"the period ends \(2025-04-16\) before it starts \(2025-04-17\)",
        ),
        (
            {"end": date(2025, 4, 17)},
            r"the period ends \(2025-04-17\) after the day of publication",
        ),
        ({"kind": "underwriting"}, r"a underwriting notice holds UnderwritingRows"),
        ({"rows": [_policy_row()]}, r"a claims notice holds ClaimRows only"),
    ],
)
def test_a_document_that_cannot_be_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _document(**changes)


def test_a_notice_may_list_nothing_but_the_service_posts_none_empty() -> None:
    # The rule builds an empty list; publishing refuses one (nothing to post).
    assert _document(rows=[])["rows"] == []
    assert NOTICE_KINDS == ("underwriting", "claims")


# --- the objection period ------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "ok"),
    [
        (MIN_OBJECTION_DAYS - 1, False),
        (MIN_OBJECTION_DAYS, True),
        (7, True),
        (MAX_OBJECTION_DAYS, True),
        (MAX_OBJECTION_DAYS + 1, False),
        (0, False),
        (-7, False),
    ],
)
def test_the_objection_period_is_three_to_thirty_days(days: int, ok: bool) -> None:
    assert (MIN_OBJECTION_DAYS, MAX_OBJECTION_DAYS) == (3, 30)
    if ok:
        check_objection_days(days)
        assert objection_ends(date(2025, 5, 1), days) == date(2025, 5, 1 + days)
    else:
        with pytest.raises(ValueError, match=rf"must be 3 to 30 days, not {days}$"):
            check_objection_days(days)
        with pytest.raises(ValueError, match="3 to 30 days"):
            objection_ends(date(2025, 5, 1), days)


@pytest.mark.parametrize("days", [True, 7.0, "7", None])
def test_the_objection_period_is_a_whole_number_of_days(days: Any) -> None:
    with pytest.raises(ValueError, match="a whole number of days"):
        check_objection_days(days)


@pytest.mark.parametrize(
    ("published", "days", "ends"),
    [
        (date(2025, 5, 1), 7, date(2025, 5, 8)),
        (date(2025, 12, 29), 7, date(2026, 1, 5)),  # across the new year
        (date(2024, 2, 26), 3, date(2024, 2, 29)),  # a leap day
        (date(2025, 1, 31), 30, date(2025, 3, 2)),
    ],
)
def test_the_last_day_of_objections(published: date, days: int, ends: date) -> None:
    assert objection_ends(published, days) == ends


# --- payment -------------------------------------------------------------------------

NOTICE = "ntc_3f0c9a1e5b7d4c2a8e6f1b0d9c7a5e3f"
ENDS = date(2025, 5, 8)


def _standing(**changes: Any) -> NoticeStanding:
    base: dict[str, Any] = {
        "notice": NOTICE,
        "objection_ends": ENDS,
        "noticed_minor": 740_000,
    }
    return NoticeStanding(**(base | changes))


PAYMENT_RULE = [
    # (case, standing, today, amount now, light, message, params, English, Chinese)
    (
        "on no notice",
        None,
        date(2025, 5, 20),
        740_000,
        "red",
        "public_notice.missing",
        {},
        "not on a public claims notice: publish the claims notice of the farmer's "
        "region, then wait out its objection period",
        "未经理赔公示：请先发布农户所在地区的理赔公示，待公示期满",
    ),
    (
        "the indemnity changed since it was posted",
        _standing(),
        date(2025, 5, 20),
        700_000,
        "red",
        "public_notice.changed",
        {"notice": NOTICE, "posted": "7400.00", "amount": "7000.00"},
        f"the indemnity (7000.00) differs from the 7400.00 posted on notice {NOTICE}: "
        "publish a new notice",
        f"赔款（7000.00）与公示 {NOTICE} 所列的 7400.00 不一致：须重新公示",
    ),
    (
        "an objection was upheld (it decides even after the period)",
        _standing(upheld=True, open_objections=1),
        date(2025, 5, 20),
        740_000,
        "red",
        "public_notice.upheld",
        {"notice": NOTICE},
        f"an objection to it on notice {NOTICE} was upheld: once approved again it "
        "needs a new notice",
        f"公示 {NOTICE} 中对其的异议已成立：再次批准后须重新公示",
    ),
    (
        "on the last day of objections",
        _standing(),
        ENDS,
        740_000,
        "red",
        "public_notice.period",
        {"notice": NOTICE, "ends": "2025-05-08"},
        f"on public notice {NOTICE}: objections are taken until 2025-05-08; it is "
        "paid after that day",
        f"公示 {NOTICE} 中：异议受理至 2025-05-08，期满后方可支付",
    ),
    (
        "in the period, an objection open too",
        _standing(open_objections=2),
        date(2025, 5, 2),
        740_000,
        "red",
        "public_notice.period",
        {"notice": NOTICE, "ends": "2025-05-08"},
        f"on public notice {NOTICE}: objections are taken until 2025-05-08; it is "
        "paid after that day",
        f"公示 {NOTICE} 中：异议受理至 2025-05-08，期满后方可支付",
    ),
    (
        "after the period, objections open",
        _standing(open_objections=2),
        date(2025, 5, 9),
        740_000,
        "red",
        "public_notice.objection_open",
        {"notice": NOTICE, "count": 2},
        f"2 objection(s) to it on notice {NOTICE} await a decision",
        f"公示 {NOTICE} 中对其的 2 条异议待处理",
    ),
    (
        "the day after the period, no objection open",
        _standing(),
        date(2025, 5, 9),
        740_000,
        "green",
        "public_notice.cleared",
        {"notice": NOTICE, "ended": "2025-05-08"},
        f"public notice {NOTICE}: the objection period ended on 2025-05-08 with no "
        "objection open",
        f"公示 {NOTICE}：公示期已于 2025-05-08 届满，无未决异议",
    ),
]


@pytest.mark.parametrize(
    ("standing", "today", "amount", "light", "message", "params", "en", "zh"),
    [pytest.param(*case[1:], id=case[0]) for case in PAYMENT_RULE],
)
def test_the_payment_rule(
    standing: NoticeStanding | None,
    today: date,
    amount: int,
    light: str,
    message: str,
    params: dict[str, Any],
    en: str,
    zh: str,
) -> None:
    check = check_public_notice(standing, today=today, amount_minor=amount)
    assert (check.code, check.light, check.message) == ("public_notice", light, message)
    assert dict(check.params) == params
    assert render_check(check, "en") == en
    assert render_check(check, "zh-CN") == zh
    # check_payment pays on green only, and the refusal carries the check.
    pay: dict[str, Any] = {
        "approver": "wang.fang",
        "payer": "zhao.lei",
        "amount_minor": amount,
    }
    if light == "green":
        check_payment(**pay, four_eyes_above_minor=0, notice=check)
    else:
        with pytest.raises(NoticeError, match=message) as refused:
            check_payment(**pay, four_eyes_above_minor=0, notice=check)
        assert refused.value.check == check


def test_every_reason_of_the_rule_is_in_the_table() -> None:
    """A new branch of check_public_notice gets its row (and words) here."""
    import inspect

    from claims import notices

    source = inspect.getsource(notices.check_public_notice)
    said = {
        m for m in source.split('"') if m.startswith("public_notice.") and " " not in m
    }
    assert said == {case[5] for case in PAYMENT_RULE}
