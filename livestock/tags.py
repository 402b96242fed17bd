"""Ear tags: ISO 11784 (15 digits) and China's national livestock identification scheme.

* ``iso11784``: 3-digit country code (ISO 3166 numeric 001-899, or 900-998
  for manufacturer codes) + 12-digit national ID.
* ``cn``: China's 15-digit animal identification code: species (1 digit: 1
  pig, 2 cattle, 3 sheep and goats) + county administrative code (6 digits) +
  serial number (8 digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from livestock.errors import TagError

__all__ = ["SCHEMES", "Tag", "parse_tag"]

Scheme = Literal["iso11784", "cn"]
SCHEMES: tuple[Scheme, ...] = ("iso11784", "cn")
_CN_SPECIES = {"1": "pig", "2": "cattle", "3": "sheep_goat"}


@dataclass(frozen=True, order=True)
class Tag:
    """A validated ear tag: its scheme and 15 digits."""

    scheme: Scheme
    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def parts(self) -> dict[str, str]:
        """The tag's fields, by scheme.

        >>> parse_tag("998230000006455").parts
        {'country': '998', 'national_id': '230000006455'}
        >>> parse_tag("241101001234567", "cn").parts
        {'species': 'cattle', 'county': '411010', 'serial': '01234567'}
        """
        if self.scheme == "iso11784":
            return {"country": self.value[:3], "national_id": self.value[3:]}
        return {
            "species": _CN_SPECIES[self.value[0]],
            "county": self.value[1:7],
            "serial": self.value[7:],
        }


def parse_tag(text: str, scheme: Scheme = "iso11784") -> Tag:
    """Validate a tag (spaces and dashes between digit groups are allowed).

    Raises:
        TagError: not 15 digits, an unknown scheme, or a field out of range.
    """
    if scheme not in SCHEMES:
        raise TagError(f"tag scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    digits = re.sub(r"[\s-]", "", str(text))
    if not digits.isdigit():
        raise TagError(f"tag {text!r}: only digits are allowed")
    if len(digits) != 15:
        raise TagError(f"tag {text!r}: {len(digits)} digits, a {scheme} tag has 15")
    if scheme == "iso11784":
        country = int(digits[:3])
        if country == 0 or country == 999:
            raise TagError(f"tag {text!r}: country code {digits[:3]} is not assigned")
    else:
        if digits[0] not in _CN_SPECIES:
            raise TagError(f"tag {text!r}: species code {digits[0]} is not 1, 2 or 3")
        province = int(digits[1:3])
        if not 11 <= province <= 82:
            raise TagError(f"tag {text!r}: county code {digits[1:7]} names no province")
    return Tag(scheme, digits)
