"""Insurance products and their premiums.

A crop product insures per area (mu or ha): a sum insured per unit, a premium
rate, a deductible, and caps by growth stage (a crop destroyed at sowing has
cost less than one destroyed before harvest). A livestock product insures per
head: a sum insured per head, a waiting period, and optionally the whole-herd
rule (every eligible animal of the herd must be insured). Premiums are split
between the farmer and the subsidy payers (central, provincial, county).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from underwriting.calendar import CropCalendar
from underwriting.errors import MoneyError, ProductError
from underwriting.money import Money
from underwriting.text import first_control, shown

__all__ = [
    "M2_PER_UNIT",
    "MAX_CODE",
    "MAX_DAYS",
    "CropProduct",
    "LivestockProduct",
    "PremiumSplit",
    "Product",
    "SubsidyShares",
    "premium_for",
    "product_from_dict",
    "product_to_dict",
]

AreaUnit = Literal["mu", "ha"]
M2_PER_UNIT: dict[str, Decimal] = {
    "ha": Decimal(10_000),
    "mu": Decimal(10_000) / Decimal(15),
}
"""Square metres per insured area unit (1 mu = 10000/15 m2)."""


MAX_CODE = 64
"""The longest product code, in characters (applications and claims name it in 64)."""

MAX_DAYS = 3660
"""The longest waiting period or scene window of a product, in days (ten years)."""

_MAX_STAGE = 32  # a claim names its growth stage in at most 32 characters
_MAX_REGION = 200  # a farmer's region has at most 200 characters


def _fraction(name: str, value: Decimal, field: str | None = None) -> None:
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ProductError(
            f"{name} must be between 0 and 1, not {shown(value)}", field=field
        )


def _name(value: object, what: str, most: int, field: str) -> None:
    """Refuse a code, stage or region that is not 1 to ``most`` characters of plain text."""
    if not isinstance(value, str) or not value.strip():
        raise ProductError(
            f"{what} must be text of 1 to {most} characters", field=field
        )
    if len(value) > most:
        raise ProductError(
            f"{what} is {len(value):,} characters long; at most {most}", field=field
        )
    at = first_control(value)
    if at is not None:
        raise ProductError(
            f"{what} holds a control character (U+{ord(value[at]):04X}) at "
            f"position {at}",
            field=field,
        )


def _days(code: str, name: str, days: object) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        raise ProductError(
            f"{code}: {name} must be a whole number of days from 0 to {MAX_DAYS}, "
            f"not {shown(days)}",
            field=name,
        )


@dataclass(frozen=True)
class SubsidyShares:
    """Shares of the premium paid by each subsidy payer; the farmer pays the rest."""

    central: Decimal = Decimal(0)
    provincial: Decimal = Decimal(0)
    county: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("central", "provincial", "county"):
            _fraction(name, getattr(self, name), "subsidy")
        _fraction(
            "the subsidies together",
            self.central + self.provincial + self.county,
            "subsidy",
        )

    @property
    def farmer(self) -> Decimal:
        """The farmer's share."""
        return Decimal(1) - self.central - self.provincial - self.county


@dataclass(frozen=True)
class CropProduct:
    """Crop insurance per area.

    Attributes:
        code: product code.
        sum_insured_per_unit: sum insured per mu or ha.
        unit: ``mu`` or ``ha``.
        premium_rate: premium as a share of the sum insured.
        deductible_rate: share of each loss the farmer bears.
        growth_stage_caps: stage -> the most paid, as a share of the sum insured.
        subsidy: who pays the premium.
        scene_before_days: a loss is measured from a before-scene taken at most
            this many days before the event (claims by map).
        scene_after_days: and an after-scene taken at most this many days after it.
        calendars: the crop's calendar by farmer region (``*``: every other
            region): cover ends with the harvest, and the growth stage of a
            loss comes from it.
    """

    code: str
    sum_insured_per_unit: Money
    unit: AreaUnit
    premium_rate: Decimal
    deductible_rate: Decimal = Decimal(0)
    growth_stage_caps: dict[str, Decimal] = field(default_factory=dict)
    subsidy: SubsidyShares = field(default_factory=SubsidyShares)
    scene_before_days: int = 20
    scene_after_days: int = 20
    calendars: dict[str, CropCalendar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _name(self.code, "code", MAX_CODE, "code")
        if not isinstance(self.unit, str) or self.unit not in M2_PER_UNIT:
            raise ProductError(
                f"{self.code}: unit must be mu or ha, not {shown(self.unit)}",
                field="unit",
            )
        if self.sum_insured_per_unit.minor <= 0:
            raise ProductError(
                f"{self.code}: the sum insured per {self.unit} must be positive",
                field="sum_insured_per_unit",
            )
        _fraction(f"{self.code}: premium_rate", self.premium_rate, "premium_rate")
        _fraction(
            f"{self.code}: deductible_rate", self.deductible_rate, "deductible_rate"
        )
        for stage, cap in self.growth_stage_caps.items():
            _name(stage, "a growth stage", _MAX_STAGE, "growth_stage_caps")
            _fraction(f"{self.code}: cap of stage {stage!r}", cap, "growth_stage_caps")
        for name in ("scene_before_days", "scene_after_days"):
            _days(self.code, name, getattr(self, name))
        for region in self.calendars:
            _name(region, "a calendar's region", _MAX_REGION, "calendars")

    def calendar(self, region: str | None) -> CropCalendar | None:
        """The crop calendar of farms in ``region`` (its own, else ``*``), or None."""
        if region is not None and region in self.calendars:
            return self.calendars[region]
        return self.calendars.get("*")

    def units(self, area_m2: Decimal) -> Decimal:
        """An area in m2 expressed in this product's unit."""
        return Decimal(area_m2) / M2_PER_UNIT[self.unit]

    def sum_insured(self, area_m2: Decimal) -> Money:
        """Sum insured for an area in m2."""
        return self.sum_insured_per_unit.times(self.units(area_m2))


@dataclass(frozen=True)
class LivestockProduct:
    """Livestock insurance per head.

    Attributes:
        code: product code.
        sum_insured_per_head: the most paid for one animal.
        premium_rate: premium as a share of the sum insured.
        deductible: an absolute amount deducted from each animal's indemnity.
        waiting_days: losses in the first days of cover are not paid.
        whole_herd: every eligible animal of the herd must be insured.
        subsidy: who pays the premium.
    """

    code: str
    sum_insured_per_head: Money
    premium_rate: Decimal
    deductible: Money
    waiting_days: int = 0
    whole_herd: bool = False
    subsidy: SubsidyShares = field(default_factory=SubsidyShares)

    def __post_init__(self) -> None:
        _name(self.code, "code", MAX_CODE, "code")
        if self.sum_insured_per_head.minor <= 0:
            raise ProductError(
                f"{self.code}: the sum insured per head must be positive",
                field="sum_insured_per_head",
            )
        if self.deductible.currency != self.sum_insured_per_head.currency:
            raise ProductError(
                f"{self.code}: deductible and sum insured differ in currency",
                field="deductible",
            )
        if not 0 <= self.deductible.minor <= self.sum_insured_per_head.minor:
            raise ProductError(
                f"{self.code}: the deductible must be within the sum insured",
                field="deductible",
            )
        _days(self.code, "waiting_days", self.waiting_days)
        if not isinstance(self.whole_herd, bool):
            raise ProductError(
                f"{self.code}: whole_herd must be true or false, not "
                f"{shown(self.whole_herd)}",
                field="whole_herd",
            )
        _fraction(f"{self.code}: premium_rate", self.premium_rate, "premium_rate")


@dataclass(frozen=True)
class PremiumSplit:
    """A premium and who pays it; the parts add up exactly to the total."""

    sum_insured: Money
    total: Money
    farmer: Money
    central: Money
    provincial: Money
    county: Money


def premium_for(
    product: CropProduct | LivestockProduct, quantity: Decimal | int
) -> PremiumSplit:
    """The premium for ``quantity`` m2 (crop) or heads (livestock), split between payers.

    >>> corn = CropProduct("CORN", Money.parse("800"), "mu", Decimal("0.06"),
    ...                    subsidy=SubsidyShares(Decimal("0.4"), Decimal("0.25"), Decimal("0.15")))
    >>> split = premium_for(corn, Decimal(10_000) / Decimal(15) * 10)  # 10 mu
    >>> str(split.sum_insured), str(split.total), str(split.farmer), str(split.central)
    ('8000.00', '480.00', '96.00', '192.00')
    """
    if Decimal(quantity) < 0:
        raise ProductError("the insured quantity must be >= 0")
    if isinstance(product, CropProduct):
        insured = product.sum_insured(Decimal(quantity))
    else:
        insured = product.sum_insured_per_head.times(Decimal(quantity))
    total = insured.times(product.premium_rate)
    s = product.subsidy
    farmer, central, provincial, county = total.allocate(
        [s.farmer, s.central, s.provincial, s.county]
    )
    return PremiumSplit(insured, total, farmer, central, provincial, county)


Product = CropProduct | LivestockProduct


def product_to_dict(product: Product) -> dict[str, object]:
    """The product's terms as JSON-ready values (amounts and rates as strings).

    >>> cow = LivestockProduct("COW", Money.parse("8000"), Decimal("0.05"), Money.parse("200"),
    ...                        waiting_days=30)
    >>> product_from_dict(product_to_dict(cow)) == cow
    True
    """
    s = product.subsidy
    subsidy = {
        "central": str(s.central),
        "provincial": str(s.provincial),
        "county": str(s.county),
    }
    if isinstance(product, CropProduct):
        return {
            "kind": "crop",
            "code": product.code,
            "currency": product.sum_insured_per_unit.currency,
            "sum_insured_per_unit": str(product.sum_insured_per_unit),
            "unit": product.unit,
            "premium_rate": str(product.premium_rate),
            "deductible_rate": str(product.deductible_rate),
            "growth_stage_caps": {
                k: str(v) for k, v in product.growth_stage_caps.items()
            },
            "subsidy": subsidy,
            "scene_before_days": product.scene_before_days,
            "scene_after_days": product.scene_after_days,
            "calendars": {k: v.to_dict() for k, v in product.calendars.items()},
        }
    return {
        "kind": "livestock",
        "code": product.code,
        "currency": product.sum_insured_per_head.currency,
        "sum_insured_per_head": str(product.sum_insured_per_head),
        "premium_rate": str(product.premium_rate),
        "deductible": str(product.deductible),
        "waiting_days": product.waiting_days,
        "whole_herd": product.whole_herd,
        "subsidy": subsidy,
    }


def _number_text(value: object, key: str, field: str | None = None) -> str:
    """A term's number as text: a JSON string or number; anything else refused."""
    if value is None:
        raise ProductError(f"{key} is required", field=field or key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ProductError(
            f"{key} must be a number or a string of one, not {type(value).__name__}",
            field=field or key,
        )
    return str(value)


def _decimal(
    doc: dict[str, object],
    key: str,
    default: str | None = None,
    field: str | None = None,
) -> Decimal:
    """The number ``doc[key]`` (or ``default``); errors name ``field`` (default: ``key``)."""
    field = field or key
    text = _number_text(doc.get(key, default), key, field)
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise ProductError(
            f"{key}: {shown(text)} is not a number", field=field
        ) from exc
    if not value.is_finite():
        raise ProductError(f"{key}: {shown(text)} is not a finite number", field=field)
    return value


def _money(
    doc: dict[str, object], key: str, currency: str, default: str | None = None
) -> Money:
    text = _number_text(doc.get(key, default), key)
    try:
        return Money.parse(text, currency)
    except MoneyError as exc:
        raise ProductError(f"{key}: {exc}", field=key) from exc


def product_from_dict(doc: dict[str, object]) -> Product:
    """A product from :func:`product_to_dict`'s form (or an admin's JSON).

    Raises:
        ProductError: a term is missing, of the wrong type or out of range
            (``field`` names it; the message quotes at most 40 characters of it).
    """
    kind = doc.get("kind")
    code = doc.get("code")
    if code is None or code == "":
        raise ProductError("code is required", field="code")
    _name(code, "code", MAX_CODE, "code")
    assert isinstance(code, str)  # for mypy: _name refuses anything else
    currency = doc.get("currency", "CNY")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ProductError(
            f"currency must be an ISO 4217 code, not {shown(currency)}",
            field="currency",
        )
    raw_subsidy = doc.get("subsidy") or {}
    if not isinstance(raw_subsidy, dict):
        raise ProductError("subsidy must be an object of shares", field="subsidy")
    subsidy = SubsidyShares(
        _decimal(raw_subsidy, "central", "0", "subsidy"),
        _decimal(raw_subsidy, "provincial", "0", "subsidy"),
        _decimal(raw_subsidy, "county", "0", "subsidy"),
    )
    if kind == "crop":
        caps = doc.get("growth_stage_caps") or {}
        if not isinstance(caps, dict):
            raise ProductError(
                "growth_stage_caps must be an object of shares",
                field="growth_stage_caps",
            )
        unit = doc.get("unit", "mu")
        if not isinstance(unit, str) or unit not in M2_PER_UNIT:
            raise ProductError(
                f"unit must be mu or ha, not {shown(unit)}", field="unit"
            )
        days = {
            name: doc.get(name, 20)  # products stored before these terms: 20 days
            for name in ("scene_before_days", "scene_after_days")
        }
        for name, value in days.items():
            _days(code, name, value)
        raw_calendars = doc.get("calendars") or {}
        if not isinstance(raw_calendars, dict):
            raise ProductError(
                "calendars must be an object of calendars by region", field="calendars"
            )
        calendars = {}
        for region, calendar in raw_calendars.items():
            _name(region, "a calendar's region", _MAX_REGION, "calendars")
            try:
                calendars[str(region)] = CropCalendar.parse(calendar)
            except ProductError as exc:
                raise ProductError(
                    f"calendars.{region}: {exc}", field="calendars"
                ) from exc
        return CropProduct(
            code,
            _money(doc, "sum_insured_per_unit", currency),
            unit,  # type: ignore[arg-type]
            _decimal(doc, "premium_rate"),
            _decimal(doc, "deductible_rate", "0"),
            {str(k): _decimal(caps, k, None, "growth_stage_caps") for k in caps},
            subsidy,
            days["scene_before_days"],  # type: ignore[arg-type]
            days["scene_after_days"],  # type: ignore[arg-type]
            calendars,
        )
    if kind == "livestock":
        waiting = doc.get("waiting_days", 0)
        _days(code, "waiting_days", waiting)
        whole_herd = doc.get("whole_herd", False)
        if not isinstance(whole_herd, bool):
            raise ProductError(
                f"whole_herd must be true or false, not {shown(whole_herd)}",
                field="whole_herd",
            )
        return LivestockProduct(
            code,
            _money(doc, "sum_insured_per_head", currency),
            _decimal(doc, "premium_rate"),
            _money(doc, "deductible", currency, "0"),
            waiting,  # type: ignore[arg-type]
            whole_herd,
            subsidy,
        )
    raise ProductError(
        f"kind must be crop or livestock, not {shown(kind)}", field="kind"
    )
