"""Underwriting: the insurance rules before a policy is issued (pure, no I/O).

Owns money in minor units, crop and livestock products and their premium
splits, the checks on an application (plot geometry and area, overlaps,
double insurance of plots and animals, whole herd, the policy period) with
the recommendation they add up to, and the decision rule. It does not store
applications or policies, read files or call the face-ID registry: the
server gathers those values and calls these functions.
"""

from underwriting.applications import (
    DECIDABLE,
    MAX_PERIOD_DAYS,
    ApplicationStatus,
    Decision,
    InsuredAnimal,
    InsuredOverlap,
    check_animal_double_insurance,
    check_enrolled_animal,
    check_plot_double_insurance,
    check_plot_geometry,
    check_plot_overlaps,
    check_whole_herd,
    concerns_plot,
    decide,
    insured_twice,
    periods_overlap,
    validate_period,
    verify_no_double_insurance,
)
from underwriting.checks import (
    Check,
    Light,
    Param,
    Recommendation,
    check_animal,
    check_double_insurance,
    check_plot_area,
    recommend,
    traffic_light,
)
from underwriting.errors import (
    ApplicationError,
    DecisionConflictError,
    DoubleInsuranceError,
    MoneyError,
    ProductError,
    UnderwritingError,
)
from underwriting.money import Money
from underwriting.products import (
    CropProduct,
    LivestockProduct,
    PremiumSplit,
    Product,
    SubsidyShares,
    premium_for,
    product_from_dict,
    product_to_dict,
)

__all__ = [
    "DECIDABLE",
    "MAX_PERIOD_DAYS",
    "ApplicationError",
    "ApplicationStatus",
    "Check",
    "CropProduct",
    "Decision",
    "DecisionConflictError",
    "DoubleInsuranceError",
    "InsuredAnimal",
    "InsuredOverlap",
    "Light",
    "LivestockProduct",
    "Money",
    "MoneyError",
    "Param",
    "PremiumSplit",
    "Product",
    "ProductError",
    "Recommendation",
    "SubsidyShares",
    "UnderwritingError",
    "check_animal",
    "check_animal_double_insurance",
    "check_double_insurance",
    "check_enrolled_animal",
    "check_plot_area",
    "check_plot_double_insurance",
    "check_plot_geometry",
    "check_plot_overlaps",
    "check_whole_herd",
    "concerns_plot",
    "decide",
    "insured_twice",
    "periods_overlap",
    "premium_for",
    "product_from_dict",
    "product_to_dict",
    "recommend",
    "traffic_light",
    "validate_period",
    "verify_no_double_insurance",
]
