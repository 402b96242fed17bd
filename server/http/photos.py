"""API routes of photos: the quality gate, and kept photos by claim, animal or digest.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.http.deps import API, Deps, photo_files, read_photos
from server.services.auth import User

__all__ = ["PhotoOut", "photos_router"]

CACHE_CONTROL = "private, max-age=86400"
"""Kept photos never change (content-addressed); only the caller may cache them."""


class PhotoOut(BaseModel):
    """A kept photo: its digest, where to fetch it and its thumbnail, what the phone recorded."""

    sha256: str = Field(examples=["3f7a...e1"])
    name: str = Field(examples=["20250401093214_20250401093754_0018_cls0.jpg"])
    url: str = Field(examples=["/api/v1/photos/3f7a...e1"])
    thumb_url: str = Field(examples=["/api/v1/photos/3f7a...e1/thumb"])
    captured_at: datetime | None
    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")
    media_type: str = Field(examples=["image/jpeg"])
    size_bytes: int


def _out(row: Any) -> PhotoOut:
    url = f"{API}/photos/{row.sha256}"
    return PhotoOut(
        sha256=row.sha256,
        name=row.name,
        url=url,
        thumb_url=f"{url}/thumb",
        captured_at=row.captured_at,
        width=row.width,
        height=row.height,
        media_type=row.media_type,
        size_bytes=row.size_bytes,
    )


Digest = Annotated[
    str,
    PathParam(
        max_length=64, description="The photo's SHA-256, 64 hex digits (lower case)."
    ),
]


def photos_router(deps: Deps) -> APIRouter:
    """Routes for kept photos."""
    router = APIRouter(prefix=API)
    readers = deps.may("read")

    def photos() -> Any:
        return deps.ctx.photos

    def faceid() -> Any:
        """The face-ID model, loaded on first use (checksum verified)."""
        return deps.ctx.registry().faceid

    @router.post("/photos/check", tags=["livestock"])
    async def check_photos(
        files: Annotated[
            list[UploadFile], photo_files("Cow-face photos, JPEG or PNG.")
        ],
        user: Annotated[User, Depends(deps.may("photos.check"))],
    ) -> dict[str, Any]:
        """Run the quality gate on photos before enrolment or a claim (field agents).

        Each photo gets ``passed`` and its reasons (too small, too dark or bright,
        blurred, not a cow face); unreadable files and files over the size limit
        are named with the problem.
        """
        from livestock import Photo

        uploads = await read_photos(files, deps.photo_limits)
        batch = [Photo(name, data) for name, data in uploads]
        analyses = await run_in_threadpool(lambda: faceid().analyse(batch))
        return {
            "photos": [
                {
                    "name": a.name,
                    "passed": a.quality.passed,
                    "reasons": list(a.quality.reasons),
                    "detail": a.quality.describe(),
                }
                for a in analyses
            ]
        }

    @router.get("/claims/{claim_id}/photos", tags=["photos"])
    def claim_photos(
        claim_id: str, user: Annotated[User, Depends(deps.may("photos.evidence"))]
    ) -> list[PhotoOut]:
        """The evidence photos of a claim, in the order received.

        Staff (underwriters, adjusters, admins) see any claim's; a farmer only
        his own claims' (403 otherwise); field agents see enrolment photos only
        (403 here).
        """
        return [_out(r) for r in photos().photos_of(user, "claim", claim_id)]

    @router.get("/animals/{tag}/photos", tags=["photos"])
    def animal_photos(
        tag: str, user: Annotated[User, Depends(readers)]
    ) -> list[PhotoOut]:
        """The enrolment photos of an animal (staff and field agents; a farmer his own)."""
        return [_out(r) for r in photos().photos_of(user, "animal", tag)]

    async def send(
        request: Request, user: User, sha256: str, *, thumb: bool
    ) -> Response:
        found = await run_in_threadpool(photos().photo_file, user, sha256, thumb=thumb)
        headers = {"ETag": found.etag, "Cache-Control": CACHE_CONTROL}
        if found.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return FileResponse(found.path, media_type=found.media_type, headers=headers)

    @router.get(
        "/photos/{sha256}",
        tags=["photos"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    )
    async def photo(
        sha256: Digest, request: Request, user: Annotated[User, Depends(readers)]
    ) -> Response:
        """A kept photo's bytes, with its media type and ETag (404 if unknown or not yours)."""
        return await send(request, user, sha256, thumb=False)

    @router.get(
        "/photos/{sha256}/thumb",
        tags=["photos"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def thumbnail(
        sha256: Digest, request: Request, user: Annotated[User, Depends(readers)]
    ) -> Response:
        """A kept photo's thumbnail: JPEG, 256 px on its longest side."""
        return await send(request, user, sha256, thumb=True)

    return router
