"""Public notices over the API, on SQLite and PostgreSQL: publish, object, resolve, pay, print.

A claim is paid only once a claims notice listing it has passed its
objection period with no objection open; the printed notice (a PDF rendered
to pixels here) shows masked names and cut ids only, and its QR code opens
a receipt that verifies against the ledger's key.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ledger import Receipt, verify_receipt
from server.context import AppContext
from server.http.app import create_app
from server.services.auth import UserStore
from tests.server.notices import pass_days
from tests.server.test_claims_regressions import _enrolled_rows
from underwriting import LivestockProduct, Money

PASSWORD = "correct horse battery staple"
REGION = "呼和浩特市赛罕区"
TAGS = ("156010000004321", "156010000008765")
FULL_NAME, OTHER_NAME = "刘建军", "Liu Jun"
API = "/api/v1"


@pytest.fixture
def site(app: AppContext) -> dict[str, Any]:
    """Two farmers of one village (F-1 刘建军, F-2 Liu Jun), one of another (F-3);
    F-1's two cows insured (COW, 8,000.00 a head); users per role."""
    uw = app.underwriting
    uw.register_farmer("F-1", FULL_NAME, REGION, lat=40.84, lon=111.75, actor="admin")
    uw.register_farmer("F-2", OTHER_NAME, REGION, lat=40.85, lon=111.76, actor="admin")
    uw.register_farmer("F-3", "王芳", "Tumed Left Banner", actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 0
        ),
        actor="admin",
    )
    _enrolled_rows(app, "F-1", TAGS)
    today = datetime.now(UTC).date()
    a = uw.apply_livestock(
        "F-1",
        "COW",
        list(TAGS),
        start=today - timedelta(days=100),
        end=today + timedelta(days=200),
        actor="agent",
    )
    policy = uw.decide(a.id, "approve", actor="uw", reason="tested").policy_id or ""
    users = UserStore(app.engine)
    for name, role, farmer in [
        ("uw", "underwriter", None),
        ("adj-1", "adjuster", None),
        ("adj-2", "adjuster", None),
        ("agent", "field_agent", None),
        ("f-1", "farmer", "F-1"),
        ("f-2", "farmer", "F-2"),
        ("f-3", "farmer", "F-3"),
    ]:
        users.create(name, PASSWORD, role, farmer)
    return {"policy": policy, "today": today}


@pytest.fixture
def api(app: AppContext, site: dict[str, Any]) -> Any:
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        tokens: dict[str, str] = {}

        def as_(user: str, lang: str = "en") -> dict[str, str]:
            if user not in tokens:
                r = client.post(
                    f"{API}/auth/token", json={"username": user, "password": PASSWORD}
                )
                tokens[user] = r.json()["access_token"]
            return {"Authorization": f"Bearer {tokens[user]}", "Accept-Language": lang}

        client.as_ = as_  # type: ignore[attr-defined]
        yield client


def _approved_claim(app: AppContext, site: dict[str, Any], tag: str) -> str:
    day = site["today"] - timedelta(days=2)
    c = app.claims.file(
        policy_id=site["policy"],
        farmer_id="F-1",
        subject_kind="animal",
        subject_id=tag,
        event_date=day,
        reported_at=datetime.combine(day, datetime.min.time(), UTC),
        market_value=Money.parse("7600"),
        actor="agent",
    )
    app.claims.decide(c.id, "approve", actor="adj-1", reason="vet certificate seen")
    return c.id


def _farm_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _publish(api: Any, kind: str = "claims", user: str = "adj-1", **extra: Any) -> Any:
    today = _farm_today()
    body = {
        "kind": kind,
        "region": REGION,
        "start": (today - timedelta(days=30)).isoformat(),
        "end": today.isoformat(),
        **extra,
    }
    return api.post(f"{API}/notices", json=body, headers=api.as_(user))


def _pay(api: Any, claim: str, user: str = "adj-2") -> Any:
    return api.post(
        f"{API}/claims/{claim}/payment",
        json={"payment_ref": "BANK-1"},
        headers=api.as_(user),
    )


def _events(app: AppContext) -> list[dict[str, Any]]:
    store = app.ledger.store
    return [json.loads(store.entry(i).data) for i in range(store.size())]


def test_a_claim_is_paid_after_its_notice_and_objection(
    app: AppContext, site: dict[str, Any], api: Any
) -> None:
    claim = _approved_claim(app, site, TAGS[0])
    # Approved but on no notice: not paid, and the refusal says why.
    r = _pay(api, claim)
    assert r.status_code == 409, r.text
    assert "not on a public claims notice" in r.json()["detail"]

    r = _publish(api)
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["rows"] == 1 and notice["objection_days"] == 7
    row = notice["items"][0]
    assert (row["farmer"], row["farmer_id"], row["tag"]) == ("刘*军", "F*1", "…4321")
    assert row["claim"] == claim[:8] and row["indemnity"] == "7400.00"
    assert row["payment"]["message"] == "public_notice.period"
    # Its document is the ledger entry, and names no one in full.
    entry = app.ledger.store.entry(notice["ledger_index"]).data.decode()
    event = json.loads(entry)
    assert event["type"] == "notice.published"
    assert event["payload"]["rows"][0]["farmer"] == "刘*军"
    for secret in (FULL_NAME, "F-1", claim, TAGS[0], site["policy"]):
        assert secret not in json.dumps(event["payload"], ensure_ascii=False)

    # In the period: refused, in the reader's words on the notice.
    r = _pay(api, claim)
    assert r.status_code == 409 and "objections are taken until" in r.json()["detail"]
    zh = api.get(f"{API}/notices/{notice['id']}", headers=api.as_("adj-1", "zh-CN"))
    assert "异议受理至" in zh.json()["items"][0]["payment"]["reason"]

    # A neighbour objects; another village's farmer may not.
    r = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 1, "text": "这头牛上周还在吃草"},
        headers=api.as_("f-2"),
    )
    assert r.status_code == 201, r.text
    objection = r.json()
    assert objection["status"] == "open"
    refused = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 1, "text": "not mine"},
        headers=api.as_("f-3"),
    )
    assert refused.status_code == 403
    assert (
        api.get(f"{API}/notices/{notice['id']}", headers=api.as_("f-3")).status_code
        == 403
    )

    pass_days(app, 8)
    r = _pay(api, claim)
    assert r.status_code == 409 and "await a decision" in r.json()["detail"]
    # Objections after the period are refused.
    late = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 1, "text": "too late"},
        headers=api.as_("f-2"),
    )
    assert late.status_code == 409 and "ended on" in late.json()["detail"]

    r = api.post(
        f"{API}/notices/{notice['id']}/objections/{objection['id']}/resolution",
        json={
            "outcome": "dismissed",
            "reason": "the vet's certificate and carcass photos",
        },
        headers=api.as_("adj-1"),
    )
    assert r.status_code == 200 and r.json()["status"] == "dismissed", r.text
    r = _pay(api, claim)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text

    kinds = [e["type"] for e in _events(app)]
    for kind in (
        "notice.published",
        "notice.objection_recorded",
        "notice.objection_resolved",
        "claim.paid",
    ):
        assert kind in kinds
    assert kinds.index("notice.objection_resolved") < kinds.index("claim.paid")
    assert app.ledger.verify().ok


def test_an_objection_open_on_an_earlier_notice_still_holds_the_payment(
    app: AppContext, site: dict[str, Any], api: Any
) -> None:
    """Posting the claim again does not leave an earlier notice's objection behind."""
    claim = _approved_claim(app, site, TAGS[0])
    first = _publish(api).json()
    r = api.post(
        f"{API}/notices/{first['id']}/objections",
        json={"row": 1, "text": "这头牛上周还在吃草"},
        headers=api.as_("f-2"),
    )
    assert r.status_code == 201, r.text
    objection = r.json()
    second = _publish(api)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first["id"]
    pass_days(app, 8)  # both periods over; the second notice has no objection
    r = _pay(api, claim)
    assert r.status_code == 409 and "await a decision" in r.json()["detail"], r.text
    r = api.post(
        f"{API}/notices/{first['id']}/objections/{objection['id']}/resolution",
        json={"outcome": "dismissed", "reason": "the vet's certificate"},
        headers=api.as_("adj-1"),
    )
    assert r.status_code == 200, r.text
    r = _pay(api, claim)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text


def test_an_upheld_objection_sends_the_claim_back_and_needs_a_new_notice(
    app: AppContext, site: dict[str, Any], api: Any
) -> None:
    claim = _approved_claim(app, site, TAGS[1])
    notice = _publish(api, objection_days=3).json()
    r = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 1, "text": "seen alive", "on_behalf_of": "张大爷"},
        headers=api.as_("agent"),
    )
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    # A farmer names no one else; staff must.
    assert (
        api.post(
            f"{API}/notices/{notice['id']}/objections",
            json={"row": 1, "text": "x", "on_behalf_of": "someone"},
            headers=api.as_("f-2"),
        ).json()["field"]
        == "on_behalf_of"
    )
    no_one = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 1, "text": "x"},
        headers=api.as_("adj-1"),
    )
    assert no_one.status_code == 422 and no_one.json()["field"] == "on_behalf_of"
    # Only adjusters resolve a claims notice's objections.
    path = f"{API}/notices/{notice['id']}/objections/{oid}/resolution"
    body = {"outcome": "upheld", "reason": "the cow is alive: survey it"}
    assert api.post(path, json=body, headers=api.as_("uw")).status_code == 403
    r = api.post(path, json=body, headers=api.as_("adj-1"))
    assert r.status_code == 200 and r.json()["status"] == "upheld", r.text
    assert api.post(path, json=body, headers=api.as_("adj-1")).status_code == 409
    assert app.claims.claim(claim).status == "survey"
    # Approved again after the survey: the old notice no longer clears it.
    app.claims.decide(claim, "approve", actor="adj-1", reason="surveyed: died")
    pass_days(app, 5)
    r = _pay(api, claim)
    assert r.status_code == 409 and "was upheld" in r.json()["detail"]
    again = _publish(api, objection_days=3)
    assert again.status_code == 201, again.text
    pass_days(app, 4)
    assert _pay(api, claim).status_code == 200
    events = [e for e in _events(app) if e["type"] == "notice.objection_resolved"]
    assert events[0]["subjects"]["claim"] == claim
    assert events[0]["payload"]["outcome"] == "upheld"


def test_publishing_refuses_what_it_cannot_post(
    app: AppContext, site: dict[str, Any], api: Any
) -> None:
    nothing = _publish(api)
    assert nothing.status_code == 422 and nothing.json()["field"] == "region"
    today = _farm_today()
    future = _publish(api, end=(today + timedelta(days=3)).isoformat())
    assert future.status_code == 422 and future.json()["field"] == "end"
    short = _publish(api, objection_days=2)
    assert short.status_code == 422 and short.json()["field"] == "objection_days"
    assert _publish(api, kind="underwriting").status_code == 403  # an adjuster
    assert _publish(api, user="f-1").status_code == 403
    # The underwriter's list: F-1's policy, two head, the farmer's share.
    r = _publish(api, kind="underwriting", user="uw")
    assert r.status_code == 201, r.text
    row = r.json()["items"][0]
    assert (row["animals"], row["sum_insured"], row["premium"]) == (
        2,
        "16000.00",
        "960.00",
    )
    assert row["farmer_share"] and row["policy"] == site["policy"][:8]
    listed = api.get(f"{API}/notices", headers=api.as_("f-2")).json()
    assert listed["total"] == 1 and listed["items"][0]["kind"] == "underwriting"
    assert api.get(f"{API}/notices", headers=api.as_("f-3")).json()["total"] == 0


def _render(pdf: bytes) -> tuple[Any, str]:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    doc = pdfium.PdfDocument(pdf)
    try:
        assert len(doc) >= 1
        page = doc[0]
        image = page.render(scale=3).to_pil().convert("RGB")
        text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    return image, text


@pytest.mark.parametrize(
    ("lang", "title"),
    [("zh-CN", "理赔公示"), ("en", "Public notice of the claim list")],
)
def test_the_printed_notice_is_masked_and_its_qr_opens_a_receipt_that_verifies(
    app: AppContext, site: dict[str, Any], api: Any, lang: str, title: str
) -> None:
    import zxingcpp

    claim = _approved_claim(app, site, TAGS[0])
    notice = _publish(api).json()
    r = api.get(f"{API}/notices/{notice['id']}/pdf", headers=api.as_("adj-1", lang))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    image, text = _render(r.content)
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # not a blank page
    assert title in text and "刘*军" in text and "F*1" in text
    for secret in (FULL_NAME, "F-1 ", claim, TAGS[0], site["policy"]):
        assert secret not in text, secret
    if lang == "zh-CN":
        assert "异议截止日期" in text
    else:
        assert "Objections until" in text
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, found
    url = urlsplit(found[0].text)
    # The code opens the notice's public page (no login: the paper is public),
    # which verifies the receipt in the browser (tests/web/test_notices.py).
    assert url.path == f"/notices/{notice['id']}"
    # Printed beside the code for a reader without a phone (wrapped across lines).
    assert found[0].text in "".join(text.split())
    page = api.get(url.path)
    assert page.status_code == 200 and page.headers["content-type"].startswith(
        "text/html"
    )
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/js/notice-public.js">' in page.text
    assert notice["receipt"] == f"{API}/ledger/notices/{notice['id']}/receipt"
    receipt = api.get(notice["receipt"])  # what the page fetches, without a login
    assert receipt.status_code == 200, receipt.text
    doc = receipt.json()
    checkpoint = verify_receipt(Receipt.from_json(doc), [app.ledger.verifier])
    assert checkpoint.size >= notice["ledger_index"] + 1
    entry = json.loads(base64.b64decode(doc["entry"]))
    assert entry["type"] == "notice.published"
    assert entry["payload"]["notice"] == notice["id"]
    assert [r["farmer"] for r in entry["payload"]["rows"]] == ["刘*军"]
    # An altered copy does not verify.
    tampered = dict(
        doc,
        entry=base64.b64encode(
            json.dumps(dict(entry, payload=dict(entry["payload"], region="X"))).encode()
        ).decode(),
    )
    with pytest.raises(Exception, match=r"(?i)leaf|hash|proof|root"):
        verify_receipt(Receipt.from_json(tampered), [app.ledger.verifier])
    image.save(io.BytesIO(), "PNG")  # the page is a real image


def test_a_farmer_reads_their_village_s_notice_and_only_their_objections(
    app: AppContext, site: dict[str, Any], api: Any
) -> None:
    _approved_claim(app, site, TAGS[0])
    notice = _publish(api).json()
    for user in ("f-1", "f-2"):
        api.post(
            f"{API}/notices/{notice['id']}/objections",
            json={"row": 1, "text": f"from {user}"},
            headers=api.as_(user),
        )
    mine = api.get(f"{API}/notices/{notice['id']}", headers=api.as_("f-2")).json()
    assert [o["text"] for o in mine["objections"]] == ["from f-2"]
    assert mine["open_objections"] == 2
    assert mine["items"][0]["payment"] is None and mine["items"][0]["status"] is None
    staff = api.get(f"{API}/notices/{notice['id']}", headers=api.as_("adj-1")).json()
    assert len(staff["objections"]) == 2
    bad_row = api.post(
        f"{API}/notices/{notice['id']}/objections",
        json={"row": 9, "text": "which?"},
        headers=api.as_("f-2"),
    )
    assert bad_row.status_code == 422 and bad_row.json()["field"] == "row"
    assert date.fromisoformat(notice["objection_ends"]) == _farm_today() + timedelta(
        days=7
    )


def test_the_public_page_of_a_notice_is_served_to_anyone_and_names_a_notice(
    api: Any,
) -> None:
    """``/notices/{id}``: the same page for any well-formed id (the page asks the
    receipt, and says when there is none); a malformed id is refused."""
    unknown = "ntc_" + "0" * 32
    r = api.get(f"/notices/{unknown}")
    assert r.status_code == 200 and "notice-public.js" in r.text
    assert api.get(f"{API}/ledger/notices/{unknown}/receipt").status_code == 404
    for bad in ("ntc_x", "..%2F..%2Fetc%2Fpasswd", "NTC_" + "0" * 32):
        refused = api.get(f"/notices/{bad}")
        assert refused.status_code in (404, 422), (bad, refused.status_code)
        assert "notice-public.js" not in refused.text


def test_the_regions_a_notice_may_be_published_for_with_their_farm_day(
    api: Any,
) -> None:
    r = api.get(f"{API}/notices/regions", headers=api.as_("adj-1"))
    assert r.status_code == 200, r.text
    found = {x["region"]: date.fromisoformat(x["today"]) for x in r.json()}
    assert set(found) == {REGION, "Tumed Left Banner"}
    assert found[REGION] == _farm_today()  # the farm's day, not the server's (UTC)
    assert api.get(f"{API}/notices/regions", headers=api.as_("f-1")).status_code == 403
