"""API routes of underwriting: farmers, products, animal enrolment, applications, policies.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from livestock import EnrolResult, Match, Photo
from remote_sensing import ValidationRules, read_plots
from server.errors import InvalidInputError
from server.http.deps import (
    API,
    NO_NUL,
    NOTE_TEXT,
    PATH_ID,
    PLAIN_TEXT,
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
    read_upload,
    strict_json_loads,
)
from server.http.middleware import is_json
from server.i18n import Lang, render_check
from server.services.access import Caller, check_for, check_may_see, own_farmer
from server.services.auth import User
from server.services.underwriting import ApplicationRecord, FarmerRecord, PolicyRecord
from underwriting import Check, product_from_dict, product_to_dict

__all__ = [
    "PRODUCT_TERMS",
    "CropTermsIn",
    "LivestockTermsIn",
    "product_terms_schema",
    "records_router",
]

PLOT_SUFFIXES = {".geojson", ".json", ".gpkg", ".zip", ".kml"}
TAG = r"^(?:[0-9][ -]?){14}[0-9]$"
"""An ear tag as enrolment reads it: 15 digits, a space or dash between two of them."""
ENROLLED_TAG = r"^[0-9]{15}$"
"""An ear tag as enrolment keeps it: its 15 digits."""
_SIGNATURES = json_list_part(
    PhotoMeta,
    'JSON list of {"name", "signed", "signature"}, one per photo, matched by file '
    "name: the capture signatures the agent's app made.",
)


class FarmerIn(BaseModel):
    """A farmer to register; the farm's position anchors the photo-GPS check."""

    id: str = Field(
        min_length=1,
        max_length=64,
        pattern=PATH_ID,
        description="Plain text (no control character) without '/' or '\\'.",
        examples=["F-0001"],
    )
    name: str = Field(
        min_length=1, max_length=200, pattern=PLAIN_TEXT, examples=["Liu Jun"]
    )
    region: str = Field(
        min_length=1,
        max_length=200,
        pattern=PLAIN_TEXT,
        examples=["Hohhot, Inner Mongolia"],
    )
    lat: float | None = Field(None, ge=-90, le=90, examples=[40.842])
    lon: float | None = Field(None, ge=-180, le=180, examples=[111.749])


FRACTION = r"^(?:0(?:\.[0-9]{1,6})?|1(?:\.0{1,6})?)$"
"""A share from 0 to 1 as a decimal string (at most 6 places)."""
POSITIVE_AMOUNT = r"^(?:[1-9][0-9]{0,12}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
"""An amount above 0 in major units: a decimal string, at most 13 digits and 2 places."""
AMOUNT = r"^[0-9]{1,13}(?:\.[0-9]{1,2})?$"
"""An amount from 0 in major units: a decimal string, at most 13 digits and 2 places."""
MONTH_DAY = (
    r"^(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))$"
)
"""``MM-DD``, a day of every year (no 29 February)."""
Share = Annotated[str, Field(pattern=FRACTION, examples=["0.06"])]


def _whole(value: object) -> object:
    """A JSON number that is a whole number (``7.0``) as the int it is; else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# JSON Schema's integers include 7.0; strings and booleans are no number of days
# (the Field first: after a validator its bounds would not reach the document)
Days = Annotated[int, Field(ge=0, le=3660, strict=True), BeforeValidator(_whole)]


class SubsidyIn(BaseModel):
    """The premium's subsidy shares; the farmer pays the rest (together at most 1)."""

    central: Share = "0"
    provincial: Share = "0"
    county: Share = "0"


class CalendarIn(BaseModel):
    """A crop's calendar in one region: the four days, in this order through the year."""

    model_config = ConfigDict(extra="forbid")

    sowing: str = Field(pattern=MONTH_DAY, examples=["10-01"])
    heading: str = Field(pattern=MONTH_DAY, examples=["05-10"])
    harvest_start: str = Field(pattern=MONTH_DAY, examples=["07-01"])
    harvest_end: str = Field(pattern=MONTH_DAY, examples=["07-31"])


class _TermsIn(BaseModel):
    code: str = Field(
        min_length=1, max_length=64, pattern=PLAIN_TEXT, examples=["WHEAT-2025"]
    )
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    premium_rate: Share
    subsidy: SubsidyIn = Field(default_factory=SubsidyIn)


class CropTermsIn(_TermsIn):
    """A crop product: per area (mu or ha)."""

    kind: Literal["crop"]
    sum_insured_per_unit: str = Field(pattern=POSITIVE_AMOUNT, examples=["900"])
    unit: Literal["mu", "ha"] = "mu"
    deductible_rate: Share = "0"
    growth_stage_caps: dict[
        Annotated[str, Field(max_length=32, pattern=PLAIN_TEXT)], Share
    ] = Field(
        default_factory=dict,
        # pydantic's schema of the keys keeps their length, not their pattern
        json_schema_extra={"propertyNames": {"maxLength": 32, "pattern": PLAIN_TEXT}},
        examples=[{"maturity": "1"}],
    )
    scene_before_days: Days = 20
    scene_after_days: Days = 20
    calendars: dict[
        Annotated[str, Field(max_length=200, pattern=PLAIN_TEXT)], CalendarIn
    ] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": {"maxLength": 200, "pattern": PLAIN_TEXT}},
        description="By farmer region; '*': any other.",
    )


class LivestockTermsIn(_TermsIn):
    """A livestock product: per head."""

    kind: Literal["livestock"]
    sum_insured_per_head: str = Field(pattern=POSITIVE_AMOUNT, examples=["8000"])
    deductible: str = Field(
        "0", pattern=AMOUNT, description="At most the sum insured per head."
    )
    waiting_days: Days = 0
    whole_herd: bool = Field(False, strict=True)


ProductTermsIn = Annotated[CropTermsIn | LivestockTermsIn, Field(discriminator="kind")]
PRODUCT_TERMS = TypeAdapter(ProductTermsIn)
"""A product's terms as the API takes them; :func:`underwriting.product_from_dict`
then checks what no schema says (subsidies together at most 1, a deductible
within the sum insured, a calendar's days in order)."""


def product_terms_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The document of a product's terms: its schema, and the components it refers to."""
    schema = PRODUCT_TERMS.json_schema(ref_template="#/components/schemas/{model}")
    return schema, schema.pop("$defs", {})


class CheckOut(BaseModel):
    """One check: a stable code, its light, what it concerns, and the reason.

    ``reason`` is rendered in the reader's language (``Accept-Language``);
    ``message`` and ``params`` are the same reason as data (language-free).
    """

    code: str = Field(examples=["plot_area"])
    light: Literal["green", "amber", "red"]
    subject: str | None = Field(
        None,
        description="The plot, animal or photo the check concerns.",
        examples=["G-1"],
    )
    message: str = Field(examples=["plot_area.over"])
    params: dict[str, str | int | float | None] = Field(
        default_factory=dict, examples=[{"declared_ha": 2.1821, "measured_ha": 1.5594}]
    )
    reason: str = Field(
        examples=["plot G-1: 2.1821 ha declared but 1.5594 ha measured (139.9% of it)"]
    )


class MatchOut(BaseModel):
    """An enrolled animal the photos resemble."""

    tag: str
    farm: str
    score: float
    decision: str
    basis: Literal["photo", "session"] = Field(
        "photo", description="Judged by one photo's thresholds or a session's."
    )
    probability: float | None = Field(
        None, description="Calibrated chance it is the same animal (equal priors)."
    )


class SessionOut(BaseModel):
    """An enrolled animal's gallery after a verified later session was added."""

    tag: str
    sessions: int = Field(
        description="Session templates in the gallery, enrolment included."
    )
    match: MatchOut


def match_out(m: Match) -> MatchOut:
    """A registry match as the API shows it."""
    return MatchOut(
        tag=m.tag,
        farm=m.farm,
        score=round(m.score, 4),
        decision=m.decision,
        basis=m.basis,
        probability=None if m.probability is None else round(m.probability, 4),
    )


class EnrolmentOut(BaseModel):
    """What enrolment did: ``enrolled``, or ``duplicate``/``needs_review`` (nothing stored)."""

    status: Literal["enrolled", "duplicate", "needs_review"]
    tag: str
    match: MatchOut | None
    reused_photos: list[str]


class LivestockApplicationIn(BaseModel):
    """A livestock application: animals already presented for enrolment."""

    farmer_id: str = Field(min_length=1, max_length=64, examples=["F-0001"])
    product_code: str = Field(min_length=1, max_length=64, examples=["COW-2025"])
    start_date: date = Field(examples=["2025-04-01"])
    end_date: date = Field(examples=["2026-03-31"])
    animals: list[Annotated[str, Field(pattern=ENROLLED_TAG)]] = Field(
        min_length=1,
        max_length=5000,
        description="Ear tags as enrolment keeps them (15 digits), each listed once.",
        json_schema_extra={"uniqueItems": True},
        examples=[["998230000006730"]],
    )


class ApplicationDecisionIn(BaseModel):
    """The underwriter's decision (approving issues the policy)."""

    decision: Literal["approve", "refer", "decline"]
    reason: str | None = Field(
        None,
        max_length=2000,
        pattern=NOTE_TEXT,
        description="No control character but tabs and line breaks.",
        examples=["G-1 is over-declared"],
    )


class PolicyOut(BaseModel):
    """An issued policy."""

    id: str
    farmer_id: str
    product_code: str
    application_id: str
    kind: str
    start_date: date
    end_date: date
    sum_insured: str = Field(examples=["48000.00"])
    currency: str = Field(examples=["CNY"])
    premium: dict[str, str]
    animals: list[str]
    plots: list[str]


def check_out(c: Check, lang: Lang, viewer: Caller | None = None) -> CheckOut:
    """A check as the API shows it to ``viewer``, its reason in ``lang``.

    A farmer reads no other farmer's ids in it (:func:`check_for`); staff, and
    a caller that names no viewer, read it whole.
    """
    if viewer is not None:
        c = check_for(viewer, c)
    return CheckOut(
        code=c.code,
        light=c.light,
        subject=c.subject,
        message=c.message,
        params=dict(c.params),
        reason=render_check(c, lang),
    )


class ApplicationOut(BaseModel):
    """An application, its checks (reasons in the reader's language) and what became of it."""

    id: str
    farmer_id: str
    product_code: str
    kind: str
    start_date: date
    end_date: date
    status: str = Field(examples=["submitted"])
    light: str = Field(examples=["amber"])
    recommendation: str = Field(examples=["refer"])
    checks: list[CheckOut]
    animals: list[str]
    plots: list[str]
    reason: str | None
    decided_by: str | None
    policy_id: str | None


def application_out(
    a: ApplicationRecord, lang: Lang, viewer: Caller | None = None
) -> ApplicationOut:
    """An application as the API shows it (to ``viewer``: see :func:`check_out`)."""
    return ApplicationOut(
        id=a.id,
        farmer_id=a.farmer_id,
        product_code=a.product_code,
        kind=a.kind,
        start_date=a.start_date,
        end_date=a.end_date,
        status=a.status,
        light=a.light,
        recommendation=a.recommendation,
        checks=[check_out(c, lang, viewer) for c in a.checks],
        animals=list(a.animals),
        plots=list(a.plots),
        reason=a.reason,
        decided_by=a.decided_by,
        policy_id=a.policy_id,
    )


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    """One adapter per record type: building one compiles its schema (about 1 ms)."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:  # two threads may both build one; either serves
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def as_json(record: object) -> Any:
    """A service record (a dataclass) as JSON-ready values, as its response model shows it."""
    return _adapter(type(record)).dump_python(record, mode="json")


def _policy(p: PolicyRecord) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        farmer_id=p.farmer_id,
        product_code=p.product_code,
        application_id=p.application_id,
        kind=p.kind,
        start_date=p.start_date,
        end_date=p.end_date,
        sum_insured=str(p.sum_insured),
        currency=p.sum_insured.currency,
        premium=p.premium,
        animals=list(p.animals),
        plots=list(p.plots),
    )


def _enrolment(r: EnrolResult) -> EnrolmentOut:
    m = r.match if r.status != "enrolled" else None
    return EnrolmentOut(
        status=r.status,
        tag=r.tag,
        match=match_out(m) if m else None,
        reused_photos=[p.photo for p in r.reused_photos],
    )


def _capture_signatures(
    uploads: list[tuple[str, bytes]], meta: str | None
) -> list[tuple[str | None, str | None]]:
    """Each photo's (signed message, signature) from ``meta`` by name, or (None, None)."""
    metas = parse_photo_meta(meta)
    return [
        (m.signed, m.signature) if m is not None else (None, None)
        for m in (metas.get(name) for name, _ in uploads)
    ]


def _upload_fingerprint(
    fields: list[bytes | str | None], uploads: list[tuple[str, bytes]], meta: str | None
) -> bytes:
    """The idempotency fingerprint of a photo upload: its fields, every photo, then ``meta``."""
    parts = [*fields, *(x for upload in uploads for x in upload)]
    if meta is not None:  # last, so keys stored before meta existed still match
        parts.append(meta)
    return fingerprint(*parts)


def records_router(deps: Deps) -> APIRouter:
    """Routes for farmers, products, animals, applications and policies."""
    router = APIRouter(prefix=API)
    uw = deps.ctx.underwriting
    settings = deps.ctx.settings
    readers = deps.may("read")

    @router.post(
        "/farmers", tags=["farmers"], status_code=201, response_model=FarmerRecord
    )
    async def register_farmer(
        farmer: FarmerIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("farmers.register"))],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Register a farmer (admins)."""

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            f = uw.register_farmer(
                farmer.id,
                farmer.name,
                farmer.region,
                lat=farmer.lat,
                lon=farmer.lon,
                actor=user.username,
                conn=conn,
            )
            return 201, as_json(f)

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/farmers", tags=["farmers"])
    def list_farmers(
        _: Annotated[User, Depends(deps.may("farmers.list"))],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[FarmerRecord]:
        """Farmers in id order (staff)."""
        page = uw.farmers(offset, limit)
        return page_of(FarmerRecord, page, lambda f: f)

    @router.post(
        "/products",
        tags=["products"],
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": product_terms_schema()[0]}},
            }
        },
    )
    async def add_product(
        request: Request,
        user: Annotated[User, Depends(deps.may("products.add"))],
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Create a product from its terms (admins).

        Crop: ``{"kind": "crop", "code", "currency", "sum_insured_per_unit",
        "unit": "mu"|"ha", "premium_rate", "deductible_rate", "growth_stage_caps",
        "subsidy": {"central", "provincial", "county"}}``. Livestock: ``{"kind":
        "livestock", "code", "currency", "sum_insured_per_head", "premium_rate",
        "deductible", "waiting_days", "whole_herd", "subsidy"}``. Amounts and
        rates are strings of decimals. Terms that do not fit the document are
        refused naming the term (422, field ``terms``).
        """
        if not is_json(request.headers.get("content-type", "")):
            raise InvalidInputError(
                "send the product's terms as application/json", field="body"
            )
        try:
            terms = strict_json_loads(await request.body())
        except (ValueError, RecursionError):
            terms = None
        if not isinstance(terms, dict):
            raise InvalidInputError(
                "send the product's terms as a JSON object", field="body"
            )
        try:
            valid = PRODUCT_TERMS.validate_python(terms)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"][1:]) or "kind"
            raise InvalidInputError(f"{where}: {first['msg']}", field="terms") from exc
        # The terms as sent, numbers of days as ints (a JSON 7.0 is 7)
        product = product_from_dict(valid.model_dump(mode="json", exclude_unset=True))

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            uw.add_product(product, actor=user.username, conn=conn)
            return 201, product_to_dict(product)

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/products", tags=["products"])
    def list_products(_: Annotated[User, Depends(readers)]) -> list[dict[str, Any]]:
        """Every product and its terms."""
        return [product_to_dict(p) for p in uw.products()]

    @router.post(
        "/animals",
        tags=["livestock"],
        response_model=EnrolmentOut,
        responses={
            201: {"model": EnrolmentOut, "description": "Enrolled."},
            200: {"description": "A duplicate or for review: nothing stored."},
        },
    )
    async def enrol_animal(
        request: Request,
        user: Annotated[User, Depends(deps.may("animals.enrol"))],
        tag: Annotated[
            str,
            Form(
                pattern=TAG,
                description="15 digits (a space or dash between two allowed); "
                "the scheme's codes must be assigned (an ISO 11784 country, a CN "
                "species and province).",
                examples=["998230000006730"],
            ),
        ],
        farmer_id: Annotated[str, Form(pattern=NO_NUL, min_length=1, max_length=64)],
        files: Annotated[list[UploadFile], photo_files("Face photos, JPEG or PNG.")],
        scheme: Annotated[Literal["iso11784", "cn"], Form()] = "iso11784",
        meta: Annotated[str | None, Form(json_schema_extra=_SIGNATURES)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Enrol an animal from several face photos (field agents).

        Returns ``enrolled``; or ``duplicate`` / ``needs_review`` with the
        enrolled animal it matches, in which case nothing is stored. A photo
        failing the quality gate is named with its reasons (422), and so is a
        photo whose capture signature is red (422, field ``meta``: nothing is
        stored); unsigned photos are accepted. The verdicts are recorded with
        the attempt and in the ``animal.enrolled`` ledger event.
        """
        uploads = await read_photos(files, deps.photo_limits)
        photos = [Photo(name, data) for name, data in uploads]
        signatures = _capture_signatures(uploads, meta)

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            result = deps.ctx.enrolment.enrol_animal(
                tag,
                photos,
                farmer_id=farmer_id,
                scheme=scheme,
                actor=user.username,
                signatures=signatures,
                conn=conn,
            )
            code = 201 if result.status == "enrolled" else 200
            return code, _enrolment(result).model_dump()

        body = _upload_fingerprint([tag, farmer_id, scheme], uploads, meta)
        return await deps.idempotent(request, user, idempotency_key, work, body)

    @router.post(
        "/animals/{tag}/sessions",
        tags=["livestock"],
        status_code=201,
        response_model=SessionOut,
    )
    async def add_animal_session(
        tag: Annotated[str, PathParam(pattern=NO_NUL, min_length=1, max_length=32)],
        request: Request,
        user: Annotated[User, Depends(deps.may("animals.enrol"))],
        files: Annotated[
            list[UploadFile], photo_files("Face photos of one later visit.")
        ],
        meta: Annotated[str | None, Form(json_schema_extra=_SIGNATURES)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Add a later capture session (an inspection) to an enrolled animal's gallery.

        The photos must verify as the animal and be new photos; the gallery
        then matches the animal by its best session, which is what later
        claims are compared with. 404 for an unknown tag; 422 when the photos
        do not match or repeat a stored photo, or a photo's capture signature
        is red (field ``meta``, the photo named): nothing is stored. The
        verdicts are recorded in the ``animal.session_added`` ledger event.
        """
        uploads = await read_photos(files, deps.photo_limits)
        photos = [Photo(name, data) for name, data in uploads]
        signatures = _capture_signatures(uploads, meta)

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record, match = deps.ctx.enrolment.add_animal_session(
                tag, photos, actor=user.username, signatures=signatures, conn=conn
            )
            out = SessionOut(
                tag=tag, sessions=len(record.sessions) + 1, match=match_out(match)
            )
            return 201, out.model_dump()

        body = _upload_fingerprint([tag], uploads, meta)
        return await deps.idempotent(request, user, idempotency_key, work, body)

    @router.post(
        "/applications/livestock",
        tags=["applications"],
        status_code=201,
        response_model=ApplicationOut,
    )
    async def apply_livestock(
        application: LivestockApplicationIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("applications.submit"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Submit a livestock application; its checks run at once (field agents)."""

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            a = uw.apply_livestock(
                application.farmer_id,
                application.product_code,
                application.animals,
                start=application.start_date,
                end=application.end_date,
                actor=user.username,
                conn=conn,
            )
            return 201, application_out(a, lang).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.post(
        "/applications/crop",
        tags=["applications"],
        status_code=201,
        response_model=ApplicationOut,
    )
    async def apply_crop(
        request: Request,
        user: Annotated[User, Depends(deps.may("applications.submit"))],
        lang: ReaderLang,
        farmer_id: Annotated[str, Form(pattern=NO_NUL, min_length=1, max_length=64)],
        product_code: Annotated[str, Form(pattern=NO_NUL, min_length=1, max_length=64)],
        start_date: Annotated[date, Form()],
        end_date: Annotated[date, Form()],
        file: Annotated[
            UploadFile,
            File(description="Plots: GeoJSON, GeoPackage, zipped Shapefile or KML."),
        ],
        id_column: Annotated[str | None, Form(pattern=NO_NUL, max_length=64)] = None,
        declared_column: Annotated[
            str | None, Form(pattern=NO_NUL, max_length=64)
        ] = None,
        declared_unit: Annotated[Literal["ha", "mu", "m2"], Form()] = "ha",
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Submit a crop application with its plot file; the plot checks run at once.

        Every plot is measured (geodesic area), compared with its declared
        area, and searched for overlaps with plots of policies in force. One
        bad plot does not sink the file: it is listed among the checks.
        """
        name = Path(file.filename or "plots.geojson").name
        kind = next((s for s in PLOT_SUFFIXES if name.lower().endswith(s)), None)
        if kind is None:
            raise InvalidInputError(
                f"{name[:120]}: send GeoJSON, GeoPackage, a zipped Shapefile or KML",
                field="file",
            )
        data = await read_upload(file, settings.max_upload_mb << 20, "file")

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            with tempfile.TemporaryDirectory() as tmp:
                # The client's name is never a path: only the kind of file is kept.
                path = Path(tmp) / f"plots{kind}"
                path.write_bytes(data)
                plot_set = read_plots(
                    path,
                    id_column=id_column,
                    declared_column=declared_column,
                    declared_unit=declared_unit,
                    rules=ValidationRules(),
                )
            a = uw.apply_crop(
                farmer_id,
                product_code,
                plot_set,
                start=start_date,
                end=end_date,
                actor=user.username,
                conn=conn,
            )
            return 201, application_out(a, lang).model_dump(mode="json")

        body = fingerprint(
            farmer_id,
            product_code,
            start_date.isoformat(),
            end_date.isoformat(),
            id_column,
            declared_column,
            declared_unit,
            name,
            data,
        )
        return await deps.idempotent(request, user, idempotency_key, work, body)

    @router.get("/applications", tags=["applications"])
    def list_applications(
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        status: Literal["submitted", "referred", "approved", "declined"] | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[ApplicationOut]:
        """Applications, newest first (a farmer sees only their own)."""
        page = uw.applications(
            status=status,
            farmer_id=own_farmer(user),
            offset=offset,
            limit=limit,
        )
        return page_of(ApplicationOut, page, lambda a: application_out(a, lang, user))

    @router.get("/applications/{application_id}", tags=["applications"])
    def get_application(
        application_id: str,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
    ) -> ApplicationOut:
        """One application and its checks (a farmer sees only their own)."""
        a = uw.application(application_id)
        check_may_see(user, a, "application")
        return application_out(a, lang, user)

    @router.post(
        "/applications/{application_id}/decision",
        tags=["applications"],
        response_model=ApplicationOut,
    )
    async def decide_application(
        application_id: str,
        decision: ApplicationDecisionIn,
        request: Request,
        user: Annotated[User, Depends(deps.may("applications.decide"))],
        lang: ReaderLang,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Approve (issues the policy), refer or decline an application (underwriters)."""

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            a = uw.decide(
                application_id,
                decision.decision,
                actor=user.username,
                reason=decision.reason,
                conn=conn,
            )
            return 200, application_out(a, lang).model_dump(mode="json")

        return await deps.idempotent(request, user, idempotency_key, work)

    @router.get("/policies", tags=["policies"])
    def list_policies(
        user: Annotated[User, Depends(readers)], offset: Offset = 0, limit: Limit = 50
    ) -> PageOut[PolicyOut]:
        """Policies, newest first (a farmer sees only their own)."""
        page = uw.policies(
            farmer_id=own_farmer(user),
            offset=offset,
            limit=limit,
        )
        return page_of(PolicyOut, page, _policy)

    @router.get("/policies/{policy_id}", tags=["policies"])
    def get_policy(
        policy_id: str, user: Annotated[User, Depends(readers)]
    ) -> PolicyOut:
        """One policy (a farmer sees only their own)."""
        p = uw.policy(policy_id)
        check_may_see(user, p, "policy")
        return _policy(p)

    return router
