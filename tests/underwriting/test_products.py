"""Products and premium splits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from underwriting import (
    CropProduct,
    LivestockProduct,
    Money,
    ProductError,
    SubsidyShares,
    premium_for,
    product_from_dict,
    product_to_dict,
)

MU = Decimal(10_000) / Decimal(15)


def test_crop_premium_per_mu_split_between_payers() -> None:
    corn = CropProduct(
        "CORN-2026",
        Money.parse("800"),
        "mu",
        Decimal("0.06"),
        subsidy=SubsidyShares(Decimal("0.45"), Decimal("0.25"), Decimal("0.10")),
    )
    split = premium_for(corn, Decimal("12.5") * MU)
    assert str(split.sum_insured) == "10000.00"
    assert str(split.total) == "600.00"
    assert (
        str(split.central),
        str(split.provincial),
        str(split.county),
        str(split.farmer),
    ) == ("270.00", "150.00", "60.00", "120.00")
    assert split.farmer + split.central + split.provincial + split.county == split.total


def test_hectare_product_and_odd_cents_still_add_up() -> None:
    wheat = CropProduct(
        "WHEAT",
        Money.parse("1000.01"),
        "ha",
        Decimal("0.033"),
        subsidy=SubsidyShares(Decimal("1") / 3, Decimal("1") / 3, Decimal(0)),
    )
    split = premium_for(wheat, Decimal("12345.6"))
    parts = split.farmer + split.central + split.provincial + split.county
    assert parts == split.total


def test_livestock_premium_per_head() -> None:
    cow = LivestockProduct(
        "DAIRY",
        Money.parse("10000"),
        Decimal("0.05"),
        Money.parse("500"),
        waiting_days=20,
        subsidy=SubsidyShares(Decimal("0.5")),
    )
    split = premium_for(cow, 3)
    assert (str(split.total), str(split.farmer), str(split.central)) == (
        "1500.00",
        "750.00",
        "750.00",
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SubsidyShares(Decimal("0.7"), Decimal("0.4")), "together"),
        (lambda: CropProduct("X", Money.parse("0"), "mu", Decimal("0.1")), "positive"),
        (
            lambda: CropProduct("X", Money.parse("1"), "acre", Decimal("0.1")),
            "mu or ha",
        ),  # type: ignore[arg-type]
        (
            lambda: CropProduct("X", Money.parse("1"), "mu", Decimal("1.5")),
            "premium_rate",
        ),
        (
            lambda: CropProduct(
                "X",
                Money.parse("1"),
                "mu",
                Decimal("0.1"),
                growth_stage_caps={"sowing": Decimal("2")},
            ),
            "sowing",
        ),
        (
            lambda: LivestockProduct(
                "Y", Money.parse("100"), Decimal("0.1"), Money.parse("200")
            ),
            "within the sum insured",
        ),
        (
            lambda: LivestockProduct(
                "Y",
                Money.parse("100"),
                Decimal("0.1"),
                Money.parse("1"),
                waiting_days=-1,
            ),
            "waiting_days",
        ),
    ],
)
def test_inconsistent_terms_are_refused(make, message: str) -> None:
    with pytest.raises(ProductError, match=message):
        make()


def test_a_crop_product_says_how_close_its_scenes_must_be_to_a_loss() -> None:
    wheat = CropProduct(
        "WHEAT", Money.parse("900"), "mu", Decimal("0.06"), scene_before_days=10
    )
    doc = product_to_dict(wheat)
    assert (doc["scene_before_days"], doc["scene_after_days"]) == (10, 20)
    assert product_from_dict(doc) == wheat
    # A product stored before these terms reads back with 20 days each way.
    del doc["scene_before_days"], doc["scene_after_days"]
    assert product_from_dict(doc).scene_before_days == 20
    with pytest.raises(ProductError, match="scene_after_days"):
        CropProduct("W", Money.parse("900"), "mu", Decimal("0.06"), scene_after_days=-1)
    with pytest.raises(ProductError, match="scene_before_days"):
        product_from_dict({**doc, "scene_before_days": "ten"})
