"""Limits that hold: a plot's and a policy's indemnities never pass their sums insured.

On SQLite and PostgreSQL: a later claim's indemnity is reduced by what was
already paid and its breakdown says so; two payments that together pass a
limit, made at once, pay one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claims import crop_indemnity
from remote_sensing import read_plots
from server.context import AppContext
from server.errors import ConflictError
from server.i18n import render_line
from server.services.claims import ClaimRecord
from tests.server.notices import clear_for_payment
from tests.server.pages_records import (
    AUSTRIA_FIELDS,
    PEERS,
    WHEAT,
    crop_claim,
    crop_policy,
    hail_pair,
)
from tests.server.test_claims_regressions import (
    _enrolled_rows,
    animal_claim,
    at_once,
    events,
    insured_herd,
)
from underwriting import LivestockProduct, Money

TAG = "998230000008001"


def breakdown(c: ClaimRecord, lang: str = "en") -> list[tuple[str, str]]:
    return [render_line(x, lang) for x in c.indemnity]  # type: ignore[arg-type]


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def one_cow(app: AppContext, today: date) -> str:
    """F-1 insures one cow (sum insured 8,000.00, deductible 200.00); the policy id."""
    policy = insured_herd(app, today, (TAG,))
    assert app.underwriting.policy(policy).sum_insured == Money.parse("8000")
    return policy


def test_a_later_livestock_claim_is_reduced_by_what_the_policy_already_paid(
    app: AppContext, one_cow: str, today: date
) -> None:
    cl = app.claims
    first = animal_claim(cl, one_cow, TAG, today - timedelta(days=3))
    assert first.amount == Money.parse("7400")  # min(8000, 7600) - 200
    assert [x.key for x in first.indemnity][-1] == "indemnity.amount"
    assert not any(x.key == "indemnity.paid_before" for x in first.indemnity)
    cl.decide(first.id, "approve", actor="adj-1", reason="vet certificate seen")
    clear_for_payment(app, first.id)
    assert cl.pay(first.id, actor="adj-2", payment_ref="PAY-1")[1] is True
    # The same cow claimed again (a red duplicate an adjuster might still approve):
    # 7,400.00 again by the arithmetic, but only 600.00 is left of 8,000.00.
    second = animal_claim(cl, one_cow, TAG, today - timedelta(days=1))
    assert second.amount == Money.parse("600")
    assert breakdown(second)[-3:] == [
        ("paid before under the policy's sum insured", "7400.00"),
        ("left of the policy's sum insured", "600.00"),
        ("indemnity", "600.00"),
    ]
    assert breakdown(second, "zh-CN")[-3:] == [
        ("保单保险金额下已赔付", "7400.00"),
        ("保单保险金额剩余", "600.00"),
        ("赔款", "600.00"),
    ]
    cl.decide(second.id, "approve", actor="adj-1", reason="overruled: see file")
    clear_for_payment(app, second.id)
    paid, changed = cl.pay(second.id, actor="adj-2", payment_ref="PAY-2")
    assert (paid.status, changed, paid.amount) == ("paid", True, Money.parse("600"))
    # Paid up: a third claim is worth nothing, and says why.
    third = animal_claim(cl, one_cow, TAG, today)
    assert third.amount == Money.zero()
    assert breakdown(third)[-2:] == [
        ("left of the policy's sum insured", "0.00"),
        ("indemnity", "0.00"),
    ]


def test_payments_that_together_pass_the_policy_pay_one(
    app: AppContext, one_cow: str, today: date
) -> None:
    cl = app.claims
    # All assessed before any was paid: 7,400.00 each, where 8,000.00 is insured.
    filed = [
        animal_claim(cl, one_cow, TAG, today - timedelta(days=1 + i)) for i in range(4)
    ]
    assert {c.amount for c in filed} == {Money.parse("7400")}
    for c in filed:
        cl.decide(c.id, "approve", actor="adj-0", reason="tested")
    clear_for_payment(app, filed[0].id)
    got = at_once(
        len(filed),
        lambda i: cl.pay(filed[i].id, actor=f"adj-{i + 1}", payment_ref=f"PAY-{i}"),
    )
    paid = [g for g in got if isinstance(g, tuple)]
    refused = [g for g in got if isinstance(g, Exception)]
    assert len(paid) == 1 and len(refused) == len(filed) - 1, got
    assert paid[0][1] is True
    for exc in refused:
        assert isinstance(exc, ConflictError)
        assert "sum insured" in str(exc) and "nothing more is paid" in str(exc)
    assert [e["type"] for e in events(app)].count("claim.paid") == 1
    assert app.ledger.verify().ok
    # The one paid, asked again, is returned unchanged (pay-once, not a limit).
    first = paid[0][0]
    record, changed = cl.pay(first.id, actor="adj-9", payment_ref="PAY-9")
    assert (record.status, changed, record.payment_ref) == (
        "paid",
        False,
        first.payment_ref,
    )
    assert sorted(cl.claim(c.id).status for c in filed) == ["approved"] * 3 + ["paid"]


def test_a_second_crop_claim_on_a_plot_gets_what_is_left_of_its_sum_insured(
    app: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    uw, cl = app.underwriting, app.claims
    # Hail planted on AT-0488's real pixels, its peers unchanged.
    wheat = WHEAT
    _, policy = crop_policy(app, ["AT-0488", "AT-0001", *PEERS], product=wheat)
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    idx = [fields.ids.index("AT-0488")]
    before, after = hail_pair(shared_data, tmp_path, ["AT-0488"])

    def claim(day: int) -> ClaimRecord:
        c = crop_claim(app, policy, event=date(2021, 6, day))
        return cl.assess_by_map(c.id, before, after, actor="adj")[0]

    area = float(fields.area_m2[idx[0]])
    full = crop_indemnity(
        wheat,
        damaged_area_m2=Decimal(str(round(0.8 * area, 2))),
        insured_area_m2=Decimal(str(round(area, 2))),
        loss_degree=Decimal(1),
        growth_stage="heading",
    ).amount
    plot_sum = wheat.sum_insured(Decimal(str(round(area, 2))))
    # 0.8 of the plot x 70 % cap x 90 % after the deductible: 50.4 % of its sum
    # insured, so twice that passes it.
    assert abs(full.minor - plot_sum.times(Decimal("0.504")).minor) <= 1
    assert (full + full).minor > plot_sum.minor
    first = claim(18)
    assert first.amount == full
    cl.decide(first.id, "approve", actor="adj-1", reason="hail, surveyed")
    clear_for_payment(app, first.id)
    assert cl.pay(first.id, actor="adj-2", payment_ref="PAY-1")[1] is True
    # The same hail claimed again on the plot: the arithmetic gives the same
    # amount, but only the plot's sum insured less what was paid is left.
    second = claim(22)
    left = plot_sum - full
    assert second.amount == left < full
    policy_sum = uw.policy(policy).sum_insured
    assert breakdown(second)[-5:] == [
        ("paid before under the plot's sum insured", str(full)),
        ("left of the plot's sum insured", str(left)),
        ("paid before under the policy's sum insured", str(full)),
        ("left of the policy's sum insured", str(policy_sum - full)),
        ("indemnity", str(left)),
    ]
    cl.decide(second.id, "approve", actor="adj-1", reason="second hail, surveyed")
    clear_for_payment(app, second.id)
    paid, changed = cl.pay(second.id, actor="adj-2", payment_ref="PAY-2")
    assert changed and paid.amount == left
    assert first.amount + paid.amount == plot_sum


def test_a_payment_refused_for_a_sum_used_up_meanwhile_is_assessed_again(
    app: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    """Two hail claims assessed before either is paid: the second goes back and pays the rest."""
    cl = app.claims
    _, policy = crop_policy(app, ["AT-0488", *PEERS])
    before, after = hail_pair(shared_data, tmp_path, ["AT-0488"])

    def assessed(day: int) -> ClaimRecord:
        c = crop_claim(app, policy, event=date(2021, 6, day))
        record = cl.assess_by_map(c.id, before, after, actor="adj")[0]
        cl.decide(record.id, "approve", actor="adj-1", reason="hail, surveyed")
        return record

    first, second = assessed(18), assessed(22)
    assert first.amount == second.amount  # neither knew of the other's payment
    clear_for_payment(app, first.id, second.id)
    cl.pay(first.id, actor="adj-2", payment_ref="PAY-1")
    with pytest.raises(ConflictError, match="send the claim back for a survey"):
        cl.pay(second.id, actor="adj-2", payment_ref="PAY-2")
    cl.decide(second.id, "survey", actor="adj-1", reason="the plot's sum was used up")
    again = cl.assess_by_map(second.id, before, after, actor="adj")[0]
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    area = float(fields.area_m2[fields.ids.index("AT-0488")])
    plot_sum = WHEAT.sum_insured(Decimal(str(round(area, 2))))
    assert again.amount == plot_sum - first.amount
    cl.decide(second.id, "approve", actor="adj-1", reason="what is left")
    clear_for_payment(app, second.id)  # a new indemnity: posted again
    paid, changed = cl.pay(second.id, actor="adj-2", payment_ref="PAY-2")
    assert changed and first.amount + paid.amount == plot_sum


def test_crop_payments_that_together_pass_the_plot_pay_one(
    app: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    """Three hail claims on one field, each half its sum insured, paid at once: one is."""
    cl = app.claims
    _, policy = crop_policy(app, ["AT-0488", *PEERS])
    before, after = hail_pair(shared_data, tmp_path, ["AT-0488"])
    approved = []
    for day in (18, 19, 20):
        c = crop_claim(app, policy, event=date(2021, 6, day))
        record = cl.assess_by_map(c.id, before, after, actor="adj")[0]
        cl.decide(record.id, "approve", actor="adj-0", reason="tested")
        approved.append(record)
    clear_for_payment(app, approved[0].id)
    got = at_once(
        len(approved),
        lambda i: cl.pay(approved[i].id, actor=f"adj-{i + 1}", payment_ref=f"P-{i}"),
    )
    paid = [g for g in got if isinstance(g, tuple)]
    refused = [g for g in got if isinstance(g, Exception)]
    assert len(paid) == 1 and len(refused) == 2, got
    assert all(
        isinstance(e, ConflictError) and "plot's sum insured" in str(e) for e in refused
    )
    assert [e["type"] for e in events(app)].count("claim.paid") == 1
    assert app.ledger.verify().ok


def test_an_animal_is_paid_once_even_where_the_policy_has_room(
    app: AppContext, today: date
) -> None:
    """Two cows insured (16,000.00): the same cow claimed again is cut by its own limit."""
    uw, cl = app.underwriting, app.claims
    uw.register_farmer("F-1", "Liu", "Hohhot", lat=40.842, lon=111.749, actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 0
        ),
        actor="admin",
    )
    other = "998230000008002"
    _enrolled_rows(app, "F-1", (TAG, other))
    a = uw.apply_livestock(
        "F-1",
        "COW",
        [TAG, other],
        start=today - timedelta(days=100),
        end=today + timedelta(days=200),
        actor="agent",
    )
    policy = uw.decide(a.id, "approve", actor="uw", reason="tested").policy_id or ""
    assert uw.policy(policy).sum_insured == Money.parse("16000")
    first = animal_claim(cl, policy, TAG, today - timedelta(days=2))
    cl.decide(first.id, "approve", actor="adj-0", reason="tested")
    clear_for_payment(app, first.id)
    cl.pay(first.id, actor="adj-1", payment_ref="PAY-1")
    again = animal_claim(cl, policy, TAG, today - timedelta(days=1))
    assert again.amount == Money.parse("600")  # 8,000 per head less 7,400 paid
    assert ("left of the animal's sum insured", "600.00") in breakdown(again)
    # The other cow is untouched by the first cow's payment.
    second_cow = animal_claim(cl, policy, other, today - timedelta(days=1))
    assert second_cow.amount == Money.parse("7400")
