"""The farm's calendar: instants become the farm's dates before any date rule."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from claims import DEFAULT_FARM_TIMEZONE, farm_zone, is_future_event, local_date

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("at", "zone", "day"),
    [
        (datetime(2026, 5, 9, 23, 30, tzinfo=UTC), SHANGHAI, date(2026, 5, 10)),
        (datetime(2026, 5, 9, 15, 59, tzinfo=UTC), SHANGHAI, date(2026, 5, 9)),
        (datetime(2026, 5, 9, 23, 30, tzinfo=UTC), UTC, date(2026, 5, 9)),
        (datetime(2026, 5, 9, 23, 30), SHANGHAI, date(2026, 5, 9)),  # naive: farm clock
        (datetime(2026, 5, 9, 0, 30), SHANGHAI, date(2026, 5, 9)),  # not 8 h later
        (
            datetime(2026, 7, 1, 1, 0, tzinfo=UTC),
            ZoneInfo("Europe/Vienna"),
            date(2026, 7, 1),
        ),
    ],
)
def test_local_date(at: datetime, zone: ZoneInfo, day: date) -> None:
    assert local_date(at, zone) == day


# Regression (issue 9, defect 5): a report at 07:30 in China on the loss day is
# 23:30 UTC the day before; UTC dates called that event "in the future".
@pytest.mark.parametrize(
    ("event", "reported", "zone", "future"),
    [
        (date(2026, 5, 10), datetime(2026, 5, 9, 23, 30, tzinfo=UTC), SHANGHAI, False),
        (date(2026, 5, 10), datetime(2026, 5, 9, 23, 30, tzinfo=UTC), UTC, True),
        (date(2026, 5, 11), datetime(2026, 5, 9, 23, 30, tzinfo=UTC), SHANGHAI, True),
        (date(2026, 5, 9), datetime(2026, 5, 9, 0, 0, tzinfo=UTC), SHANGHAI, False),
    ],
)
def test_is_future_event(
    event: date, reported: datetime, zone: ZoneInfo, future: bool
) -> None:
    assert is_future_event(event, reported, zone) is future


@pytest.mark.parametrize(
    ("name", "region", "by_region", "zone"),
    [
        (None, None, None, DEFAULT_FARM_TIMEZONE),
        ("Asia/Urumqi", None, None, "Asia/Urumqi"),
        ("Asia/Shanghai", "Xinjiang", {"Xinjiang": "Asia/Urumqi"}, "Asia/Urumqi"),
        ("Asia/Shanghai", "Hohhot", {"Xinjiang": "Asia/Urumqi"}, "Asia/Shanghai"),
    ],
)
def test_farm_zone(
    name: str | None, region: str | None, by_region: dict[str, str] | None, zone: str
) -> None:
    assert farm_zone(name, region=region, by_region=by_region).key == zone


@pytest.mark.parametrize("bad", ["Mars/Olympus", "not a zone", "../etc/passwd"])
def test_an_unknown_zone_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        farm_zone(bad)
