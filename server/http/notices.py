"""API routes of public notices (公示): publish, read, print, object, resolve; the public receipt.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)

* ``POST /notices``: an underwriter publishes the underwriting list of a
  region and period, an adjuster the claim list (201; its rows frozen on
  the ledger, ``notice.published``).
* ``GET /notices``, ``GET /notices/{notice_id}``: staff read every region's,
  a farmer their own region's (rows as posted; staff also see each claim's
  payment check now).
* ``GET /notices/{notice_id}/pdf``: the printable notice in the reader's
  language, with the QR code of its receipt.
* ``GET /ledger/notices/{notice_id}/receipt``: the notice's ledger receipt,
  without a login (the paper is public; its entry names no one in full).
* ``POST /notices/{notice_id}/objections``: an objection to a row during the
  objection period; ``POST .../objections/{objection_id}/resolution``:
  upheld or dismissed, with a reason.
* ``GET /notices/{notice_id}`` outside the API (:func:`mount_notice_page`):
  the notice's public page, what the printed QR code opens. It fetches the
  receipt and verifies it in the browser (``web/js/receipt.js``), then shows
  the notice as posted, in Chinese or English; no login.
"""

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.errors import NotFoundError
from server.http.deps import (
    API,
    NOTE_TEXT,
    PLAIN_TEXT,
    Deps,
    IdempotencyKey,
    Limit,
    Offset,
    PageOut,
    ReaderLang,
    page_of,
)
from server.http.records import CheckOut, check_out
from server.i18n import Lang, render_message
from server.services.auth import User
from server.services.notices import (
    NoticesService,
    NoticeView,
    ObjectionRecord,
    notice_receipt_path,
)

__all__ = ["mount_notice_page", "notices_router"]

NOTICE_ID = r"^ntc_[0-9a-f]{32}$"
OBJECTION_ID = r"^obj_[0-9a-f]{32}$"
NoticeId = Annotated[
    str,
    PathParam(
        pattern=NOTICE_ID,
        description="A notice's id: ntc_ and 32 hex digits.",
        examples=["ntc_3f0c9a1e5b7d4c2a8e6f1b0d9c7a5e3f"],
    ),
]
ObjectionId = Annotated[
    str,
    PathParam(
        pattern=OBJECTION_ID,
        description="An objection's id: obj_ and 32 hex digits.",
        examples=["obj_0a1b2c3d4e5f60718293a4b5c6d7e8f9"],
    ),
]
Kind = Literal["underwriting", "claims"]


class NoticeIn(BaseModel):
    """A notice to publish: its kind, region and period (the farm's days, both included)."""

    kind: Kind = Field(description="underwriting (承保公示) or claims (理赔公示).")
    region: str = Field(
        min_length=1,
        max_length=200,
        pattern=PLAIN_TEXT,
        description="The farmers' region (village or township) as registered.",
        examples=["Hohhot, Inner Mongolia"],
    )
    start: date = Field(description="First day of the period.")
    end: date = Field(description="Last day of the period: today at the latest.")
    objection_days: int | None = Field(
        None,
        ge=3,
        le=30,
        description="Days objections are taken after publication "
        "(default AGRI_NOTICE_OBJECTION_DAYS).",
    )


class RegionOut(BaseModel):
    """A region farmers are registered in, and its farm day now."""

    region: str = Field(examples=["Hohhot, Inner Mongolia"])
    today: date = Field(
        description="The farm's day in the region (its time zone) at the ledger's "
        "clock: a notice's period ends on it at the latest."
    )


class NoticeRowOut(BaseModel):
    """One row as posted: masked names, ids cut short, amounts in major units.

    Underwriting rows carry ``policy``, ``product``, ``animals`` or the area,
    ``sum_insured``, ``premium`` and ``farmer_share``; claims rows ``claim``,
    ``policy``, ``subject`` with ``tag`` or the area, ``loss_date``, ``peril``,
    ``assessed_loss`` and ``indemnity``. Staff reading a claims notice also
    get the claim's ``status`` and ``payment``, its public-notice check now.
    """

    row: int = Field(ge=1)
    farmer: str = Field(examples=["L** Jun"])
    farmer_id: str = Field(examples=["F****1"])
    policy: str = Field(examples=["9b2f0c1a"])
    product: str | None = None
    animals: int | None = None
    area_mu: str | None = Field(None, examples=["12.50"])
    area_ha: str | None = Field(None, examples=["0.8333"])
    sum_insured: str | None = None
    premium: str | None = None
    farmer_share: str | None = None
    claim: str | None = None
    subject: Literal["animal", "plot"] | None = None
    tag: str | None = Field(None, examples=["\u20260042"])
    loss_date: date | None = None
    peril: Literal["animal_death", "crop_loss"] | None = None
    peril_text: str | None = Field(None, description="The peril in the reader's words.")
    event: str | None = None
    assessed_loss: str | None = None
    indemnity: str | None = None
    amount_minor: int | None = None
    currency: str = Field(examples=["CNY"])
    digest: str = Field(description="SHA-256 (hex) of the record's kind and id.")
    status: str | None = Field(None, description="Staff: the claim's status now.")
    payment: CheckOut | None = Field(
        None, description="Staff: the claim's public-notice check now."
    )


class ObjectionOut(BaseModel):
    """An objection to a row of a notice (who recorded it, and its outcome)."""

    id: str
    notice_id: str
    row: int
    text: str
    on_behalf_of: str | None
    recorded_by: str
    status: Literal["open", "upheld", "dismissed"]
    reason: str | None
    resolved_by: str | None
    recorded_at: str
    resolved_at: str | None
    ledger_index: int
    resolution_index: int | None


class NoticeOut(BaseModel):
    """A published notice: what it covers, its objection period, where its receipt is."""

    id: str
    kind: Kind
    title: str = Field(description="The kind in the reader's words.")
    region: str
    start: date
    end: date
    published_on: date
    objection_days: int
    objection_ends: date
    in_objection_period: bool
    rows: int
    open_objections: int
    ledger_index: int
    receipt: str = Field(description="The path of the notice's public receipt.")
    published_by: str


class NoticeDetailOut(NoticeOut):
    """A notice with its rows and objections (a farmer sees only their own objections)."""

    items: list[NoticeRowOut]
    objections: list[ObjectionOut]


class ObjectionIn(BaseModel):
    """An objection to a row: what is wrong, and (staff) on whose behalf."""

    row: int = Field(ge=1, le=100_000, description="The row's number on the notice.")
    text: str = Field(
        min_length=1,
        max_length=2000,
        pattern=NOTE_TEXT,
        description="What is wrong, in the objector's words.",
    )
    on_behalf_of: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=PLAIN_TEXT,
        description="Staff: the person objecting (a farmer leaves it out).",
    )


class ResolutionIn(BaseModel):
    """An objection's outcome, and why."""

    outcome: Literal["upheld", "dismissed"]
    reason: str = Field(min_length=1, max_length=2000, pattern=NOTE_TEXT)


class ReceiptOut(BaseModel):
    """A ledger receipt: the entry, its inclusion proof and the signed checkpoint."""

    model_config = {"extra": "allow"}

    index: int
    tree_size: int
    entry: str
    leaf_hash: str
    inclusion_proof: list[str]
    checkpoint: str


def _objection_out(o: ObjectionRecord) -> ObjectionOut:
    return ObjectionOut(
        id=o.id,
        notice_id=o.notice_id,
        row=o.row,
        text=o.text,
        on_behalf_of=o.on_behalf_of,
        recorded_by=o.recorded_by,
        status=o.status,
        reason=o.reason,
        resolved_by=o.resolved_by,
        recorded_at=o.recorded_at.isoformat(),
        resolved_at=o.resolved_at.isoformat() if o.resolved_at else None,
        ledger_index=o.ledger_index,
        resolution_index=o.resolution_index,
    )


def _head(v: NoticeView, lang: Lang) -> dict[str, Any]:
    r = v.record
    return {
        "id": r.id,
        "kind": r.kind,
        "title": render_message(f"notice.title.{r.kind}", {}, lang),
        "region": r.region,
        "start": r.period_start,
        "end": r.period_end,
        "published_on": r.published_on,
        "objection_days": r.objection_days,
        "objection_ends": r.objection_ends,
        "in_objection_period": v.in_objection_period,
        "rows": r.rows,
        "open_objections": v.open_objections,
        "ledger_index": r.ledger_index,
        "receipt": notice_receipt_path(r.id),
        "published_by": r.published_by,
    }


def _row_out(
    row: dict[str, Any], v: NoticeView, lang: Lang, user: User
) -> NoticeRowOut:
    doc = {k: row.get(k) for k in NoticeRowOut.model_fields if k in row}
    if row.get("peril"):
        doc["peril_text"] = render_message(f"value.peril.{row['peril']}", {}, lang)
    found = v.payment.get(int(row["row"]))
    if found is not None:
        status, check = found
        doc["status"] = status
        doc["payment"] = check_out(check, lang, user)
    return NoticeRowOut(**doc)


def _detail(v: NoticeView, lang: Lang, user: User) -> NoticeDetailOut:
    return NoticeDetailOut(
        **_head(v, lang),
        items=[_row_out(r, v, lang, user) for r in v.document["rows"]],
        objections=[_objection_out(o) for o in v.objections],
    )


def notices_router(deps: Deps) -> APIRouter:
    """Routes of public notices and their objections."""
    router = APIRouter(prefix=API)
    ctx = deps.ctx
    readers = deps.may("read")

    def service() -> NoticesService:
        return NoticesService(ctx.ledger, ctx.underwriting, ctx.claims)

    @router.get("/notices", tags=["notices"])
    def list_notices(
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        region: Annotated[str | None, Query(max_length=200, pattern=PLAIN_TEXT)] = None,
        kind: Kind | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[NoticeOut]:
        """Published notices, newest first (a farmer: those of their own region)."""
        page = service().notices(
            user, region=region, kind=kind, offset=offset, limit=limit
        )
        return page_of(NoticeOut, page, lambda v: NoticeOut(**_head(v, lang)))

    @router.get("/notices/regions", tags=["notices"])
    def notice_regions(
        user: Annotated[User, Depends(deps.may("notices.publish"))],
    ) -> list[RegionOut]:
        """The regions farmers are registered in, each with its farm day now.

        What a notice may be published for, and the last day its period may end on.
        """
        return [RegionOut(region=r, today=d) for r, d in service().regions()]

    @router.post(
        "/notices",
        tags=["notices"],
        status_code=201,
        response_model=NoticeDetailOut,
    )
    async def publish_notice(
        body: NoticeIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("notices.publish"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Publish a notice: an underwriter the underwriting list, an adjuster the claim list.

        Underwriting: the policies of the region's farmers issued in the
        period. Claims: the region's approved, unpaid claims approved in the
        period. The rows are frozen on the ledger (``notice.published``);
        objections are taken for ``objection_days`` after today. 422 naming
        the field for a period that ends before it starts or after today, or
        nothing to post; 403 for the other role's kind.
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            view = service().publish(
                user,
                kind=body.kind,
                region=body.region,
                start=body.start,
                end=body.end,
                objection_days=body.objection_days,
                actor=user.username,
                conn=conn,
            )
            published = service().notice(user, view.record.id, conn)
            return 201, _detail(published, lang, user).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/notices/{notice_id}", tags=["notices"])
    def get_notice(
        notice_id: NoticeId,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
    ) -> NoticeDetailOut:
        """A notice with its rows and objections (a farmer: of their own region)."""
        return _detail(service().notice(user, notice_id), lang, user)

    @router.get(
        "/notices/{notice_id}/pdf",
        tags=["notices"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def notice_pdf(
        notice_id: NoticeId,
        request: Request,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
    ) -> Response:
        """The notice to print (A4, the reader's language), its QR code the receipt's URL."""
        base = str(request.base_url)
        data = await run_in_threadpool(
            service().pdf, user, notice_id, lang, base_url=base
        )
        name = f"{notice_id}-{'zh' if lang == 'zh-CN' else 'en'}.pdf"
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    @router.get(
        "/ledger/notices/{notice_id}/receipt",
        tags=["ledger"],
        responses={404: {"description": "No such notice."}},
    )
    def notice_receipt(notice_id: NoticeId) -> ReceiptOut:
        """The receipt of a notice's ledger entry (no login: what its printed QR code opens).

        Verify it with the key of ``GET /ledger/key``: the entry is the
        notice's document as posted (names masked, ids cut short).
        """
        return ReceiptOut(**service().receipt(notice_id).to_json())

    @router.post(
        "/notices/{notice_id}/objections",
        tags=["notices"],
        status_code=201,
        response_model=ObjectionOut,
    )
    async def object_to_notice(
        notice_id: NoticeId,
        body: ObjectionIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("notices.object"))],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Object to a row during the objection period (409 after it).

        A farmer objects to a notice of their own region in their own name;
        staff record an objection on behalf of someone (``on_behalf_of``).
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            found = service().object(
                user,
                notice_id,
                row=body.row,
                text=body.text,
                on_behalf_of=body.on_behalf_of,
                actor=user.username,
                conn=conn,
            )
            return 201, _objection_out(found).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.post(
        "/notices/{notice_id}/objections/{objection_id}/resolution",
        tags=["notices"],
        response_model=ObjectionOut,
    )
    async def resolve_objection(
        notice_id: NoticeId,
        objection_id: ObjectionId,
        body: ResolutionIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("notices.resolve"))],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Uphold or dismiss an open objection, with a reason (409 once resolved).

        Upheld on a claims notice: the claim goes back for review (a survey)
        and needs a new notice before it is paid. Objections to a claims
        notice are resolved by adjusters.
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            svc = service()
            if svc.objection_notice(objection_id, conn) != notice_id:
                raise NotFoundError(
                    f"no objection {objection_id} on notice {notice_id}",
                    field="objection_id",
                )
            found = svc.resolve(
                user,
                objection_id,
                body.outcome,
                reason=body.reason,
                actor=user.username,
                conn=conn,
            )
            return 200, _objection_out(found).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    return router


def mount_notice_page(app: FastAPI, web_dir: Path) -> None:
    """Serve a notice's public page at ``/notices/{notice_id}`` (``web/notice.html``).

    The printed QR code opens it (:func:`server.services.notices.notice_page_path`):
    one static page for every notice, which reads the id from its own path,
    fetches the public receipt and the ledger's key and verifies the receipt in
    the browser. A malformed id is refused (422) before the file is read.
    """
    page = web_dir / "notice.html"
    if not page.is_file():
        return

    @app.get("/notices/{notice_id}", include_in_schema=False)
    def public_notice_page(notice_id: NoticeId) -> FileResponse:
        """A notice's public page: its receipt verified, the notice as posted."""
        return FileResponse(
            page, media_type="text/html", headers={"Cache-Control": "no-cache"}
        )
