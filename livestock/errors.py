"""Livestock errors.

* LivestockError
  + ImageError (also ValueError)     a photo cannot be used: names the file and the reason
  + TagError (also ValueError)       an ear tag is malformed
  + ModelError                       weights missing, corrupt or of another version
  + RegistryError                    the registry refused an operation
    + UnknownAnimalError (also LookupError)
"""

from __future__ import annotations

__all__ = [
    "ImageError",
    "LivestockError",
    "ModelError",
    "RegistryError",
    "TagError",
    "UnknownAnimalError",
]


class LivestockError(Exception):
    """Root of every error raised by the livestock package."""


class ImageError(LivestockError, ValueError):
    """A photo cannot be used.

    Attributes:
        name: the file or upload name.
        reasons: machine-readable reason codes (e.g. ``blurred``, ``too_dark``).
    """

    def __init__(self, name: str, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.reasons = reasons


class TagError(LivestockError, ValueError):
    """An ear tag does not follow its numbering scheme."""


class ModelError(LivestockError):
    """Model weights are missing, corrupt (checksum mismatch) or incompatible."""


class RegistryError(LivestockError):
    """The registry refused an operation."""


class UnknownAnimalError(RegistryError, LookupError):
    """No animal is enrolled under that tag."""


class StaleTemplatesError(RegistryError):
    """An animal's templates come from another face-ID model and cannot be compared."""
