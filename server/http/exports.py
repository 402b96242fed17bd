"""API routes of the standard exports: files of the insurer's records, streamed.

Insured plots as fiboa GeoParquet or GeoJSON, claims and policies as CSV or
XLSX (headers in the reader's language, ``Accept-Language``), and a crop
claim's or an event's assessment imagery as a ZIP of a STAC collection
(:mod:`server.services.exports` writes them all). The insurer's desks only
(action ``exports.read``: admin, underwriter, adjuster); a farmer reads his own
records through the API and his page. Each file is written to a spooled
temporary file (memory up to 16 MiB, then disk) and streamed in 64 KiB
chunks with its length and an ``attachment`` file name; one export holds at
most :data:`~server.services.exports.MAX_ROWS` records (more: 422, naming
the filters).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from claims import Status
from server.http.deps import API, Deps, ReaderLang, iso_day
from server.services.auth import User
from server.services.exports import (
    MEDIA_TYPES,
    ExportService,
    write_stac_zip,
)

__all__ = ["exports_router"]

SPOOL_BYTES = 16 << 20
"""Bytes of a file kept in memory before the spool moves to disk."""
CHUNK = 1 << 16
"""Bytes per streamed chunk."""

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

Product = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Only this product's records (its code).",
        examples=["WHEAT"],
    ),
]
Farmer = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Only this farmer's records (the farmer id).",
        examples=["F-1"],
    ),
]
On = Annotated[
    date | None,
    BeforeValidator(iso_day),
    Query(description="Only policies in force on this day (both ends inclusive)."),
]
ClaimStatus = Annotated[Status | None, Query(description="Only claims in this status.")]


def _file(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a file route: its media type and its file name header."""
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if media_type.endswith("json"):
        schema = {"type": "object"}
    return {
        200: {
            "description": what,
            "content": {media_type.split(";")[0]: {"schema": schema}},
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; the file's name.",
                    "schema": {"type": "string"},
                }
            },
        }
    }


def _stream(
    write: Callable[[BinaryIO], object], media_type: str, filename: str
) -> StreamingResponse:
    """Run ``write`` on a spooled file, then stream the file (closed when sent)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write(spool)  # type: ignore[arg-type]
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            while block := spool.read(CHUNK):
                yield block
        finally:
            spool.close()

    name = _SAFE.sub("_", filename)
    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(size),
            "Cache-Control": "no-store",
        },
    )


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def exports_router(deps: Deps) -> APIRouter:
    """Routes of the exports (plots, claims, policies, STAC)."""
    router = APIRouter(prefix=f"{API}/exports")
    desks = deps.may("exports.read")

    def service() -> ExportService:
        return ExportService(deps.ctx.engine, deps.ctx.settings.resolved_imagery_dir())

    @router.get(
        "/plots.parquet",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(MEDIA_TYPES["fiboa"], "fiboa 0.3.0 GeoParquet 1.1."),
    )
    def plots_fiboa(
        _: Annotated[User, Depends(desks)],
        on: On = None,
        product: Product = None,
        farmer_id: Farmer = None,
    ) -> StreamingResponse:
        """The insured plots as fiboa GeoParquet: fiboa's core fields and ``insurance:*``.

        By policy then plot id. An unknown product or farmer is 404; more than
        the export's limit of plots matching is 422.
        """
        return _stream(
            lambda out: service().write_plots(
                out, "fiboa", on=on, product=product, farmer_id=farmer_id
            ),
            MEDIA_TYPES["fiboa"],
            f"insured-plots-{_today()}.parquet",
        )

    @router.get(
        "/plots.geojson",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(MEDIA_TYPES["geojson"], "A GeoJSON FeatureCollection."),
    )
    def plots_geojson(
        _: Annotated[User, Depends(desks)],
        on: On = None,
        product: Product = None,
        farmer_id: Farmer = None,
    ) -> StreamingResponse:
        """The insured plots as GeoJSON (RFC 7946), with the fiboa file's properties."""
        return _stream(
            lambda out: service().write_plots(
                out, "geojson", on=on, product=product, farmer_id=farmer_id
            ),
            MEDIA_TYPES["geojson"],
            f"insured-plots-{_today()}.geojson",
        )

    for fmt in ("csv", "xlsx"):
        _table_routes(router, desks, service, fmt)

    @router.get(
        "/stac/claim.zip",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(MEDIA_TYPES["stac"], "A ZIP of a STAC 1.1.0 collection."),
    )
    def stac_claim(
        _: Annotated[User, Depends(desks)],
        claim_id: Annotated[
            str, Query(min_length=1, max_length=64, description="The crop claim.")
        ],
    ) -> StreamingResponse:
        """The imagery of a crop claim's assessment by map as STAC: a before and an after item.

        An unknown claim is 404; a claim not assessed by map, or assessed on a
        scene the catalogue no longer holds, is 409.
        """
        collection = service().stac_for_claim(claim_id)
        return _stream(
            lambda out: write_stac_zip(collection, out),
            MEDIA_TYPES["stac"],
            f"claim-{claim_id}-stac.zip",
        )

    @router.get(
        "/stac/event.zip",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(MEDIA_TYPES["stac"], "A ZIP of a STAC 1.1.0 collection."),
    )
    def stac_event(
        _: Annotated[User, Depends(desks)],
        event_id: Annotated[
            str,
            Query(min_length=1, max_length=64, description="The catastrophe event."),
        ],
    ) -> StreamingResponse:
        """The imagery of an event's crop claims assessed by map as one STAC collection.

        Claims not exported (not assessed, a scene gone) are listed in the
        collection's ``agri:skipped``. No crop claim of the event, or none
        assessed on catalogue scenes, is 404.
        """
        collection = service().stac_for_event(event_id)
        return _stream(
            lambda out: write_stac_zip(collection, out),
            MEDIA_TYPES["stac"],
            f"event-{event_id}-stac.zip",
        )

    return router


def _table_routes(
    router: APIRouter, desks: Any, service: Callable[[], ExportService], fmt: str
) -> None:
    """The claims and policies routes of one table format (``csv`` or ``xlsx``)."""
    media = MEDIA_TYPES[fmt]
    kind = "CSV (UTF-8 with BOM, RFC 4180)" if fmt == "csv" else "XLSX"

    @router.get(
        f"/claims.{fmt}",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(media, f"The claims as {kind}."),
        name=f"claims_{fmt}",
        summary=f"Claims as {fmt.upper()}",
    )
    def claims_table(
        _: Annotated[User, Depends(desks)],
        lang: ReaderLang,
        status: ClaimStatus = None,
        farmer_id: Farmer = None,
    ) -> StreamingResponse:
        """The claims, newest report first: ids, loss, report, status, light, amount.

        Headers in the reader's language; codes (status, light) as stored;
        the amount in major units beside its currency. An unknown farmer is 404.
        """
        return _stream(
            lambda out: service().write_claims(
                out,
                fmt,  # type: ignore[arg-type]
                lang,
                status=status,
                farmer_id=farmer_id,
            ),
            media,
            f"claims-{_today()}.{fmt}",
        )

    @router.get(
        f"/policies.{fmt}",
        tags=["exports"],
        response_class=StreamingResponse,
        responses=_file(media, f"The policies as {kind}."),
        name=f"policies_{fmt}",
        summary=f"Policies as {fmt.upper()}",
    )
    def policies_table(
        _: Annotated[User, Depends(desks)],
        lang: ReaderLang,
        farmer_id: Farmer = None,
    ) -> StreamingResponse:
        """The policies, newest first: period, sum insured, premium and who pays it.

        Headers in the reader's language. An unknown farmer is 404.
        """
        return _stream(
            lambda out: service().write_policies(
                out,
                fmt,  # type: ignore[arg-type]
                lang,
                farmer_id=farmer_id,
            ),
            media,
            f"policies-{_today()}.{fmt}",
        )
