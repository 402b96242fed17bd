"""Field agents' devices in the database: register, read, revoke, list.

Every function works on the caller's connection, so a device change and its
ledger event commit or roll back together. A device row is never deleted: a
revoked device keeps its key, so photos it signed before stay checkable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, select, true, update

from server.storage.paging import Page, page_rows
from server.storage.schema import devices

__all__ = ["DeviceRecord", "DeviceStore"]


@dataclass(frozen=True)
class DeviceRecord:
    """A registered device.

    Attributes:
        id: ``dev_`` and 32 hex digits.
        agent: the username of the field agent it belongs to.
        public_key: its EC P-256 public JWK (crv, kty, x, y).
        thumbprint: the key's RFC 7638 SHA-256 thumbprint (base64url).
        label: what the agent calls it.
        status: ``active``, ``pending`` (awaiting an admin's approval) or ``revoked``.
        registered_at: when it was registered (aware UTC).
        revoked_at: when it was revoked (aware UTC), if it was.
        revoked_by: the username who revoked it, if anyone did.
    """

    id: str
    agent: str
    public_key: dict[str, str]
    thumbprint: str
    label: str
    status: Literal["active", "pending", "revoked"]
    registered_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None


def _record(row: Any) -> DeviceRecord:
    return DeviceRecord(
        id=row.id,
        agent=row.agent,
        public_key=dict(json.loads(row.public_key)),
        thumbprint=row.thumbprint,
        label=row.label,
        status=row.status,
        registered_at=row.registered_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class DeviceStore:
    """The ``devices`` table; every method runs on the caller's connection."""

    @staticmethod
    def new_id() -> str:
        """A fresh device id: ``dev_`` and 32 random hex digits."""
        return f"dev_{uuid.uuid4().hex}"

    def insert(self, conn: Connection, record: DeviceRecord) -> None:
        """Store a new device (the thumbprint is unique: a second insert fails)."""
        conn.execute(
            devices.insert().values(
                id=record.id,
                agent=record.agent,
                public_key=json.dumps(record.public_key, sort_keys=True),
                thumbprint=record.thumbprint,
                label=record.label,
                status=record.status,
                registered_at=record.registered_at,
                revoked_at=record.revoked_at,
                revoked_by=record.revoked_by,
            )
        )

    def get(
        self, conn: Connection, device_id: str, *, for_update: bool = False
    ) -> DeviceRecord | None:
        """The device ``device_id``, or None; ``for_update`` locks its row."""
        query = select(devices).where(devices.c.id == device_id)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def by_thumbprint(self, conn: Connection, thumbprint: str) -> DeviceRecord | None:
        """The device whose key has ``thumbprint``, or None."""
        row = conn.execute(
            select(devices).where(devices.c.thumbprint == thumbprint)
        ).first()
        return _record(row) if row is not None else None

    def many(
        self, conn: Connection, ids: Iterable[str], *, for_share: bool = False
    ) -> dict[str, DeviceRecord]:
        """The devices among ``ids`` that exist, by id (one query).

        ``for_share`` locks their rows against change (PostgreSQL ``FOR
        SHARE``) until the caller's transaction ends: a revocation waits for
        it. SQLite has no row locks and needs none (one writer at a time).
        """
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = select(devices).where(devices.c.id.in_(wanted)).order_by(devices.c.id)
        if for_share:
            query = query.with_for_update(read=True)
        rows = conn.execute(query).all()
        return {r.id: _record(r) for r in rows}

    def revoked_by_another(self, conn: Connection, agent: str) -> bool:
        """True when one of ``agent``'s devices was revoked by someone else (an admin)."""
        found = conn.execute(
            select(devices.c.id)
            .where(
                devices.c.agent == agent,
                devices.c.status == "revoked",
                devices.c.revoked_by != agent,
            )
            .limit(1)
        ).first()
        return found is not None

    def approve(self, conn: Connection, device_id: str) -> bool:
        """Mark a pending device active; False when it was not pending (nothing changed)."""
        done = conn.execute(
            update(devices)
            .where(devices.c.id == device_id, devices.c.status == "pending")
            .values(status="active")
        )
        return done.rowcount == 1

    def has_any(self, conn: Connection, agent: str) -> bool:
        """True when ``agent`` has registered any device (active, pending or revoked)."""
        found = conn.execute(
            select(devices.c.id).where(devices.c.agent == agent).limit(1)
        ).first()
        return found is not None

    def revoke(
        self, conn: Connection, device_id: str, *, by: str, at: datetime
    ) -> bool:
        """Mark an active or pending device revoked; False when it was already revoked."""
        done = conn.execute(
            update(devices)
            .where(devices.c.id == device_id, devices.c.status != "revoked")
            .values(status="revoked", revoked_at=at, revoked_by=by)
        )
        return done.rowcount == 1

    def page(
        self, conn: Connection, agent: str | None, offset: int, limit: int
    ) -> Page:
        """Devices (of ``agent``, or all), newest registration first, one page."""
        where = devices.c.agent == agent if agent is not None else true()
        order = [devices.c.registered_at.desc(), devices.c.id]
        rows, total = page_rows(conn, devices, where, order, offset, limit)
        return Page([_record(r) for r in rows], total, offset, limit)
