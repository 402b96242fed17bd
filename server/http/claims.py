"""API routes of claims: intake, photo evidence, assessment by map, decision, payment.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from claims import ClaimedArea
from livestock import Photo, read_metadata
from remote_sensing import SceneCatalogue, check_scene_name
from server.http.deps import (
    API,
    NOTE_TEXT,
    Deps,
    IdempotencyKey,
    Limit,
    Offset,
    PageOut,
    PhotoMeta,
    ReaderLang,
    fingerprint,
    json_list_part,
    page_of,
    parse_photo_meta,
    photo_files,
    read_photos,
)
from server.http.records import CheckOut, check_out
from server.i18n import Lang, render_ground, render_line
from server.services.access import Caller, check_may_see, own_farmer
from server.services.auth import User
from server.services.claims import ClaimRecord, EvidencePhoto, SceneOptions
from underwriting import Money

__all__ = ["claims_router"]

_PHOTO_META = json_list_part(
    PhotoMeta,
    'JSON list of {"name", "captured_at", "lat", "lon", "signed", "signature"}, one '
    "per photo, matched by file name; where absent, the photo's EXIF is read. With "
    "a green capture signature (taken by the app's camera on an active device) the "
    "signed time and place win.",
)


SCENE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
"""A scene's name (:func:`remote_sensing.check_scene_name`): 1-100 letters, digits,
``-`` or ``_``, starting with a letter or digit."""
AMOUNT = r"^[0-9]{1,15}(?:\.[0-9]{1,2})?$"
"""An amount in major units: up to 15 digits, up to 2 decimal places."""
_FRACTION = r"0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"
AREA = rf"^(?:[1-9][0-9]{{0,7}}(?:\.[0-9]{{1,4}})?|{_FRACTION})$"
"""An area above 0: up to 8 digits before the point, up to 4 after."""
DEGREE = rf"^(?:1(?:\.0{{1,4}})?|{_FRACTION})$"
"""A share above 0, at most 1: up to 4 decimal places."""


class ClaimIn(BaseModel):
    """A claim as a field agent files it.

    Livestock: ``market_value`` of the animal. Crops: ``claimed_fraction`` of
    the plot lost, or ``claimed_area`` in ``claimed_unit`` (mu or ha; its
    check goes red above the insured area), optionally ``loss_degree`` and
    ``growth_stage`` (a product with a crop calendar takes the calendar's).
    """

    policy_id: str = Field(min_length=1, max_length=64, examples=["9e5d806c-..."])
    farmer_id: str = Field(min_length=1, max_length=64, examples=["F-0001"])
    subject_kind: Literal["animal", "plot"] = Field(examples=["animal"])
    subject_id: str = Field(min_length=1, max_length=128, examples=["998230000006730"])
    event_date: date = Field(examples=["2025-04-13"])
    market_value: str | None = Field(
        None,
        pattern=AMOUNT,
        description="Livestock: major units, a decimal string (at most 2 places).",
        examples=["7600.00"],
    )
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", examples=["CNY"])
    claimed_fraction: float | None = Field(None, gt=0, le=1, examples=[0.8])
    claimed_area: str | None = Field(
        None,
        pattern=AREA,
        description="Crops, instead of claimed_fraction: the area lost, a decimal "
        "string above 0 (at most 8 digits before the point and 4 after).",
        examples=["12.5"],
    )
    claimed_unit: Literal["mu", "ha"] | None = Field(
        None, description="The unit of claimed_area (required with it)."
    )
    loss_degree: str = Field(
        "1",
        pattern=DEGREE,
        description="The share of the crop lost where damaged: a decimal string "
        "above 0, at most 1 (at most 4 places).",
        examples=["0.8"],
    )
    growth_stage: str | None = Field(None, max_length=32, examples=["maturity"])
    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
        description="The catastrophe event (drought, flood, hail storm) the loss "
        "belongs to: its crop claims are assessed together "
        "(agri claims assess-event).",
        examples=["hail-2021-06-25-steyr"],
    )


class ClaimDecisionIn(BaseModel):
    """An adjuster's decision: approve, reject or a field survey.

    A reason is required to reject, to ask for a survey, and to approve a
    claim whose traffic light is amber or red: ``grounds`` (codes of the
    claim's checks that did not pass, worded for each reader in their
    language), a ``reason`` in words (shown as typed), or both.
    """

    decision: Literal["approve", "reject", "survey"]
    reason: str | None = Field(
        None,
        max_length=2000,
        pattern=NOTE_TEXT,
        description="No control character but tabs and line breaks.",
        examples=["photo matches the tag"],
    )
    grounds: list[Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]] = Field(
        default_factory=list, max_length=20, examples=[["duplicate_claim"]]
    )


class GroundOut(BaseModel):
    """A ground of a decision: the failed check's code and, in the reader's language, why."""

    code: str = Field(examples=["duplicate_claim"])
    text: str = Field(examples=["this animal has been claimed before"])


class PaymentIn(BaseModel):
    """A payment instruction."""

    payment_ref: str = Field(min_length=1, max_length=64, examples=["BANK-2025-000123"])


class AssessmentIn(BaseModel):
    """The before/after pair, by the names of scenes in the imagery catalogue.

    Either left out (or null) is the rules' pick: the latest scene before the
    loss and the earliest after it that cover the plot (``GET
    /claims/{id}/scenes`` lists them). Bands, scale and dates are the
    catalogue's.
    """

    model_config = ConfigDict(extra="forbid")

    # The pattern is the document's; _scene_name enforces it (its own message).
    before: str | None = Field(
        None,
        description="A registered scene taken before the loss; null: the rules' pick.",
        json_schema_extra={"pattern": SCENE_NAME},
        examples=["austria-2021-06-17"],
    )
    after: str | None = Field(
        None,
        description="A registered scene taken after the loss; null: the rules' pick.",
        json_schema_extra={"pattern": SCENE_NAME},
        examples=["austria-2021-09-25"],
    )

    @field_validator("before", "after")
    @classmethod
    def _scene_name(cls, name: str | None) -> str | None:
        # A scene's name is never a path; a ValueError is a 422 naming the field
        # (the input not echoed).
        if name is None:
            return None
        try:
            return check_scene_name(name)
        except ValueError:
            raise ValueError(
                "not a scene name: 1-100 letters, digits, '-' or '_', "
                "starting with a letter or digit"
            ) from None


Side = Literal["before", "after", "same_day"]


class SceneChoiceOut(BaseModel):
    """A scene that covers the claim's plot, and where it lies from the loss."""

    name: str = Field(examples=["austria-2021-06-17"])
    date: date
    days_from_event: int | None = Field(
        description="Scene date minus the loss date, in days (negative: before the loss).",
        examples=[-3],
    )
    side: Side | None = Field(
        description="Where the scene lies from the loss (null: the loss date is unknown).",
        examples=["before"],
    )


class SceneOptionsOut(BaseModel):
    """The scenes a crop claim may be assessed on, by date, and the pair the rules pick."""

    event_date: date | None
    before: str | None = Field(
        description="The rules' before-scene (null: none covers the plot before the loss).",
        examples=["austria-2021-06-17"],
    )
    after: str | None = Field(
        description="The rules' after-scene (null: none covers the plot after the loss).",
        examples=["austria-2021-09-25"],
    )
    scenes: list[SceneChoiceOut]


def _side(days: int | None) -> Side | None:
    if days is None:
        return None
    return "before" if days < 0 else "after" if days > 0 else "same_day"


def scene_options_out(options: SceneOptions) -> SceneOptionsOut:
    """:class:`SceneOptions` as the API shows it: each scene's distance to the loss."""
    event = options.event
    choices = []
    for scene in options.scenes:
        days = (scene.date - event).days if event is not None else None
        choices.append(
            SceneChoiceOut(
                name=scene.name, date=scene.date, days_from_event=days, side=_side(days)
            )
        )
    return SceneOptionsOut(
        event_date=event, before=options.before, after=options.after, scenes=choices
    )


class ClaimOut(BaseModel):
    """A claim, its checks, its traffic light and the indemnity breakdown."""

    id: str
    policy_id: str
    farmer_id: str
    subject_kind: str
    subject_id: str
    event_date: date | None
    reported_at: datetime | None
    event_id: str | None = Field(None, examples=["hail-2021-06-25-steyr"])
    status: str = Field(examples=["filed"])
    light: str | None = Field(examples=["green"])
    checks: list[CheckOut]
    claimed: dict[str, Any]
    amount: str = Field(examples=["7400.00"])
    currency: str
    indemnity: list[tuple[str, str]] = Field(
        description="The indemnity step by step: (label in the reader's language, value)."
    )
    reason: str | None = Field(description="The decider's note, as typed.")
    grounds: list[GroundOut] = Field(
        description="What the decision rests on, in the reader's language."
    )
    payment_ref: str | None


def claim_out(
    c: ClaimRecord, lang: Lang, viewer: Caller | None = None
) -> dict[str, Any]:
    """A claim as JSON-ready values, its reasons and indemnity labels in ``lang``.

    Its checks as ``viewer`` may read them (see :func:`server.http.records.check_out`).
    """
    return ClaimOut(
        id=c.id,
        policy_id=c.policy_id,
        farmer_id=c.farmer_id,
        subject_kind=c.subject_kind,
        subject_id=c.subject_id,
        event_date=c.event_date,
        reported_at=c.reported_at,
        event_id=c.event_id,
        status=c.status,
        light=c.light,
        checks=[check_out(x, lang, viewer) for x in c.checks],
        claimed=c.claimed,
        amount=str(c.amount),
        currency=c.amount.currency,
        indemnity=[render_line(x, lang) for x in c.indemnity],
        reason=c.reason,
        grounds=[GroundOut(code=g, text=render_ground(g, lang)) for g in c.grounds],
        payment_ref=c.payment_ref,
    ).model_dump(mode="json")


def claims_router(deps: Deps) -> APIRouter:
    """Routes for claims."""
    router = APIRouter(prefix=API)
    cl = deps.ctx.claims
    scenes = SceneCatalogue(deps.ctx.settings.resolved_imagery_dir())
    readers = deps.may("claims.read")
    assessors = deps.may("claims.assess")

    @router.post("/claims", tags=["claims"], status_code=201, response_model=ClaimOut)
    async def file_claim(
        claim: ClaimIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("claims.file"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """File a claim; the intake checks run at once (field agents).

        An event date in the future, a policy of another farmer, an unknown
        tag or a plot not in the policy are refused (422, the field named).
        """
        market_value = (
            Money.parse(claim.market_value, claim.currency)
            if claim.market_value is not None
            else None
        )

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = cl.file(
                policy_id=claim.policy_id,
                farmer_id=claim.farmer_id,
                subject_kind=claim.subject_kind,
                subject_id=claim.subject_id,
                event_date=claim.event_date,
                actor=user.username,
                reported_at=datetime.now(UTC),
                market_value=market_value,
                claimed_fraction=claim.claimed_fraction,
                claimed_area=(
                    ClaimedArea(Decimal(claim.claimed_area), claim.claimed_unit or "")
                    if claim.claimed_area is not None
                    else None
                ),
                loss_degree=Decimal(claim.loss_degree),
                growth_stage=claim.growth_stage,
                event_id=claim.event_id,
                conn=conn,
            )
            return 201, claim_out(record, lang)

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.post(
        "/claims/{claim_id}/evidence", tags=["claims"], response_model=ClaimOut
    )
    async def add_evidence(
        claim_id: str,
        request: Request,
        user: Annotated[User, Depends(deps.may("claims.add_evidence"))],
        lang: ReaderLang,
        files: Annotated[list[UploadFile], photo_files("Photos of the animal.")],
        meta: Annotated[str | None, Form(json_schema_extra=_PHOTO_META)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Add photos to an animal claim: identity, reuse, GPS, capture-time and signature checks.

        Each photo's capture signature is judged (green: taken by the app's
        camera and signed on an active device of the sending agent; amber:
        unsigned, picked from the phone's files, or a device awaiting
        approval; red: anything else) and kept with the evidence; once any
        photo of the claim is signed, or sent by an agent who has a registered
        device, the claim has a ``capture_signature`` check.
        """
        uploads = await read_photos(files, deps.photo_limits)
        metas = parse_photo_meta(meta)
        photos = []
        for name, data in uploads:
            m = metas.get(name)
            # What the app sent wins; the photo's own EXIF fills what it did not.
            # A green capture signature's time and place replace both (the
            # service decides): a photo picked from the phone's files, or one
            # whose signature is not green, keeps these, as an unsigned photo.
            exif = await run_in_threadpool(read_metadata, data)  # EXIF: off the loop
            captured = m.captured_at if m and m.captured_at else exif.captured_at
            lat: float | None
            lon: float | None
            if m and m.lat is not None and m.lon is not None:
                lat, lon = m.lat, m.lon
            else:
                lat, lon = exif.lat, exif.lon
            signed = m is not None and (m.signed is not None or m.signature is not None)
            photos.append(
                EvidencePhoto(
                    Photo(name, data),
                    captured,
                    lat,
                    lon,
                    signed=m.signed if m else None,
                    signature=m.signature if m else None,
                    # Sent beside a signature: must agree with the signed values.
                    stated_at=m.captured_at if m and signed else None,
                    stated_place=(m.lat, m.lon)
                    if m and signed and m.lat is not None and m.lon is not None
                    else None,
                )
            )

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            return 200, claim_out(
                cl.add_evidence(claim_id, photos, actor=user.username, conn=conn), lang
            )

        parts: list[bytes | str | None] = [meta]
        parts += [x for upload in uploads for x in upload]
        body = fingerprint(*parts)
        return await deps.idempotent(request, user, idempotency_key, work, body)

    @router.get(
        "/claims/{claim_id}/scenes", tags=["claims"], response_model=SceneOptionsOut
    )
    def claim_scenes(
        claim_id: str, user: Annotated[User, Depends(assessors)]
    ) -> SceneOptionsOut:
        """The catalogue's scenes that cover a crop claim's plot, and the rules' pick (adjusters).

        Only scenes with a red and a NIR band whose bounds hold the whole plot
        are listed, by date; ``before`` / ``after`` are what an assessment
        without names would use (the latest scene before the loss, the
        earliest after it). 404: no such claim; 422: not a crop claim.
        """
        return scene_options_out(cl.scene_options(claim_id, scenes))

    @router.post(
        "/claims/{claim_id}/assessment", tags=["claims"], response_model=ClaimOut
    )
    async def assess(
        claim_id: str,
        request: Request,
        user: Annotated[User, Depends(assessors)],
        lang: ReaderLang,
        body: AssessmentIn | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Measure a crop claim's damage on two catalogue scenes; sets the indemnity.

        ``before`` / ``after`` name registered scenes (no body, or either left
        out: the rules' pick, as ``GET /claims/{id}/scenes`` shows). A
        malformed name is a 422 naming the field; an unknown scene a 404
        naming it; a scene without red and NIR bands, one that does not cover
        the plot, or no scene on a side of the loss a 422 naming the side; a
        decided claim a 409. Nothing is written when refused.
        """
        chosen = body or AssessmentIn()

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record, _ = cl.assess_by_scenes(
                claim_id,
                scenes,
                chosen.before,
                chosen.after,
                actor=user.username,
                conn=conn,
            )
            return 200, claim_out(record, lang)

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/claims", tags=["claims"])
    def list_claims(
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        status: Literal["filed", "survey", "approved", "rejected", "paid"]
        | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[ClaimOut]:
        """Claims, newest first (a farmer sees only their own)."""
        page = cl.claims(
            farmer_id=own_farmer(user),
            status=status,
            offset=offset,
            limit=limit,
        )
        return page_of(ClaimOut, page, lambda c: ClaimOut(**claim_out(c, lang, user)))

    @router.get("/claims/{claim_id}", tags=["claims"])
    def get_claim(
        claim_id: str, user: Annotated[User, Depends(readers)], lang: ReaderLang
    ) -> ClaimOut:
        """A claim with its checks (a farmer sees only their own)."""
        record = cl.claim(claim_id)
        check_may_see(user, record, "claim")
        return ClaimOut(**claim_out(record, lang, user))

    @router.post(
        "/claims/{claim_id}/decision", tags=["claims"], response_model=ClaimOut
    )
    async def decide_claim(
        claim_id: str,
        decision: ClaimDecisionIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("claims.decide"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Approve, reject or send a claim for a field survey (adjusters).

        A rejection, a survey request, and an approval of a claim whose light
        is amber or red need a ``reason`` (422 naming it without one). A
        decided claim is not decided again (409).
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = cl.decide(
                claim_id,
                decision.decision,
                reason=decision.reason,
                grounds=decision.grounds,
                actor=user.username,
                conn=conn,
            )
            return 200, claim_out(record, lang)

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.post("/claims/{claim_id}/payment", tags=["claims"], response_model=ClaimOut)
    async def pay_claim(
        claim_id: str,
        payment: PaymentIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("claims.pay"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Pay an approved claim, exactly once (adjusters); a retry changes nothing.

        Four-eyes: above AGRI_FOUR_EYES_ABOVE_MINOR the adjuster who approved
        the claim may not record its payment (403 naming the rule).
        """

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record, _ = cl.pay(
                claim_id,
                actor=user.username,
                payment_ref=payment.payment_ref,
                conn=conn,
            )
            return 200, claim_out(record, lang)

        return await deps.idempotent(request, user, idempotency_key, work)

    return router
