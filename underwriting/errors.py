"""Underwriting errors.

* UnderwritingError
  + MoneyError (also ValueError)        an amount or currency is malformed or mixed
  + ProductError (also ValueError)      a product's terms are inconsistent
  + ApplicationError (also ValueError)  an application or a decision is malformed
  + DecisionConflictError               the application is not in a state to decide
  + DoubleInsuranceError                a plot or an animal is insured by a policy in force
"""

from __future__ import annotations

__all__ = [
    "ApplicationError",
    "DecisionConflictError",
    "DoubleInsuranceError",
    "MoneyError",
    "ProductError",
    "UnderwritingError",
]


class UnderwritingError(Exception):
    """Root of every error raised by the underwriting package."""


class MoneyError(UnderwritingError, ValueError):
    """An amount, factor or currency is malformed, or two currencies are mixed."""


class ProductError(UnderwritingError, ValueError):
    """A product's terms are out of range or inconsistent.

    Attributes:
        field: the term at fault (``premium_rate``, ``code``...), when one is.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ApplicationError(UnderwritingError, ValueError):
    """An application or a decision on it is malformed.

    Attributes:
        field: the input at fault (``end_date``, ``decision``, ``reason``...).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class DecisionConflictError(UnderwritingError):
    """The application was already approved or declined: it cannot be decided again.

    Attributes:
        status: the application's current status.
    """

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class DoubleInsuranceError(UnderwritingError):
    """A plot or an animal of the application is insured by a policy in force.

    Attributes:
        field: ``plots`` or ``animals``.
        subject: the plot id or animal tag of the application.
        policy_id: the policy that insures it already.
    """

    def __init__(
        self, message: str, *, field: str, subject: str, policy_id: str
    ) -> None:
        super().__init__(message)
        self.field = field
        self.subject = subject
        self.policy_id = policy_id
