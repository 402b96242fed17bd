"""Money: integer minor units, half-even rounding, exact allocation, no floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from underwriting import Money, MoneyError


def test_parse_rounds_half_to_even_and_refuses_floats() -> None:
    assert Money.parse("0.125").minor == 12
    assert Money.parse("0.135").minor == 14
    assert Money.parse(7).minor == 700
    with pytest.raises(MoneyError, match="never a float"):
        Money.parse(0.1)  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="not an amount"):
        Money.parse("ten")
    with pytest.raises(MoneyError, match="finite"):
        Money.parse("NaN")


def test_arithmetic_keeps_currencies_apart() -> None:
    a, b = Money.parse("10.00"), Money.parse("2.50")
    assert (a + b).minor == 1250 and (a - b).minor == 750
    assert a.times(Decimal("0.333")).minor == 333
    assert str(a.min(b)) == "2.50" and str(a.max(b)) == "10.00"
    with pytest.raises(MoneyError, match="CNY and EUR"):
        a + Money.parse("1", "EUR")
    with pytest.raises(MoneyError, match="ISO 4217"):
        Money(1, "yuan")
    with pytest.raises(MoneyError, match="never floats"):
        a.times(0.5)  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=6).filter(
        any
    ),
)
def test_allocation_adds_up_exactly(minor: int, weights: list[int]) -> None:
    parts = Money(minor).allocate(weights)
    assert sum(p.minor for p in parts) == minor
    total = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part.minor - minor * w / total) < 1


def test_allocation_needs_positive_weights() -> None:
    with pytest.raises(MoneyError):
        Money(100).allocate([0, 0])
