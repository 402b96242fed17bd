"""Underwriting: products, premiums and their split, money (pure, ports only).

Built so far: money in minor units, crop and livestock products, premium
splits between the farmer and subsidy payers, application checks and the
recommendation they add up to. Applications, storage and policies come with
the underwriting and claims issue.
"""

from underwriting.checks import Check, Recommendation, recommend, traffic_light
from underwriting.errors import MoneyError, ProductError, UnderwritingError
from underwriting.money import Money
from underwriting.products import (
    CropProduct,
    LivestockProduct,
    PremiumSplit,
    SubsidyShares,
    premium_for,
)

__all__ = [
    "Check",
    "CropProduct",
    "LivestockProduct",
    "Money",
    "MoneyError",
    "PremiumSplit",
    "ProductError",
    "Recommendation",
    "SubsidyShares",
    "UnderwritingError",
    "premium_for",
    "recommend",
    "traffic_light",
]
