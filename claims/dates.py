"""The farm's day: every date rule of a claim counts days where the farm is.

A loss happens on a day of the farm's calendar, and a report made at 07:30 in
Inner Mongolia is made on that day even though it is still the day before in
UTC. Times are stored in UTC; these functions turn them into the farm's local
date (IANA zone, e.g. ``Asia/Shanghai``) before any comparison with a date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_FARM_TIMEZONE",
    "farm_zone",
    "is_future_event",
    "local_date",
]

# China's farms run on one civil time zone (UTC+8, no daylight saving time).
DEFAULT_FARM_TIMEZONE = "Asia/Shanghai"


def farm_zone(
    name: str | None = None,
    *,
    region: str | None = None,
    by_region: Mapping[str, str] | None = None,
) -> ZoneInfo:
    """The farm's time zone: ``by_region[region]`` if given, else ``name``, else the default.

    Raises:
        ValueError: the zone name is not an IANA time zone.
    """
    chosen = (by_region or {}).get(region or "") or name or DEFAULT_FARM_TIMEZONE
    try:
        return ZoneInfo(chosen)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{chosen!r} is not an IANA time zone") from exc


def on_farm_clock(at: datetime, zone: tzinfo) -> datetime:
    """``at`` as an aware instant: a naive time is the farm's wall clock in ``zone``.

    Phones write EXIF times without an offset, and a capture app may send one:
    such a time was read off a clock at the farm, never in UTC.
    """
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def local_date(at: datetime, zone: tzinfo) -> date:
    """The farm's calendar date at ``at`` (a naive ``at`` is the farm's wall clock)."""
    return on_farm_clock(at, zone).astimezone(zone).date()


def is_future_event(event: date, reported: datetime, zone: tzinfo) -> bool:
    """True when the loss day ``event`` is after the farm's date at ``reported``."""
    return event > local_date(reported, zone)
