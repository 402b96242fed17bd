"""Claims errors.

* ClaimsError
  + IndemnityError (also ValueError)   the inputs of an indemnity are out of range
"""

from __future__ import annotations

__all__ = ["ClaimsError", "IndemnityError"]


class ClaimsError(Exception):
    """Root of every error raised by the claims package."""


class IndemnityError(ClaimsError, ValueError):
    """An area, loss degree, stage or value given for an indemnity is out of range."""
