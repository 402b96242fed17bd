"""Field agents' devices and the capture signatures of the photos they send.

A device is the phone of a field agent: an EC P-256 public key that the
agent's login registers, active at once (the authenticated agent is the
approval) unless an admin has revoked one of the agent's devices before:
the agent's new devices are then ``pending`` until an admin approves them
(their photos are amber meanwhile). Registering the same key again gives the
same device; a key already registered to another agent is refused. A device
is revoked by an admin or by its agent, and stays revoked.

Each photo sent with a signed message gets a verdict (``claims.capture``):
green, amber (unsigned, picked from the phone's files, or signed on a device
awaiting approval) or red. :meth:`DeviceService.verdicts` reads the devices
with a share lock (PostgreSQL ``FOR SHARE``) on the connection it is given:
in the transaction that stores the photos, a revocation then waits for that
transaction to end, so the photos are stored before the device is revoked or
not at all. A caller that judges the photos on another connection (before a
long model computation) calls :meth:`DeviceService.confirm` in the storing
transaction, which re-reads the devices under that lock and refuses the
photos when a device changed since.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection

from claims import (
    CaptureMessageError,
    CaptureVerdict,
    DeviceKey,
    DeviceKeyError,
    capture_verdict,
    jwk_thumbprint,
    parse_public_jwk,
    parse_signed_capture,
)
from ledger import Event
from livestock import Registry
from server.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from server.services.ledger import LedgerService
from server.services.underwriting import plain_text
from server.services.work import reading
from server.storage.animal_store import SqlTemplateStore
from server.storage.device_store import DeviceRecord, DeviceStore
from server.storage.locks import lock
from server.storage.paging import Page

__all__ = [
    "MAX_LABEL",
    "DeviceRecord",
    "DeviceService",
    "Gallery",
    "GalleryAnimal",
    "SignedPhoto",
    "gallery",
]


MAX_LABEL = 200
"""The longest label of a device, in characters (the API's limit)."""


@dataclass(frozen=True)
class SignedPhoto:
    """One photo as received, with what came with it to prove its capture.

    Attributes:
        data: the exact bytes received (or the file holding them).
        signed: the signed message sent with it, or None.
        signature: the message's signature (P1363, base64url), or None.
        stated_at: a capture time the upload also states unsigned (aware), if any.
        stated_place: a (lat, lon) in degrees the upload also states unsigned, if any.
    """

    data: bytes | Path
    signed: str | None = None
    signature: str | None = None
    stated_at: datetime | None = None
    stated_place: tuple[float, float] | None = None


@dataclass(frozen=True)
class GalleryAnimal:
    """An enrolled animal as the agent's app matches against it offline.

    Attributes:
        tag: its ear tag.
        farmer_id: the farmer it is enrolled to.
        templates: its face templates (L2-normalised, 128 floats each): the
            registry's gallery of the animal, the enrolment session's template
            first, then one per verified later session.
    """

    tag: str
    farmer_id: str
    templates: list[list[float]]


@dataclass(frozen=True)
class Gallery:
    """One page of the agent's gallery: the model the templates come from, and animals.

    Attributes:
        model_name: the face-ID weights' name (the app's model must be exported from them).
        model_sha256: their SHA-256.
        animals: the page's animals.
        next: the cursor of the next page, None on the last.
    """

    model_name: str
    model_sha256: str
    animals: list[GalleryAnimal]
    next: str | None


def gallery(registry: Registry, cursor: str | None, limit: int) -> Gallery:
    """One page of the enrolled animals in tag order, after ``cursor`` (a tag).

    Every enrolled animal is listed: the project does not assign agents to
    farms, so any field agent may meet any insured animal.

    Raises:
        StaleTemplatesError: some animals' templates are of another face-ID
            model (not comparable with the app's): re-embed them first.
    """
    registry.require_no_stale()
    store = registry.store
    if not isinstance(store, SqlTemplateStore):  # pragma: no cover - wiring error
        raise TypeError("the registry must store templates in the database")
    records, after = store.page_after(cursor, limit)
    if any(r.model != registry.model for r in records):  # written by another process
        registry.rebuild_index()
        registry.require_no_stale()
    manifest = registry.faceid.manifest
    return Gallery(
        manifest.name,
        manifest.sha256,
        [
            GalleryAnimal(
                r.tag.value,
                r.farm,
                # The enrolment's template, then each verified later session's.
                [[float(x) for x in t] for t in r.gallery.astype(np.float32).tolist()],
            )
            for r in records
        ],
        after,
    )


def _sha256(data: bytes | Path) -> str:
    """Lower-case hex SHA-256 of the bytes (read from the file for a path)."""
    return hashlib.sha256(
        data if isinstance(data, bytes) else data.read_bytes()
    ).hexdigest()


def _key(record: DeviceRecord) -> DeviceKey:
    return DeviceKey(
        record.id, record.agent, record.public_key, record.status, record.revoked_at
    )


class DeviceService:
    """Register, list and revoke devices; judge the capture signatures of photos."""

    def __init__(self, ledger: LedgerService) -> None:
        """Work on the ledger's database; every change appends its ledger event."""
        self.ledger = ledger
        self.engine = ledger.store.engine
        self.store = DeviceStore()

    def _event(
        self,
        conn: Connection,
        kind: str,
        device: DeviceRecord,
        actor: str,
        **payload: Any,
    ) -> None:
        self.ledger.append_events(
            conn,
            [
                Event(
                    kind,
                    {"device": device.id, "agent": device.agent},
                    actor,
                    self.ledger.clock(),
                    payload,
                )
            ],
        )

    def register(
        self,
        *,
        agent: str,
        public_key: object,
        label: str,
        conn: Connection | None = None,
    ) -> tuple[DeviceRecord, bool]:
        """Register ``agent``'s device by its public key; returns (device, whether new).

        The same key sent again returns the device it registered (as it is
        now: a revoked device stays revoked; register a new key instead). A
        new device is ``active``, or ``pending`` (until an admin approves it)
        when an admin has revoked a device of the agent before.

        Raises:
            InvalidInputError: not an EC P-256 public JWK, a private key, or a
                label that is blank, over :data:`MAX_LABEL` characters or holds a
                control character (field ``public_key`` / ``label``).
            ConflictError: the key is registered to another agent.
        """
        try:
            jwk = parse_public_jwk(public_key)
        except DeviceKeyError as exc:
            raise InvalidInputError(str(exc), field="public_key") from exc
        label = plain_text(label.strip(), "label", most=MAX_LABEL)
        thumbprint = jwk_thumbprint(jwk)
        with self.ledger.transaction(conn) as c:
            lock(c, f"device:{thumbprint}")  # two registrations of one key: one device
            found = self.store.by_thumbprint(c, thumbprint)
            if found is not None:
                if found.agent != agent:
                    raise ConflictError(
                        "this public key is registered to another agent's device",
                        field="public_key",
                    )
                return found, False
            # After an admin's revocation the agent's login no longer suffices.
            pending = self.store.revoked_by_another(c, agent)
            device = DeviceRecord(
                id=self.store.new_id(),
                agent=agent,
                public_key=jwk,
                thumbprint=thumbprint,
                label=label,
                status="pending" if pending else "active",
                registered_at=datetime.now(UTC),
            )
            self.store.insert(c, device)
            self._event(
                c,
                "device.registered",
                device,
                agent,
                label=label,
                thumbprint=thumbprint,
                public_key=jwk,
                status=device.status,
            )
        return device, True

    def approve(
        self, device_id: str, *, actor: str, conn: Connection | None = None
    ) -> DeviceRecord:
        """An admin approves a pending device: it becomes active (``device.approved``).

        An active device is returned as it is.

        Raises:
            NotFoundError: no such device.
            ConflictError: the device is revoked (a revoked device stays revoked).
        """
        with self.ledger.transaction(conn) as c:
            device = self.store.get(c, device_id, for_update=True)
            if device is None:
                raise NotFoundError(f"no device {device_id}", field="device_id")
            if device.status == "revoked":
                raise ConflictError(
                    f"device {device_id} is revoked: it cannot be approved",
                    field="device_id",
                )
            if device.status == "active":
                return device
            self.store.approve(c, device_id)
            approved = self.store.get(c, device_id)
            assert approved is not None  # the row is locked above
            self._event(c, "device.approved", approved, actor, label=device.label)
        return approved

    def devices(self, *, agent: str | None, offset: int = 0, limit: int = 50) -> Page:
        """Devices of ``agent`` (or every agent's, for None), newest first."""
        with reading(self.engine) as conn:
            return self.store.page(conn, agent, offset, limit)

    def revoke(
        self,
        device_id: str,
        *,
        actor: str,
        any_agent: bool,
        conn: Connection | None = None,
    ) -> DeviceRecord:
        """Revoke a device; a device already revoked is returned as it is.

        Args:
            device_id: the device.
            actor: who revokes it (its agent, or an admin).
            any_agent: True for an admin, who may revoke any agent's device.
            conn: a connection whose transaction to write in (idempotent requests).

        Raises:
            NotFoundError: no such device.
            ForbiddenError: the device is another agent's and ``any_agent`` is False.
        """
        with self.ledger.transaction(conn) as c:
            device = self.store.get(c, device_id, for_update=True)
            if device is None:
                raise NotFoundError(f"no device {device_id}", field="device_id")
            if not any_agent and device.agent != actor:
                raise ForbiddenError(f"device {device_id} belongs to another agent")
            if device.status == "revoked":
                return device
            now = datetime.now(UTC)
            self.store.revoke(c, device_id, by=actor, at=now)
            revoked = self.store.get(c, device_id)
            assert revoked is not None  # the row is locked above
            self._event(c, "device.revoked", revoked, actor, label=device.label)
        return revoked

    def verdicts(
        self, conn: Connection, agent: str, photos: Sequence[SignedPhoto]
    ) -> list[CaptureVerdict]:
        """Each photo's capture signature verdict, reading the devices on ``conn``.

        Args:
            conn: the transaction that will store the photos (it sees the
                devices as that transaction does).
            agent: the username of the logged-in agent sending the photos.
            photos: the photos, in order.
        """
        named: set[str] = set()
        for p in photos:
            if p.signed is not None:
                try:
                    named.add(parse_signed_capture(p.signed).device)
                except CaptureMessageError:
                    pass  # the verdict below names the problem
        found = self.store.many(conn, named, for_share=True)
        has_device = self.store.has_any(conn, agent)
        out = []
        for p in photos:
            device: DeviceRecord | None = None
            if p.signed is not None:
                try:
                    device = found.get(parse_signed_capture(p.signed).device)
                except CaptureMessageError:
                    device = None
            out.append(
                capture_verdict(
                    signed=p.signed,
                    signature=p.signature,
                    photo_sha256=_sha256(p.data) if p.signed is not None else "",
                    agent=agent,
                    device=_key(device) if device is not None else None,
                    stated_at=p.stated_at,
                    stated_place=p.stated_place,
                    agent_has_device=has_device,
                )
            )
        return out

    def confirm(self, conn: Connection, verdicts: Sequence[CaptureVerdict]) -> None:
        """Lock the devices of ``verdicts`` in ``conn``'s transaction; refuse a change since.

        Call it in the transaction that stores the photos when the verdicts
        were read on another connection: it re-reads each signing device
        ``FOR SHARE`` (a revocation then waits for this transaction) and
        compares it with what the verdicts saw.

        Raises:
            ConflictError: a device that signed a photo green or amber was
                revoked (or its approval changed) after the photos were
                judged: send them again (the device is then judged as it is now).
        """
        signing = {v.device for v in verdicts if v.device is not None}
        now = self.store.many(conn, signing, for_share=True)
        for v in verdicts:
            if v.device is None or v.light == "red":
                continue
            device = now.get(v.device)
            status = device.status if device is not None else "missing"
            was = "active" if v.light == "green" else None
            if status == "revoked" or (was is not None and status != was):
                raise ConflictError(
                    f"device {v.device} is {status} since the photos were checked: "
                    "send them again",
                    field="meta",
                )
