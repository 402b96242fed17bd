"""Underwriting errors.

* UnderwritingError
  + MoneyError (also ValueError)       an amount or currency is malformed or mixed
  + ProductError (also ValueError)     a product's terms are inconsistent
"""

from __future__ import annotations

__all__ = ["MoneyError", "ProductError", "UnderwritingError"]


class UnderwritingError(Exception):
    """Root of every error raised by the underwriting package."""


class MoneyError(UnderwritingError, ValueError):
    """An amount, factor or currency is malformed, or two currencies are mixed."""


class ProductError(UnderwritingError, ValueError):
    """A product's terms are out of range or inconsistent."""
