"""What a portfolio's sums mean: its dimensions, loss ratios, and when a decision overrode a check.

Pure rules over plain values. The server sums premiums, sums insured and
claims in SQL, grouped by these dimensions (``server/storage/report_store.py``),
and calls these functions for what the sums mean:

* **Dimensions** (:data:`DIMENSIONS`): ``region`` (the farmer's county or
  region), ``product`` (the product code), ``peril`` (what the policy insures
  against, by the product's kind: :data:`PERILS`) and ``month`` (``YYYY-MM``: of
  the policy's first day for premium and sum insured, of the loss day for
  claims). Every group is also one currency: money of two currencies is never
  added up.
* **Loss ratios** (:func:`loss_ratios`): paid / premium, and incurred /
  premium where incurred is paid plus approved and not yet paid; None where
  the premium is zero (no ratio, rather than infinity).
* **Overrides** (:func:`override_of`): a decided record (a claim approved,
  paid or rejected; an application approved or declined) whose decision went
  against a check's light: approved although the check was red, or declined
  although every check of the record was green. An amber check asks for a
  person's judgement: neither decision goes against it. A record's decision is
  its latest decision event on the ledger (:data:`DECISION_EVENTS`); its status
  is written in the same transaction as that event, so the status says it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, get_args

from claims.errors import ClaimInputError

__all__ = [
    "DECIDED_AGAINST",
    "DECIDED_FOR",
    "DECISION_EVENTS",
    "DIMENSIONS",
    "PERILS",
    "RATIO_PLACES",
    "Dimension",
    "Family",
    "LossRatios",
    "Override",
    "loss_ratios",
    "override_of",
    "override_rate",
    "parse_dimensions",
    "ratio",
]

Dimension = Literal["region", "product", "peril", "month"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
"""What a portfolio can be grouped by, in any combination (currency always)."""

PERILS: Mapping[str, str] = {"crop": "crop_loss", "livestock": "animal_death"}
"""The peril a policy insures against, by its product's kind: a crop's loss
(``crop_loss``) or an animal's death (``animal_death``), the words a claim's
public notice uses. Claims state no finer cause (hail, flood, disease) yet."""

RATIO_PLACES = 4
"""Decimal places of a ratio (0.6250), rounded half to even."""

Family = Literal["claim", "application"]
"""The records that carry checks: claims (adjusters) and applications (underwriters)."""

Override = Literal["approved_despite_red", "declined_despite_green"]

DECIDED_FOR: Mapping[Family, frozenset[str]] = {
    "claim": frozenset({"approved", "paid"}),
    "application": frozenset({"approved"}),
}
"""Statuses of a record decided in the farmer's favour (a paid claim was approved)."""

DECIDED_AGAINST: Mapping[Family, frozenset[str]] = {
    "claim": frozenset({"rejected"}),
    "application": frozenset({"declined"}),
}
"""Statuses of a record decided against the farmer."""

DECISION_EVENTS: Mapping[str, tuple[Family, str]] = {
    "claim.approved": ("claim", "approved"),
    "claim.rejected": ("claim", "rejected"),
    "claim.survey_requested": ("claim", "survey"),
    "application.approved": ("application", "approved"),
    "application.declined": ("application", "declined"),
    "application.referred": ("application", "referred"),
}
"""The ledger's decision events and the status each leaves its record in. A
survey request or a referral reopens the record: it is no decision for or
against, and a later event decides."""


def parse_dimensions(text: str | None) -> tuple[Dimension, ...]:
    """The dimensions named in ``text`` (``"region,month"``), in the order given, once each.

    None or an empty text is no dimension (one group per currency).

    Raises:
        ClaimInputError: a name that is not one of :data:`DIMENSIONS` (field ``by``).
    """
    found: list[Dimension] = []
    for part in text.split(",") if text else []:
        name = part.strip()
        if name not in DIMENSIONS:
            shown = repr(name[:40]) if name else "an empty name"
            raise ClaimInputError(
                f"by: {shown} is not one of {', '.join(DIMENSIONS)}", "by"
            )
        dimension: Dimension = name  # narrowed by the membership test above
        if dimension not in found:
            found.append(dimension)
    return tuple(found)


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """``numerator / denominator`` to :data:`RATIO_PLACES` places; None if ``denominator <= 0``."""
    if denominator <= 0:
        return None
    exact = Decimal(numerator) / Decimal(denominator)
    return exact.quantize(Decimal(1).scaleb(-RATIO_PLACES), ROUND_HALF_EVEN)


@dataclass(frozen=True)
class LossRatios:
    """A group's loss ratios (None: no premium in the group).

    Attributes:
        paid: paid claims / premium.
        incurred: (paid + approved and not yet paid) / premium.
    """

    paid: Decimal | None
    incurred: Decimal | None


def loss_ratios(
    premium_minor: int, paid_minor: int, approved_unpaid_minor: int
) -> LossRatios:
    """The loss ratios of one group; all amounts in minor units of one currency.

    Precondition: the amounts are sums of the same group and currency.
    """
    return LossRatios(
        ratio(paid_minor, premium_minor),
        ratio(paid_minor + approved_unpaid_minor, premium_minor),
    )


def override_of(
    family: Family, status: str, check_light: str, record_light: str | None
) -> Override | None:
    """Whether a decision on a record went against one of its checks, and how.

    Args:
        family: ``claim`` or ``application``.
        status: the record's status now (its latest decision).
        check_light: the light of the check in question.
        record_light: the record's own light (the worst of its checks).

    Returns:
        ``approved_despite_red`` when the record was decided for the farmer
        while the check was red; ``declined_despite_green`` when it was decided
        against the farmer while every check was green (the record's light);
        None otherwise (undecided, amber, or a decision that followed a light).
    """
    if status in DECIDED_FOR[family] and check_light == "red":
        return "approved_despite_red"
    if status in DECIDED_AGAINST[family] and record_light == "green":
        return "declined_despite_green"
    return None


def override_rate(
    overridden: int, decided_red: int, decided_green: int
) -> Decimal | None:
    """The share of decisions a check could be overridden in that went against it.

    A check can be overridden where it was red (by an approval) or where its
    record was all green (by a decline): ``overridden / (decided_red +
    decided_green)``, None when there was no such decision.
    """
    return ratio(overridden, decided_red + decided_green)
