"""Indemnity arithmetic with its breakdown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claims import (
    IndemnityError,
    crop_indemnity,
    livestock_indemnity,
    payable_fraction,
)
from server.i18n import render_line
from underwriting import CropProduct, LivestockProduct, Money

MU = Decimal(10_000) / Decimal(15)
RICE = CropProduct(
    "RICE",
    Money.parse("1000"),
    "mu",
    Decimal("0.05"),
    deductible_rate=Decimal("0.10"),
    growth_stage_caps={
        "seedling": Decimal("0.4"),
        "heading": Decimal("0.8"),
        "mature": Decimal("1"),
    },
)


def test_crop_indemnity_breakdown() -> None:
    # 8 mu damaged at 60 % loss, before heading's cap binds: 8 x 1000 x 0.6 = 4800, less 10 %.
    result = crop_indemnity(
        RICE,
        damaged_area_m2=8 * MU,
        insured_area_m2=20 * MU,
        loss_degree=Decimal("0.6"),
        growth_stage="heading",
    )
    assert str(result.amount) == "4320.00"
    labels = [render_line(line, "en")[0] for line in result.lines]
    assert labels == [
        "sum insured per mu",
        "damaged area (mu)",
        "loss degree",
        "loss",
        "cap at stage heading",
        "deductible",
        "indemnity",
    ]
    assert result.lines[-1] == ("indemnity.amount", "4320.00", {})
    assert [render_line(line, "zh-CN")[0] for line in result.lines][:2] == [
        "每亩保险金额",
        "受损面积（亩）",
    ]


def test_growth_stage_cap_binds_early_in_the_season() -> None:
    result = crop_indemnity(
        RICE,
        damaged_area_m2=10 * MU,
        insured_area_m2=10 * MU,
        loss_degree=Decimal("0.9"),
        growth_stage="seedling",
    )
    assert str(result.amount) == "3600.00"  # cap 10 x 1000 x 0.4 = 4000, less 10 %


def test_crop_indemnity_refuses_impossible_inputs() -> None:
    with pytest.raises(IndemnityError, match="above the insured area"):
        crop_indemnity(
            RICE,
            damaged_area_m2=11 * MU,
            insured_area_m2=10 * MU,
            loss_degree=Decimal("0.5"),
        )
    with pytest.raises(IndemnityError, match="loss degree"):
        crop_indemnity(
            RICE, damaged_area_m2=MU, insured_area_m2=MU, loss_degree=Decimal("1.2")
        )
    with pytest.raises(IndemnityError, match="growth stage 'tillering'"):
        crop_indemnity(
            RICE,
            damaged_area_m2=MU,
            insured_area_m2=MU,
            loss_degree=Decimal("0.5"),
            growth_stage="tillering",
        )


def test_livestock_indemnity_takes_the_lower_basis() -> None:
    cow = LivestockProduct(
        "DAIRY", Money.parse("10000"), Decimal("0.05"), Money.parse("500")
    )
    assert (
        str(livestock_indemnity(cow, market_value=Money.parse("8000")).amount)
        == "7500.00"
    )
    assert (
        str(livestock_indemnity(cow, market_value=Money.parse("12000")).amount)
        == "9500.00"
    )
    assert (
        str(livestock_indemnity(cow, market_value=Money.parse("300")).amount) == "0.00"
    )
    with pytest.raises(IndemnityError):
        livestock_indemnity(cow, market_value=Money(-1))


@pytest.mark.parametrize(
    ("claimed", "measured", "paid"),
    [
        (0.8, 0.95, 0.8),  # never more than claimed
        (0.9, 0.2, 0.2),  # never more than measured
        (0.5, 0.5, 0.5),
        (1.0, 0.0, 0.0),
    ],
)
def test_the_lesser_of_claimed_and_measured_is_paid(
    claimed: float, measured: float, paid: float
) -> None:
    assert payable_fraction(claimed, measured) == paid


@pytest.mark.parametrize(
    ("claimed", "measured"), [(1.2, 0.5), (0.5, -0.1), (float("nan"), 0.5)]
)
def test_a_share_outside_zero_one_is_refused(claimed: float, measured: float) -> None:
    with pytest.raises(IndemnityError, match="damaged share"):
        payable_fraction(claimed, measured)
