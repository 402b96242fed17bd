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
from underwriting.errors import ProductError
from underwriting.money import Money

__all__ = [
    "M2_PER_UNIT",
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


def _fraction(name: str, value: Decimal) -> None:
    if not Decimal(0) <= value <= Decimal(1):
        raise ProductError(f"{name} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class SubsidyShares:
    """Shares of the premium paid by each subsidy payer; the farmer pays the rest."""

    central: Decimal = Decimal(0)
    provincial: Decimal = Decimal(0)
    county: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("central", "provincial", "county"):
            _fraction(name, getattr(self, name))
        _fraction(
            "the subsidies together", self.central + self.provincial + self.county
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
        if self.unit not in M2_PER_UNIT:
            raise ProductError(f"{self.code}: unit must be mu or ha, not {self.unit!r}")
        if self.sum_insured_per_unit.minor <= 0:
            raise ProductError(
                f"{self.code}: the sum insured per {self.unit} must be positive"
            )
        _fraction(f"{self.code}: premium_rate", self.premium_rate)
        _fraction(f"{self.code}: deductible_rate", self.deductible_rate)
        for stage, cap in self.growth_stage_caps.items():
            _fraction(f"{self.code}: cap of stage {stage!r}", cap)
        for name in ("scene_before_days", "scene_after_days"):
            days = getattr(self, name)
            if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                raise ProductError(f"{self.code}: {name} must be a whole number >= 0")

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
        if self.sum_insured_per_head.minor <= 0:
            raise ProductError(
                f"{self.code}: the sum insured per head must be positive"
            )
        if self.deductible.currency != self.sum_insured_per_head.currency:
            raise ProductError(
                f"{self.code}: deductible and sum insured differ in currency"
            )
        if not 0 <= self.deductible.minor <= self.sum_insured_per_head.minor:
            raise ProductError(
                f"{self.code}: the deductible must be within the sum insured"
            )
        if self.waiting_days < 0:
            raise ProductError(f"{self.code}: waiting_days must be >= 0")
        _fraction(f"{self.code}: premium_rate", self.premium_rate)


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


def _decimal(doc: dict[str, object], key: str, default: str | None = None) -> Decimal:
    value = doc.get(key, default)
    if value is None:
        raise ProductError(f"{key} is required")
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise ProductError(f"{key}: {value!r} is not a number") from exc


def product_from_dict(doc: dict[str, object]) -> Product:
    """A product from :func:`product_to_dict`'s form (or an admin's JSON).

    Raises:
        ProductError: a field is missing or invalid (the message names it).
        MoneyError: an amount is malformed.
    """
    kind = doc.get("kind")
    code = str(doc.get("code") or "")
    if not code:
        raise ProductError("code is required")
    currency = str(doc.get("currency", "CNY"))
    raw_subsidy = doc.get("subsidy") or {}
    if not isinstance(raw_subsidy, dict):
        raise ProductError("subsidy must be an object of shares")
    subsidy = SubsidyShares(
        _decimal(raw_subsidy, "central", "0"),
        _decimal(raw_subsidy, "provincial", "0"),
        _decimal(raw_subsidy, "county", "0"),
    )
    if kind == "crop":
        caps = doc.get("growth_stage_caps") or {}
        if not isinstance(caps, dict):
            raise ProductError("growth_stage_caps must be an object of shares")
        unit = str(doc.get("unit", "mu"))
        if unit not in M2_PER_UNIT:
            raise ProductError(f"unit must be mu or ha, not {unit!r}")
        days = {
            name: doc.get(name, 20)  # products stored before these terms: 20 days
            for name in ("scene_before_days", "scene_after_days")
        }
        for name, value in days.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ProductError(f"{name} must be a whole number of days")
        raw_calendars = doc.get("calendars") or {}
        if not isinstance(raw_calendars, dict):
            raise ProductError("calendars must be an object of calendars by region")
        calendars = {}
        for region, calendar in raw_calendars.items():
            try:
                calendars[str(region)] = CropCalendar.parse(calendar)
            except ProductError as exc:
                raise ProductError(f"calendars.{region}: {exc}") from exc
        return CropProduct(
            code,
            Money.parse(str(doc.get("sum_insured_per_unit", "")), currency),
            unit,  # type: ignore[arg-type]
            _decimal(doc, "premium_rate"),
            _decimal(doc, "deductible_rate", "0"),
            {str(k): _decimal(caps, k) for k in caps},
            subsidy,
            int(days["scene_before_days"]),  # type: ignore[call-overload]
            int(days["scene_after_days"]),  # type: ignore[call-overload]
            calendars,
        )
    if kind == "livestock":
        waiting = doc.get("waiting_days", 0)
        if not isinstance(waiting, int) or isinstance(waiting, bool):
            raise ProductError("waiting_days must be a whole number of days")
        return LivestockProduct(
            code,
            Money.parse(str(doc.get("sum_insured_per_head", "")), currency),
            _decimal(doc, "premium_rate"),
            Money.parse(str(doc.get("deductible", "0")), currency),
            waiting,
            bool(doc.get("whole_herd", False)),
            subsidy,
        )
    raise ProductError(f"kind must be crop or livestock, not {kind!r}")
