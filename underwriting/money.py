"""Money in integer minor units (fen, cents), never float.

>>> Money.parse("1234.565")
Money(minor=123456, currency='CNY')
>>> [str(m) for m in Money.parse("100.00").allocate([1, 1, 1])]
['33.34', '33.33', '33.33']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from underwriting.errors import MoneyError
from underwriting.text import shown as _shown

__all__ = ["MAX_MINOR", "Money"]

_CENT = Decimal("0.01")

MAX_MINOR = 2**53 - 1
"""The largest amount, in minor units (about 90 trillion in major units).

Every amount goes on the ledger as a JSON number, which RFC 8785 keeps exact up
to 2**53 - 1, and into 64-bit database columns; a larger one is refused where
it is made, naming it, instead of failing when it is written.
"""


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (1/100) of an ISO 4217 currency.

    Arithmetic between different currencies raises :class:`MoneyError`;
    multiplication by a Decimal rounds half to even, once, at the end. No
    amount is larger than :data:`MAX_MINOR` either way (:class:`MoneyError`).
    """

    minor: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(
                f"minor units must be an int, not {type(self.minor).__name__}"
            )
        if abs(self.minor) > MAX_MINOR:
            raise MoneyError(
                f"{self.minor:,} minor units is beyond the largest amount "
                f"({MAX_MINOR:,} minor units)"
            )
        if (
            len(self.currency) != 3
            or not self.currency.isalpha()
            or not self.currency.isupper()
        ):
            raise MoneyError(f"currency {self.currency!r} is not an ISO 4217 code")

    @classmethod
    def parse(cls, amount: str | Decimal | int, currency: str = "CNY") -> Money:
        """From major units (``"12.50"``), rounded half to even to the minor unit.

        Raises:
            MoneyError: a float, not a decimal number, not finite, or beyond
                :data:`MAX_MINOR` (the message quotes at most 40 characters of it).
        """
        if isinstance(amount, float):
            raise MoneyError("money is never a float: pass a string or Decimal")
        text = str(amount)
        shown = _shown(text)
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyError(f"{shown} is not an amount") from exc
        if not value.is_finite():
            raise MoneyError(f"{shown} is not a finite amount")
        # Decided on the exponent first: a number of a million digits is never
        # scaled, rounded or turned into an int.
        if value and value.adjusted() > 15:
            raise MoneyError(
                f"{shown} is beyond the largest amount ({Decimal(MAX_MINOR) * _CENT:,})"
            )
        return cls(int((value / _CENT).to_integral_value(ROUND_HALF_EVEN)), currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        """Nothing, in ``currency``."""
        return cls(0, currency)

    @property
    def amount(self) -> Decimal:
        """The amount in major units."""
        return Decimal(self.minor) * _CENT

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def times(self, factor: Decimal | int | str) -> Money:
        """This amount times ``factor`` (a Decimal, int or decimal string), rounded half to even."""
        if isinstance(factor, float):
            raise MoneyError("factors are Decimals, never floats")
        product = Decimal(self.minor) * Decimal(str(factor))
        return Money(int(product.to_integral_value(ROUND_HALF_EVEN)), self.currency)

    def max(self, other: Money) -> Money:
        """The larger of two amounts."""
        self._same(other)
        return self if self.minor >= other.minor else other

    def min(self, other: Money) -> Money:
        """The smaller of two amounts."""
        self._same(other)
        return self if self.minor <= other.minor else other

    def allocate(self, weights: Sequence[Decimal | int]) -> list[Money]:
        """Split into parts proportional to ``weights`` that add up exactly (largest remainder)."""
        total = sum(Decimal(w) for w in weights)
        if total <= 0 or any(Decimal(w) < 0 for w in weights):
            raise MoneyError("allocation weights must be >= 0 with a positive sum")
        exact = [Decimal(self.minor) * Decimal(w) / total for w in weights]
        floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
        left = self.minor - sum(floors)
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
        for i in order[:left]:
            floors[i] += 1
        return [Money(f, self.currency) for f in floors]

    def __str__(self) -> str:
        return f"{self.amount:.2f}"
