"""Whose record it is: the farmer a claim, policy, application or animal belongs to.

The access policy (``server.services.access``) decides who may see a record from
its owner's farmer id; the photo and history reads look that owner up here.
"""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import Column, Connection, select

from server.storage.schema import animals, applications, claims, policies

__all__ = ["OWNED_KINDS", "OwnedKind", "OwnerStore"]

OwnedKind = Literal["claim", "policy", "application", "animal"]
OWNED_KINDS: tuple[OwnedKind, ...] = get_args(OwnedKind)
"""The kinds of record that carry their farmer's id."""

_OWNERS: dict[str, tuple[Column[str], Column[str]]] = {
    "claim": (claims.c.farmer_id, claims.c.id),
    "policy": (policies.c.farmer_id, policies.c.id),
    "application": (applications.c.farmer_id, applications.c.id),
    "animal": (animals.c.farm, animals.c.tag),
}


class OwnerStore:
    """The owner's farmer id of a record, by the record's kind and id."""

    def farmer_of(
        self, conn: Connection, kind: OwnedKind, record_id: str
    ) -> str | None:
        """The farmer ``kind`` ``record_id`` belongs to (an animal's farm); None if none.

        Raises:
            ValueError: ``kind`` is not one of :data:`OWNED_KINDS`.
        """
        owner = _OWNERS.get(kind)
        if owner is None:
            raise ValueError(f"{kind!r} records carry no farmer id")
        farmer, key = owner
        found: str | None = conn.execute(
            select(farmer).where(key == record_id)
        ).scalar()
        return found
