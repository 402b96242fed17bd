"""Underwriting: products, premiums and their split, money (pure, ports only).

Built so far: money in minor units, crop and livestock products, premium
splits between the farmer and subsidy payers. Applications, checks and
policies come with the underwriting and claims issue.
"""

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
    "CropProduct",
    "LivestockProduct",
    "Money",
    "MoneyError",
    "PremiumSplit",
    "ProductError",
    "SubsidyShares",
    "UnderwritingError",
    "premium_for",
]
