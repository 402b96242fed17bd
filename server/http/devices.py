"""API routes of the field agent's phone: its devices, and the gallery it matches offline.

* ``POST /api/v1/devices``: a field agent registers a phone's public key
  (EC P-256 JWK); the same key again gives the same device (200).
* ``GET /api/v1/devices``: an admin sees every device, an agent their own.
* ``POST /api/v1/devices/{device_id}/revoke``: an admin, or the device's agent.
* ``POST /api/v1/devices/{device_id}/approve``: an admin approves a pending device
  (an agent's new device after an admin revoked one of theirs).
* ``GET /api/v1/agent/gallery``: the enrolled animals' face templates, by pages.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.http.deps import (
    API,
    PLAIN_TEXT,
    Deps,
    IdempotencyKey,
    Limit,
    Offset,
    PageOut,
    page_of,
)
from server.services.access import may_do
from server.services.auth import User
from server.services.devices import DeviceRecord, gallery

__all__ = ["PUBLIC_JWK", "DeviceIn", "DeviceOut", "GalleryOut", "devices_router"]


_B64URL_32 = r"^[A-Za-z0-9_-]{43}$"
PUBLIC_JWK: dict[str, Any] = {
    "type": "object",
    "description": "EC P-256 public key as a JWK (kty EC, crv P-256, x, y: 32 "
    'bytes each, base64url; no d), as WebCrypto\'s exportKey("jwk") gives it; '
    "other members are ignored. The point (x, y) must lie on the curve (422).",
    "required": ["kty", "crv", "x", "y"],
    "properties": {
        "kty": {"const": "EC"},
        "crv": {"const": "P-256"},
        "x": {"type": "string", "pattern": _B64URL_32},
        "y": {"type": "string", "pattern": _B64URL_32},
        "d": False,  # a private key is refused
    },
}
"""The document of :attr:`DeviceIn.public_key`, as :func:`claims.parse_public_jwk` checks it."""


def _public_jwk(schema: dict[str, Any]) -> None:
    examples = schema.get("examples")
    schema.clear()
    schema.update(PUBLIC_JWK, examples=examples)


class DeviceIn(BaseModel):
    """A phone to register: its public key and what the agent calls it."""

    public_key: dict[str, Any] = Field(
        json_schema_extra=_public_jwk,
        examples=[
            {
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }
        ],
    )
    label: str = Field(
        min_length=1, max_length=200, pattern=PLAIN_TEXT, examples=["Li Wei's phone"]
    )


class DeviceOut(BaseModel):
    """A registered device."""

    device_id: str = Field(examples=["dev_4f1c0e9d8b7a4c2e9f1d3b5a7c9e0f21"])
    agent: str = Field(examples=["li.wei"])
    label: str
    status: Literal["active", "pending", "revoked"]
    registered_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    thumbprint: str = Field(
        description="RFC 7638 SHA-256 thumbprint of the key, base64url."
    )


class GalleryModelOut(BaseModel):
    """The face-ID weights the templates come from."""

    name: str = Field(examples=["cowface-v2"])
    sha256: str


class GalleryAnimalOut(BaseModel):
    """An enrolled animal and its face templates (128 floats each, L2-normalised)."""

    tag: str = Field(examples=["998230000006730"])
    farmer_id: str = Field(examples=["F-0001"])
    templates: list[list[float]]


class GalleryOut(BaseModel):
    """One page of the gallery; ``next`` is the cursor of the next page (null: the last)."""

    model: GalleryModelOut
    animals: list[GalleryAnimalOut]
    next: str | None


def device_out(d: DeviceRecord) -> DeviceOut:
    """A device as the API shows it."""
    return DeviceOut(
        device_id=d.id,
        agent=d.agent,
        label=d.label,
        status=d.status,
        registered_at=d.registered_at,
        revoked_at=d.revoked_at,
        revoked_by=d.revoked_by,
        thumbprint=d.thumbprint,
    )


def devices_router(deps: Deps) -> APIRouter:
    """Routes for devices and the agent's gallery."""
    router = APIRouter(prefix=API)
    devices = deps.ctx.devices
    agents = deps.may("devices.register")
    admins_and_agents = deps.may("devices.list")

    @router.post(
        "/devices",
        tags=["devices"],
        status_code=201,
        response_model=DeviceOut,
        responses={
            200: {"model": DeviceOut, "description": "The key was registered before."}
        },
    )
    async def register_device(
        device: DeviceIn,
        request: Request,
        user: Annotated[User, Depends(agents)],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Register the phone's public key as a device of the logged-in agent (field agents).

        Active at once: the agent's login is the approval, unless an admin
        has revoked one of the agent's devices before: the new device is then
        ``pending`` until an admin approves it (its photos are amber). The
        same key sent again answers 200 with the device it registered
        (revoked stays revoked); a key registered to another agent is refused (409), and a
        private key (a JWK with ``d``) or any key but EC P-256 (422).
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record, created = devices.register(
                agent=user.username,
                public_key=device.public_key,
                label=device.label,
                conn=conn,
            )
            return (201 if created else 200), device_out(record).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/devices", tags=["devices"])
    def list_devices(
        user: Annotated[User, Depends(admins_and_agents)],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[DeviceOut]:
        """Devices, newest first: every agent's for an admin, a field agent's own."""
        page = devices.devices(
            agent=None if may_do(user, "devices.any_agent") else user.username,
            offset=offset,
            limit=limit,
        )
        return page_of(DeviceOut, page, device_out)

    @router.post(
        "/devices/{device_id}/revoke", tags=["devices"], response_model=DeviceOut
    )
    async def revoke_device(
        device_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        user: Annotated[User, Depends(admins_and_agents)],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Revoke a device (an admin, or its own agent; another agent's is 403).

        Photos it signs from then on are red; revoking a revoked device
        changes nothing.
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = devices.revoke(
                device_id,
                actor=user.username,
                any_agent=may_do(user, "devices.any_agent"),
                conn=conn,
            )
            return 200, device_out(record).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.post(
        "/devices/{device_id}/approve", tags=["devices"], response_model=DeviceOut
    )
    async def approve_device(
        device_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        user: Annotated[User, Depends(deps.may("devices.approve"))],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Approve a pending device (admins): it becomes active.

        An active device is answered as it is; a revoked one is 409.
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = devices.approve(device_id, actor=user.username, conn=conn)
            return 200, device_out(record).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/agent/gallery", tags=["devices"])
    async def agent_gallery(
        _: Annotated[User, Depends(agents)],
        cursor: Annotated[
            str | None,
            Query(max_length=32, description="The ``next`` of the previous page."),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=1000, description="Animals per page (at most 1000).")
        ] = 200,
    ) -> GalleryOut:
        """The enrolled animals with their face templates, for matching offline (field agents).

        Every enrolled animal is listed (agents are not assigned to farms), in
        tag order; follow ``next`` until it is null. ``model`` names the
        weights the templates come from: the app's model must be their export.
        """
        page = await run_in_threadpool(
            lambda: gallery(deps.ctx.registry(), cursor, limit)
        )
        return GalleryOut(
            model=GalleryModelOut(name=page.model_name, sha256=page.model_sha256),
            animals=[
                GalleryAnimalOut(
                    tag=a.tag, farmer_id=a.farmer_id, templates=a.templates
                )
                for a in page.animals
            ],
            next=page.next,
        )

    return router
