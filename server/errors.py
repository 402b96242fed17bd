"""The server's error root: what a service refuses, and why, in words a client can act on.

The API maps :class:`NotFoundError` to 404, :class:`InvalidInputError` to 422,
:class:`ForbiddenError` to 403 and :class:`ConflictError` to 409. Each carries
the field it is about (when there is one), so a client can show it next to
the input.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "ServiceError",
]


class ServiceError(Exception):
    """Root of the errors a service raises on a request it refuses."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, str]:
        """The JSON error body: ``detail`` (the problem) and ``field`` (when known)."""
        doc = {"detail": str(self)}
        if self.field:
            doc["field"] = self.field
        return doc


class NotFoundError(ServiceError):
    """The named record does not exist."""


class InvalidInputError(ServiceError):
    """The input is malformed or inconsistent (the field says which part)."""


class ForbiddenError(ServiceError):
    """The record exists but belongs to someone the caller may not act for."""


class ConflictError(ServiceError):
    """The record is not in a state that allows the operation."""
