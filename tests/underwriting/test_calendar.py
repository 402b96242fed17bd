"""Crop calendars: a season runs from sowing through the harvest window, across the new year."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from underwriting import CropCalendar, CropProduct, Money, MonthDay, ProductError
from underwriting.products import product_from_dict, product_to_dict

WINTER_WHEAT = {
    "sowing": "10-01",
    "heading": "05-10",
    "harvest_start": "07-01",
    "harvest_end": "07-31",
}
SPRING_MAIZE = {
    "sowing": "04-20",
    "heading": "07-15",
    "harvest_start": "09-15",
    "harvest_end": "10-31",
}


@pytest.mark.parametrize(
    ("calendar", "day", "stage", "sowing"),
    [
        (WINTER_WHEAT, "2021-01-15", "vegetative", "2020-10-01"),
        (WINTER_WHEAT, "2021-05-10", "heading", "2020-10-01"),
        (WINTER_WHEAT, "2021-07-15", "maturity", "2020-10-01"),
        (WINTER_WHEAT, "2021-08-01", "after_harvest", "2020-10-01"),
        (WINTER_WHEAT, "2021-10-01", "vegetative", "2021-10-01"),
        (SPRING_MAIZE, "2021-03-01", "after_harvest", "2020-04-20"),
        (SPRING_MAIZE, "2021-06-01", "vegetative", "2021-04-20"),
        (SPRING_MAIZE, "2021-08-01", "heading", "2021-04-20"),
        (SPRING_MAIZE, "2021-10-31", "maturity", "2021-04-20"),
    ],
)
def test_a_day_falls_in_the_season_of_the_latest_sowing(
    calendar: dict[str, str], day: str, stage: str, sowing: str
) -> None:
    cal = CropCalendar.parse(calendar)
    assert cal.stage(date.fromisoformat(day)) == stage
    assert cal.season(date.fromisoformat(day)).sowing == date.fromisoformat(sowing)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (WINTER_WHEAT | {"heading": "5-10"}, "not a day of the year"),
        (WINTER_WHEAT | {"harvest_end": "02-29"}, "not a day of every year"),
        (WINTER_WHEAT | {"heading": "13-01"}, "not a day of every year"),
        ({"sowing": "10-01"}, "an object of sowing, heading"),
        # heading before sowing in the year: harvest would end more than a year on
        (SPRING_MAIZE | {"heading": "03-01"}, "within one year"),
        ("10-01", "an object of"),
    ],
)
def test_a_calendar_out_of_order_or_malformed_is_refused(
    doc: object, message: str
) -> None:
    with pytest.raises(ProductError, match=message):
        CropCalendar.parse(doc)


def test_month_days_print_as_they_are_written() -> None:
    assert str(MonthDay.parse("07-01")) == "07-01"
    assert CropCalendar.parse(WINTER_WHEAT).to_dict() == WINTER_WHEAT


WHEAT = CropProduct(
    "WHEAT",
    Money.parse("900"),
    "mu",
    Decimal("0.06"),
    calendars={
        "*": CropCalendar.parse(WINTER_WHEAT),
        "Heilongjiang": CropCalendar.parse(SPRING_MAIZE | {"heading": "07-01"}),
    },
)


def test_a_region_has_its_own_calendar_or_the_default() -> None:
    north = WHEAT.calendar("Heilongjiang")
    assert north is not None and str(north.heading) == "07-01"
    assert WHEAT.calendar("Shandong") == WHEAT.calendars["*"]
    assert WHEAT.calendar(None) == WHEAT.calendars["*"]
    no_default = CropProduct("X", Money.parse("1"), "ha", Decimal("0.1"))
    assert no_default.calendar("Shandong") is None


def test_calendars_are_part_of_the_product_terms() -> None:
    doc = product_to_dict(WHEAT)
    assert doc["calendars"]["*"] == WINTER_WHEAT
    assert product_from_dict(doc) == WHEAT
    # products stored before calendars: none
    del doc["calendars"]
    assert product_from_dict(doc).calendars == {}


def test_a_bad_calendar_in_a_product_names_its_region() -> None:
    doc = product_to_dict(WHEAT)
    doc["calendars"]["Heilongjiang"]["sowing"] = "04-31"
    with pytest.raises(ProductError, match=r"calendars\.Heilongjiang: 04-31 is not"):
        product_from_dict(doc)
    doc["calendars"] = ["10-01"]
    with pytest.raises(ProductError, match="calendars must be an object"):
        product_from_dict(doc)
