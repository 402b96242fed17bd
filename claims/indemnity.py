"""Indemnity arithmetic, shown as a breakdown a farmer and an adjuster can follow.

* Crops: sum insured per area x damaged area x loss degree, capped by the
  growth stage's cap (a share of the sum insured of the damaged area), minus
  the deductible (a share of that amount).
* Livestock: min(sum insured per head, declared market value) minus the
  deductible, never below zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from claims.errors import IndemnityError
from underwriting.checks import Param
from underwriting.money import Money
from underwriting.products import CropProduct, LivestockProduct

__all__ = [
    "Indemnity",
    "Line",
    "crop_indemnity",
    "livestock_indemnity",
    "payable_fraction",
]


class Line(NamedTuple):
    """One step of an indemnity: its label's message key, its value, the label's params.

    ``key`` is a catalogue key (``indemnity.loss``); ``value`` is
    language-free (an amount as ``Money`` prints it, a number); ``params``
    fill the label (``unit``: ``mu`` or ``ha``; ``stage``: a growth stage).
    """

    key: str
    value: str
    params: Mapping[str, Param] = {}


@dataclass(frozen=True)
class Indemnity:
    """The amount payable and how it was reached, line by line."""

    amount: Money
    lines: tuple[Line, ...]


def payable_fraction(claimed: float, measured: float) -> float:
    """The damaged share of a plot that is paid: the lesser of claimed and measured.

    A farmer is never paid for more than the imagery measures, nor for more
    than they claimed. Both are shares of the plot in [0, 1].

    Raises:
        IndemnityError: a share outside [0, 1] (or NaN).
    """
    for name, value in (("claimed", claimed), ("measured", measured)):
        if not 0.0 <= value <= 1.0:
            raise IndemnityError(
                f"the {name} damaged share must be in [0, 1], not {value}"
            )
    return min(claimed, measured)


def crop_indemnity(
    product: CropProduct,
    *,
    damaged_area_m2: Decimal,
    insured_area_m2: Decimal,
    loss_degree: Decimal,
    growth_stage: str | None = None,
) -> Indemnity:
    """Indemnity for a crop loss measured on ``damaged_area_m2`` of an insured plot.

    Raises:
        IndemnityError: negative area, damaged area above the insured area, a
            loss degree outside [0, 1], or an unknown growth stage.
    """
    damaged = Decimal(damaged_area_m2)
    insured = Decimal(insured_area_m2)
    degree = Decimal(loss_degree)
    if damaged < 0 or insured <= 0:
        raise IndemnityError("areas must be positive")
    if damaged > insured:
        raise IndemnityError(
            f"damaged area {damaged:.1f} m2 is above the insured area {insured:.1f} m2"
        )
    if not Decimal(0) <= degree <= Decimal(1):
        raise IndemnityError(f"loss degree must be between 0 and 1, not {degree}")
    units = product.units(damaged)
    at_risk = product.sum_insured_per_unit.times(units)
    gross = at_risk.times(degree)
    unit: dict[str, Param] = {"unit": product.unit}
    lines = [
        Line("indemnity.sum_insured_per_unit", str(product.sum_insured_per_unit), unit),
        Line("indemnity.damaged_area", f"{units:.4f}", unit),
        Line("indemnity.loss_degree", f"{degree}"),
        Line("indemnity.loss", str(gross)),
    ]
    if growth_stage is not None:
        if growth_stage not in product.growth_stage_caps:
            raise IndemnityError(
                f"growth stage {growth_stage!r} is not one of "
                f"{', '.join(sorted(product.growth_stage_caps)) or 'the product'}"
            )
        cap = at_risk.times(product.growth_stage_caps[growth_stage])
        gross = gross.min(cap)
        lines.append(Line("indemnity.stage_cap", str(cap), {"stage": growth_stage}))
    deductible = gross.times(product.deductible_rate)
    amount = (gross - deductible).max(Money.zero(gross.currency))
    lines += [
        Line("indemnity.deductible", str(deductible)),
        Line("indemnity.amount", str(amount)),
    ]
    return Indemnity(amount, tuple(lines))


def livestock_indemnity(product: LivestockProduct, *, market_value: Money) -> Indemnity:
    """Indemnity for one animal: min(sum insured per head, market value) - deductible."""
    if market_value.minor < 0:
        raise IndemnityError("the market value must be >= 0")
    basis = product.sum_insured_per_head.min(market_value)
    amount = (basis - product.deductible).max(Money.zero(basis.currency))
    lines = (
        Line("indemnity.sum_insured_per_head", str(product.sum_insured_per_head)),
        Line("indemnity.market_value", str(market_value)),
        Line("indemnity.basis", str(basis)),
        Line("indemnity.deductible", str(product.deductible)),
        Line("indemnity.amount", str(amount)),
    )
    return Indemnity(amount, lines)
