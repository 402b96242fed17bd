"""Claims errors.

* ClaimsError
  + ClaimInputError (also ValueError)  a claim states something out of range (``field``)
  + IndemnityError (also ValueError)   the inputs of an indemnity are out of range
  + LifecycleError                     a claim may not move as asked
    + TransitionError                  its status does not allow the move
    + ReasonRequiredError              the move needs a written reason
    + FourEyesError                    the same person may not approve and pay
    + LimitError                       paying would pass a sum insured (``scope``)
    + NoticeError                      the public notice does not let it be paid yet (``check``)
  + DeviceKeyError (also ValueError)   a device key is not an EC P-256 public JWK
  + CaptureMessageError (also ValueError) a signed capture message is malformed
"""

from __future__ import annotations

from underwriting.checks import Check

__all__ = [
    "CaptureMessageError",
    "ClaimInputError",
    "ClaimsError",
    "DeviceKeyError",
    "FourEyesError",
    "IndemnityError",
    "LifecycleError",
    "LimitError",
    "NoticeError",
    "ReasonRequiredError",
    "TransitionError",
]


class ClaimsError(Exception):
    """Root of every error raised by the claims package."""


class ClaimInputError(ClaimsError, ValueError):
    """A claim states something the rules do not accept; ``field`` names the input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class IndemnityError(ClaimsError, ValueError):
    """An area, loss degree, stage or value given for an indemnity is out of range."""


class LifecycleError(ClaimsError):
    """A claim may not move where it was asked to (the subclass says why)."""


class TransitionError(LifecycleError):
    """The claim's status does not allow the move (already decided, not approved...)."""


class ReasonRequiredError(LifecycleError):
    """The decision needs a written reason (a rejection, a survey, an approval against a flag)."""


class FourEyesError(LifecycleError):
    """The person who approved a claim may not also record its payment."""


class LimitError(LifecycleError):
    """Paying the claim would pass a sum insured; ``scope`` names it (``plot``, ``policy``)."""

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


class NoticeError(LifecycleError):
    """The claim's public notice does not let it be paid yet; ``check`` says why (as data)."""

    def __init__(self, message: str, check: Check) -> None:
        super().__init__(message)
        self.check = check


class DeviceKeyError(ClaimsError, ValueError):
    """A device's public key is not an EC P-256 public JWK (the message names the member)."""


class CaptureMessageError(ClaimsError, ValueError):
    """A signed capture message is not in the form version 1 requires."""
