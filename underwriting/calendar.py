"""Crop calendars: when a crop is sown, heads and is harvested, per crop and region.

A crop product's cover follows the crop, not the policy's dates alone: a field
harvested in July has nothing left to lose in September. A
:class:`CropCalendar` gives four days of the year (month-day): sowing,
heading, and the harvest window's first and last day. The season a date falls
in starts at the latest sowing day on or before it (winter wheat, sown in
October, is harvested the next July); each later boundary is the first of its
month-day after the one before.

Stages (the keys of a product's ``growth_stage_caps``):

* ``vegetative``: sowing to heading;
* ``heading``: heading to the first day of the harvest window;
* ``maturity``: the harvest window (both days included);
* ``after_harvest``: after the harvest window until the next sowing (not covered);
* ``before_sowing``: before the insured crop's sowing (not covered).

A policy insures one crop: :meth:`CropCalendar.insured_season` is the season
whose harvest window ends on or after the policy's first day, so a loss after
that harvest is not the next crop's, and one before its sowing not the last's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from underwriting.errors import ProductError

__all__ = ["STAGES", "CropCalendar", "MonthDay", "Season", "Stage"]

Stage = Literal["before_sowing", "vegetative", "heading", "maturity", "after_harvest"]
STAGES: tuple[Stage, ...] = (
    "before_sowing",
    "vegetative",
    "heading",
    "maturity",
    "after_harvest",
)


@dataclass(frozen=True, order=True)
class MonthDay:
    """A day of the year without its year (29 February is refused: not every year has one)."""

    month: int
    day: int

    def __post_init__(self) -> None:
        try:
            date(2001, self.month, self.day)
        except (TypeError, ValueError) as exc:
            raise ProductError(
                f"{self.month:02}-{self.day:02} is not a day of every year"
            ) from exc

    @classmethod
    def parse(cls, text: str) -> MonthDay:
        """``MM-DD`` (``07-31``).

        Raises:
            ProductError: not ``MM-DD``, or not a day of every year.
        """
        parts = str(text).split("-")
        if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
            raise ProductError(f"{text!r} is not a day of the year (MM-DD)")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.month:02}-{self.day:02}"

    def on_or_before(self, day: date) -> date:
        """The latest date with this month-day on or before ``day``."""
        this_year = date(day.year, self.month, self.day)
        return (
            this_year if this_year <= day else date(day.year - 1, self.month, self.day)
        )

    def on_or_after(self, day: date) -> date:
        """The earliest date with this month-day on or after ``day``."""
        this_year = date(day.year, self.month, self.day)
        return (
            this_year if this_year >= day else date(day.year + 1, self.month, self.day)
        )


@dataclass(frozen=True)
class Season:
    """One season's dates (see :meth:`CropCalendar.season`)."""

    sowing: date
    heading: date
    harvest_start: date
    harvest_end: date

    def stage(self, day: date) -> Stage:
        """The crop's stage on ``day``."""
        if day < self.sowing:
            return "before_sowing"
        if day < self.heading:
            return "vegetative"
        if day < self.harvest_start:
            return "heading"
        if day <= self.harvest_end:
            return "maturity"
        return "after_harvest"


@dataclass(frozen=True)
class CropCalendar:
    """Sowing, heading and the harvest window of one crop in one region.

    >>> wheat = CropCalendar.parse({"sowing": "10-01", "heading": "05-10",
    ...                             "harvest_start": "07-01", "harvest_end": "07-31"})
    >>> wheat.stage(date(2021, 6, 20)), wheat.stage(date(2021, 9, 10))
    ('heading', 'after_harvest')
    >>> wheat.season(date(2021, 6, 20)).sowing
    datetime.date(2020, 10, 1)
    """

    sowing: MonthDay
    heading: MonthDay
    harvest_start: MonthDay
    harvest_end: MonthDay

    def __post_init__(self) -> None:
        # A year from sowing must pass heading, then the harvest window, in order.
        s = self.season(self.sowing.on_or_after(date(2001, 1, 1)))
        if (s.harvest_end - s.sowing).days >= 365:
            raise ProductError(
                f"calendar {self}: sowing, heading, harvest start and end must follow "
                "each other within one year"
            )

    def season(self, day: date) -> Season:
        """The season ``day`` falls in: from the latest sowing on or before it."""
        sowing = self.sowing.on_or_before(day)
        heading = self.heading.on_or_after(sowing)
        start = self.harvest_start.on_or_after(heading)
        end = self.harvest_end.on_or_after(start)
        return Season(sowing, heading, start, end)

    def stage(self, day: date) -> Stage:
        """The crop's stage on ``day`` (in the season of the latest sowing)."""
        return self.season(day).stage(day)

    def insured_season(self, start: date) -> Season:
        """The season a policy starting on ``start`` insures: the first harvested after it.

        >>> maize = CropCalendar.parse({"sowing": "04-20", "heading": "07-15",
        ...                             "harvest_start": "09-15", "harvest_end": "10-31"})
        >>> maize.insured_season(date(2021, 3, 1)).sowing
        datetime.date(2021, 4, 20)
        """
        season = self.season(start)
        if season.harvest_end < start:
            season = self.season(self.sowing.on_or_after(start))
        return season

    def __str__(self) -> str:
        return (
            f"sowing {self.sowing}, heading {self.heading}, "
            f"harvest {self.harvest_start} to {self.harvest_end}"
        )

    def to_dict(self) -> dict[str, str]:
        """``{"sowing": "MM-DD", "heading": ..., "harvest_start": ..., "harvest_end": ...}``."""
        return {
            "sowing": str(self.sowing),
            "heading": str(self.heading),
            "harvest_start": str(self.harvest_start),
            "harvest_end": str(self.harvest_end),
        }

    @classmethod
    def parse(cls, doc: object) -> CropCalendar:
        """From :meth:`to_dict`'s form.

        Raises:
            ProductError: not an object of the four days, or they do not follow each other.
        """
        names = ("sowing", "heading", "harvest_start", "harvest_end")
        if not isinstance(doc, dict) or set(doc) != set(names):
            raise ProductError(f"a crop calendar is an object of {', '.join(names)}")
        return cls(*(MonthDay.parse(doc[n]) for n in names))
