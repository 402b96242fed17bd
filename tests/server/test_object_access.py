"""Object-level access (OWASP API1): no farmer reads or changes another's records by id.

Two farmers, F-1 and F-2, each with a livestock policy on an enrolled cow
(face photos kept), an animal claim with an evidence photo, a crop policy on
an Austrian field and a crop claim assessed by map (damage polygons stored),
and ledger entries naming them. Then every route of the app with a path
parameter (taken from ``app.routes``: a new one without a case below fails
the walk) is called by every role and by nobody:

* anonymous: 401 (the public imagery routes answer as they answer anyone);
* a role the access policy (``server.services.access.may_do``) does not admit:
  403 (404 for a photo by digest, which never says whether it is kept);
* farmer F-1 with F-2's ids: 403 or 404, or a filtered 200 that holds none of
  F-2's records; with his own ids: 200 (so the walk can fail);
* staff the policy admits: 200 on F-2's records (``may_see``: staff see every
  farmer's); on a write, an unknown id is 404 (admitted, nothing changed),
  and a field agent's write on another agent's device 403.

No response to F-1 holds any id of F-2's records, and no refused request
writes anything: every table's rows, the ledger and the photo folder are
compared before and after each. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from remote_sensing import ImageSpec
from server.chain import ChainContext
from server.cli.imagery import register_demo_scenes
from server.config import Settings
from server.context import AppContext, build_context
from server.errors import ForbiddenError, NotFoundError
from server.http.app import create_app
from server.services.access import STAFF, Action, Viewer, may_do
from server.services.auth import ROLES, Role, UserStore
from server.services.history import HistoryService
from server.services.underwriting import UnderwritingService
from server.services.work import reading
from server.storage.schema import metadata
from tests.claims.capture_phone import Phone
from tests.server.notices import notices
from tests.server.pages_records import (
    AUSTRIA_SCENE,
    PASSWORD,
    Cows,
    animal_claim,
    crop_policy,
    insure_herd,
    pick_cows,
)

API = "/api/v1"
USERS: dict[str, tuple[Role, str | None]] = {
    "admin": ("admin", None),
    "underwriter": ("underwriter", None),
    "adjuster": ("adjuster", None),
    "field_agent": ("field_agent", None),
    "field_agent2": ("field_agent", None),
    "farmer": ("farmer", "F-1"),
    "farmer2": ("farmer", "F-2"),
}
"""Who logs in: a user of each role; ``farmer`` (F-1) walks against F-2's records."""
WALKER: dict[Role, str] = {
    "admin": "admin",
    "underwriter": "underwriter",
    "adjuster": "adjuster",
    "field_agent": "field_agent",
    "farmer": "farmer",
}
UNKNOWN = "0000-not-a-record"
"""An id no record has: what an admitted role's write is sent to (404, nothing changed)."""
CROP_LOSS = date(2021, 9, 10)
SCENE = "austria-2021-09-25"


@pytest.fixture(scope="module")
def cows(shared_data: Path) -> Cows:
    return pick_cows(shared_data)


@pytest.fixture(scope="module")
def imagery(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("imagery")
    register_demo_scenes(folder, shared_data / AUSTRIA_SCENE)
    return folder


@pytest.fixture
def app(make_settings: Callable[..., Settings], imagery: Path) -> Iterator[AppContext]:
    from ledger.adapters.memory import InMemoryAnchor

    ctx = build_context(
        make_settings(imagery_dir=imagery),
        chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="mem"),
    )
    yield ctx
    ctx.close()


# --- the world: two farmers' records ------------------------------------------------


@dataclass(frozen=True)
class Records:
    """One farmer's records, by what a route's path parameter takes."""

    farmer: str
    user: str
    tag: str
    livestock_application: str
    livestock_policy: str
    crop_application: str
    crop_policy: str
    plot: str
    animal_claim: str
    crop_claim: str
    animal_photo: str
    claim_photo: str
    entry: int

    def ids(self) -> set[str]:
        """Every id of this farmer's records (what no other farmer may be shown)."""
        return {
            self.farmer,
            self.tag,
            self.livestock_application,
            self.livestock_policy,
            self.crop_application,
            self.crop_policy,
            self.animal_claim,
            self.crop_claim,
            self.animal_photo,
            self.claim_photo,
        }


@dataclass(frozen=True)
class World:
    mine: Records  # F-1's: the walker's own
    theirs: Records  # F-2's
    devices: dict[str, str]  # agent -> device id
    nobodys_entry: int  # a ledger entry naming no farmer (a product)
    # Public notices: "mine" of F-1's region (F-2's too), "theirs" of another
    # region (F-5's, Upper Austria); "objection" an objection to "theirs".
    notices: dict[str, str] = field(default_factory=dict)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _crop_claim(
    app: AppContext, shared: Path, policy: str, farmer: str, plot: str
) -> str:
    """A hail claim on ``plot`` assessed on the real Sentinel-2 pair: damage stored."""
    c = app.claims.file(
        policy_id=policy,
        farmer_id=farmer,
        subject_kind="plot",
        subject_id=plot,
        event_date=CROP_LOSS,
        reported_at=datetime(2021, 9, 12, tzinfo=UTC),
        claimed_fraction=0.8,
        growth_stage="maturity",
        actor="agent",
    )
    scene = shared / AUSTRIA_SCENE
    app.claims.assess_by_map(
        c.id,
        ImageSpec(scene, {"red": 1, "nir": 4}, 0.0001),
        ImageSpec(scene, {"red": 5, "nir": 8}, 0.0001),
        actor="adjuster",
    )
    return c.id


def _entries(app: AppContext) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in app.ledger.store.iter_entries()]


def build_world(app: AppContext, cows: Cows, shared: Path) -> World:
    """Both farmers' records, the agents' devices and the users of every role."""
    store = UserStore(app.engine)
    herd = insure_herd(app, cows)  # registers F-1 and F-2, enrols a cow each
    for name, (role, farmer) in USERS.items():
        store.create(name, PASSWORD, role, farmer)
    records = {}
    for i, (farmer, user, plot) in enumerate(
        (("F-1", "farmer", "AT-0001"), ("F-2", "farmer2", "AT-0488"))
    ):
        tag = cows.tags[i]
        claim, caps = animal_claim(app, cows, herd, farmer, n=1)
        crop_app, crop_pol = crop_policy(app, [plot], farmer=farmer)
        policy = herd.policies[farmer]
        records[farmer] = {
            "farmer": farmer,
            "user": user,
            "tag": tag,
            "livestock_application": app.underwriting.policy(policy).application_id,
            "livestock_policy": policy,
            "crop_application": crop_app,
            "crop_policy": crop_pol,
            "plot": plot,
            "animal_claim": claim.id,
            "crop_claim": _crop_claim(app, shared, crop_pol, farmer, plot),
            "animal_photo": _sha(cows.enrol[tag][0].path),
            "claim_photo": _sha(caps[0].path),
        }
    devices = {
        agent: app.devices.register(
            agent=agent, public_key=Phone().jwk(), label=f"{agent}'s phone"
        )[0].id
        for agent in ("field_agent", "field_agent2")
    }
    entries = _entries(app)

    def first_naming(farmer: str) -> int:
        return next(
            i
            for i, e in enumerate(entries)
            if e["subjects"].get("farmer") == farmer and e["type"] == "claim.filed"
        )

    nobody = next(i for i, e in enumerate(entries) if "farmer" not in e["subjects"])
    return World(
        Records(**records["F-1"], entry=first_naming("F-1")),
        Records(**records["F-2"], entry=first_naming("F-2")),
        devices,
        nobody,
        _notices(app),
    )


def _notices(app: AppContext) -> dict[str, str]:
    """The underwriting notices of Hohhot (F-1's and F-2's village) and of Upper Austria
    (F-5's crop policy there), and an objection to the latter."""
    crop_policy(app, ["AT-0002"], farmer="F-5")  # registers F-5 in Upper Austria
    service = notices(app)
    found = {}
    for key, region in (("mine", "Hohhot"), ("theirs", "Upper Austria")):
        today = service._today(region)
        found[key] = service.publish(
            Viewer("underwriter"),
            kind="underwriting",
            region=region,
            start=today - timedelta(days=30),
            end=today,
            actor="underwriter",
        ).record.id
    found["objection"] = service.object(
        Viewer("adjuster"),
        found["theirs"],
        row=1,
        text="the field is smaller",
        on_behalf_of="a neighbour",
        actor="adjuster",
    ).id
    return found


# --- the specification: every id-bearing route ----------------------------------------


Owner = Literal["farmer", "filtered", "agent", "nobody", "public"]


@dataclass(frozen=True)
class Variant:
    """One way to call a route: the ids it is called with.

    ``theirs``: the path with F-2's ids (the walker is F-1); ``mine``: with F-1's
    (a farmer's positive control), None where no farmer may take the action.
    ``action`` and ``refusal`` override the case's.
    """

    label: str
    theirs: Callable[[World], str]
    mine: Callable[[World], str] | None = None
    action: Action | None = None
    refusal: int | None = None


@dataclass(frozen=True)
class Case:
    """A route, the access-policy action it admits, and whose records its ids name.

    ``owner``: ``farmer`` (a record of one farmer: another farmer gets 403/404),
    ``filtered`` (the answer is narrowed to the farmer's own entries),
    ``agent`` (a field agent's device: another agent gets 403), ``nobody``
    (users: admins only), ``public`` (no login: public imagery, no farmer's data).
    ``refusal``: what a role outside ``action`` gets. ``unknown``: the path with an
    id no record has, for the roles a write admits.
    """

    method: str
    route: str
    action: Action
    owner: Owner
    variants: tuple[Variant, ...]
    unknown: str | None = None
    refusal: int = 403
    json: dict[str, Any] | None = None
    files: bool = False


def v(
    label: str,
    theirs: Callable[[World], str],
    mine: Callable[[World], str] | None = None,
    **kw: Any,
) -> tuple[Variant, ...]:
    return (Variant(label, theirs, mine, **kw),)


def _history(kind: str, attr: str, owner: Owner = "farmer") -> Variant:
    return Variant(
        kind,
        lambda w: f"{API}/history/{kind}/{getattr(w.theirs, attr)}",
        lambda w: f"{API}/history/{kind}/{getattr(w.mine, attr)}",
    )


def _photo(label: str, attr: str, suffix: str, action: Action | None = None) -> Variant:
    def path(r: Records) -> str:
        return f"{API}/photos/{getattr(r, attr)}{suffix}"

    return Variant(label, lambda w: path(w.theirs), lambda w: path(w.mine), action)


def _user(what: str) -> Variant:
    """A user route on another farmer's account (the walker's own is no different)."""
    return Variant("another farmer", lambda w: f"{API}/users/{w.theirs.user}/{what}")


def _claim(path: str, attr: str = "animal_claim") -> tuple[Variant, ...]:
    return v(
        attr,
        lambda w: f"{API}/claims/{getattr(w.theirs, attr)}{path}",
        lambda w: f"{API}/claims/{getattr(w.mine, attr)}{path}",
    )


def _ogc(collection: str, suffix: str = "") -> Variant:
    """An OGC API collection (or its items): no ids in the path, a farmer's answer narrowed."""
    return Variant(collection, lambda w: f"/ogc/collections/{collection}{suffix}")


def _notice(suffix: str = "") -> tuple[Variant, ...]:
    """A notice of another region (a farmer reads his own region's only), and his own."""
    return v(
        "another region's notice",
        lambda w: f"{API}/notices/{w.notices['theirs']}{suffix}",
        lambda w: f"{API}/notices/{w.notices['mine']}{suffix}",
    )


UNKNOWN_NOTICE = "ntc_" + "0" * 32
UNKNOWN_OBJECTION = "obj_" + "0" * 32


CASES: tuple[Case, ...] = (
    Case(
        "GET",
        "/api/v1/ledger/receipts/{index}",
        "read",
        "farmer",
        (
            Variant(
                "an entry naming F-2",
                lambda w: f"{API}/ledger/receipts/{w.theirs.entry}",
                lambda w: f"{API}/ledger/receipts/{w.mine.entry}",
            ),
            Variant(
                "an entry naming no farmer",
                lambda w: f"{API}/ledger/receipts/{w.nobodys_entry}",
            ),
        ),
    ),
    Case(
        "POST",
        "/api/v1/animals/{tag}/sessions",
        "animals.enrol",
        "farmer",
        v("tag", lambda w: f"{API}/animals/{w.theirs.tag}/sessions"),
        unknown=f"{API}/animals/{UNKNOWN}/sessions",
        files=True,
    ),
    Case(
        "GET",
        "/api/v1/applications/{application_id}",
        "read",
        "farmer",
        (
            Variant(
                "livestock",
                lambda w: f"{API}/applications/{w.theirs.livestock_application}",
                lambda w: f"{API}/applications/{w.mine.livestock_application}",
            ),
            Variant(
                "crop",
                lambda w: f"{API}/applications/{w.theirs.crop_application}",
                lambda w: f"{API}/applications/{w.mine.crop_application}",
            ),
        ),
    ),
    Case(
        "POST",
        "/api/v1/applications/{application_id}/decision",
        "applications.decide",
        "farmer",
        v(
            "crop",
            lambda w: f"{API}/applications/{w.theirs.crop_application}/decision",
        ),
        unknown=f"{API}/applications/{UNKNOWN}/decision",
        json={"decision": "decline", "reason": "walked"},
    ),
    Case(
        "GET",
        "/api/v1/policies/{policy_id}",
        "read",
        "farmer",
        v(
            "livestock",
            lambda w: f"{API}/policies/{w.theirs.livestock_policy}",
            lambda w: f"{API}/policies/{w.mine.livestock_policy}",
        ),
    ),
    Case(
        "POST",
        "/api/v1/claims/{claim_id}/evidence",
        "claims.add_evidence",
        "farmer",
        v("animal", lambda w: f"{API}/claims/{w.theirs.animal_claim}/evidence"),
        unknown=f"{API}/claims/{UNKNOWN}/evidence",
        files=True,
    ),
    Case(
        "GET",
        "/api/v1/claims/{claim_id}/scenes",
        "claims.assess",
        "farmer",
        v("crop", lambda w: f"{API}/claims/{w.theirs.crop_claim}/scenes"),
    ),
    Case(
        "POST",
        "/api/v1/claims/{claim_id}/assessment",
        "claims.assess",
        "farmer",
        v("crop", lambda w: f"{API}/claims/{w.theirs.crop_claim}/assessment"),
        unknown=f"{API}/claims/{UNKNOWN}/assessment",
        json={},
    ),
    Case(
        "GET",
        "/api/v1/claims/{claim_id}",
        "claims.read",
        "farmer",
        _claim("") + _claim("", "crop_claim"),
    ),
    Case(
        "POST",
        "/api/v1/claims/{claim_id}/decision",
        "claims.decide",
        "farmer",
        v("animal", lambda w: f"{API}/claims/{w.theirs.animal_claim}/decision"),
        unknown=f"{API}/claims/{UNKNOWN}/decision",
        json={"decision": "reject", "reason": "walked"},
    ),
    Case(
        "POST",
        "/api/v1/claims/{claim_id}/payment",
        "claims.pay",
        "farmer",
        v("animal", lambda w: f"{API}/claims/{w.theirs.animal_claim}/payment"),
        unknown=f"{API}/claims/{UNKNOWN}/payment",
        json={"payment_ref": "WALK-1"},
    ),
    Case(
        "GET",
        "/api/v1/claims/{claim_id}/photos",
        "photos.evidence",
        "farmer",
        _claim("/photos"),
    ),
    Case(
        "GET",
        "/api/v1/animals/{tag}/photos",
        "read",
        "farmer",
        v(
            "tag",
            lambda w: f"{API}/animals/{w.theirs.tag}/photos",
            lambda w: f"{API}/animals/{w.mine.tag}/photos",
        ),
    ),
    *(
        Case(
            "GET",
            f"/api/v1/photos/{{sha256}}{suffix}",
            "read",
            "farmer",
            (
                _photo("enrolment photo", "animal_photo", suffix),
                _photo("evidence photo", "claim_photo", suffix, "photos.evidence"),
            ),
            refusal=404,  # a digest never tells whether the photo is kept
        )
        for suffix in ("", "/thumb")
    ),
    Case(
        "GET",
        "/api/v1/applications/{application_id}/plots.geojson",
        "read",
        "farmer",
        v(
            "crop",
            lambda w: f"{API}/applications/{w.theirs.crop_application}/plots.geojson",
            lambda w: f"{API}/applications/{w.mine.crop_application}/plots.geojson",
        ),
    ),
    Case(
        "GET",
        "/api/v1/policies/{policy_id}/plots.geojson",
        "read",
        "farmer",
        v(
            "crop",
            lambda w: f"{API}/policies/{w.theirs.crop_policy}/plots.geojson",
            lambda w: f"{API}/policies/{w.mine.crop_policy}/plots.geojson",
        ),
    ),
    Case(
        "GET",
        "/api/v1/claims/{claim_id}/damage.geojson",
        "read",
        "farmer",
        _claim("/damage.geojson", "crop_claim"),
    ),
    Case(
        "GET",
        "/api/v1/claims/{claim_id}/series",
        "read",
        "farmer",
        _claim("/series", "crop_claim"),
    ),
    Case(
        "GET",
        "/api/v1/history/{kind}/{subject_id}",
        "read",
        "farmer",
        (
            _history("application", "crop_application"),
            _history("policy", "livestock_policy"),
            _history("claim", "animal_claim"),
            _history("animal", "tag"),
            _history("farmer", "farmer"),
        ),
    ),
    Case(
        "GET",
        "/api/v1/history/{kind}/{subject_id}",
        "read",
        "filtered",  # plot ids are the farmer's file's: F-1 gets his entries only
        (_history("plot", "plot"),),
    ),
    Case(
        "GET",
        "/api/v1/scenes/{scene}/tilejson.json",
        "read",
        "public",
        v("scene", lambda w: f"{API}/scenes/{SCENE}/tilejson.json?layer=ndvi"),
    ),
    Case(
        "GET",
        "/api/v1/scenes/{scene}/tiles/{z}/{x}/{y}.{format}",
        "read",
        "public",
        v("tile", lambda w: f"{API}/scenes/{SCENE}/tiles/12/2197/1415.png"),
    ),
    Case(
        "POST",
        "/api/v1/devices/{device_id}/revoke",
        "devices.list",
        "agent",
        v("device", lambda w: f"{API}/devices/{w.devices['field_agent2']}/revoke"),
        unknown=f"{API}/devices/{UNKNOWN}/revoke",
    ),
    Case(
        "POST",
        "/api/v1/devices/{device_id}/approve",
        "devices.approve",
        "agent",
        v("device", lambda w: f"{API}/devices/{w.devices['field_agent2']}/approve"),
        unknown=f"{API}/devices/{UNKNOWN}/approve",
    ),
    # OGC API - Features: a farmer's items are his own; another's feature is not found.
    Case(
        "GET",
        "/ogc/collections/{collectionId}",
        "read",
        "filtered",
        tuple(_ogc(c) for c in ("plots", "claims", "damage")),
    ),
    Case(
        "GET",
        "/ogc/collections/{collectionId}/items",
        "read",
        "filtered",
        tuple(_ogc(c, "/items") for c in ("plots", "claims", "damage")),
    ),
    Case(
        "GET",
        "/ogc/collections/{collectionId}/items/{featureId}",
        "read",
        "farmer",
        v(
            "crop claim",
            lambda w: f"/ogc/collections/claims/items/{w.theirs.crop_claim}",
            lambda w: f"/ogc/collections/claims/items/{w.mine.crop_claim}",
        ),
    ),
    # Public notices: a farmer reads and objects to his own region's only; the
    # receipt is public (the printed QR code opens it).
    Case("GET", "/api/v1/notices/{notice_id}", "read", "farmer", _notice()),
    Case("GET", "/api/v1/notices/{notice_id}/pdf", "read", "farmer", _notice("/pdf")),
    Case(
        "GET",
        "/api/v1/ledger/notices/{notice_id}/receipt",
        "read",
        "public",
        v(
            "another region's notice",
            lambda w: f"{API}/ledger/notices/{w.notices['theirs']}/receipt",
        ),
    ),
    Case(  # the page the printed QR code opens: it fetches the receipt above
        "GET",
        "/notices/{notice_id}",
        "read",
        "public",
        v("another region's notice", lambda w: f"/notices/{w.notices['theirs']}"),
    ),
    Case(
        "POST",
        "/api/v1/notices/{notice_id}/objections",
        "notices.object",
        "farmer",
        v(
            "another region's notice",
            lambda w: f"{API}/notices/{w.notices['theirs']}/objections",
        ),
        unknown=f"{API}/notices/{UNKNOWN_NOTICE}/objections",
        json={"row": 1, "text": "walked"},
    ),
    Case(
        "POST",
        "/api/v1/notices/{notice_id}/objections/{objection_id}/resolution",
        "notices.resolve",
        "farmer",
        v(
            "another region's notice",
            lambda w: (
                f"{API}/notices/{w.notices['theirs']}/objections/"
                f"{w.notices['objection']}/resolution"
            ),
        ),
        unknown=f"{API}/notices/{UNKNOWN_NOTICE}/objections/{UNKNOWN_OBJECTION}"
        "/resolution",
        json={"outcome": "dismissed", "reason": "walked"},
    ),
    *(
        Case(
            method,
            f"/api/v1/users/{{username}}/{what}",
            "users.manage",
            "nobody",
            (_user(what),),
            unknown=f"{API}/users/{UNKNOWN}/{what}",
            json=body,
        )
        for method, what, body in (
            ("POST", "disable", None),
            ("POST", "enable", None),
            ("PUT", "role", {"role": "admin"}),
            ("POST", "password", {"password": "a new password 1"}),
        )
    ),
)


def id_bearing_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every API route of ``app`` with a path parameter."""
    return {(m, p) for m, p in api_routes(app) if "{" in p}


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every API route of ``app`` (HEAD left out: GET's twin)."""
    found = set()
    for rc in iter_route_contexts(app.routes):
        path = rc.path
        if not isinstance(rc.original_route, APIRoute) or path is None:
            continue
        found |= {(m, path) for m in rc.methods or () if m != "HEAD"}
    return found


def test_the_walk_names_every_id_bearing_route(app: AppContext) -> None:
    """A route with a path parameter and no case here fails: add its case."""
    walked = {(c.method, c.route) for c in CASES}
    routes = id_bearing_routes(create_app(app))
    assert routes, "no route with a path parameter found: the walk would be empty"
    assert walked == routes, (
        f"routes without a case: {sorted(routes - walked)}; "
        f"cases without a route: {sorted(walked - routes)}"
    )


# --- the walk ----------------------------------------------------------------------


@dataclass
class Walk:
    """Calls one route after another and collects what breaks the policy."""

    app: AppContext
    client: TestClient
    world: World
    photo: bytes
    tokens: dict[str, dict[str, str]]
    problems: list[str] = field(default_factory=list)
    calls: int = 0
    writes_refused: int = 0

    def snapshot(self) -> dict[str, str]:
        """A digest of every table's rows and of the photo folder's files.

        ``ledger_anchors`` is left out: the background anchorer writes it on its
        own clock (a pending anchor mined between two snapshots), and what a
        request could wrongly cause, a signed checkpoint, is in
        ``ledger_checkpoints``, which is compared.
        """
        out = {}
        with reading(self.app.engine) as conn:
            for table in metadata.sorted_tables:
                if table.name == "ledger_anchors":
                    continue
                rows = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
                out[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        folder = self.app.settings.resolved_photo_dir()
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        out["photo files"] = hashlib.sha256("\n".join(files).encode()).hexdigest()
        return out

    def call(self, case: Case, url: str, who: str | None) -> Any:
        self.calls += 1
        headers = self.tokens[who] if who else {}
        kw: dict[str, Any] = {"headers": headers}
        if case.json is not None:
            kw["json"] = case.json
        if case.files:
            kw["files"] = [("files", ("cow.jpg", self.photo, "image/jpeg"))]
        return self.client.request(case.method, url, **kw)

    def expect(
        self,
        case: Case,
        label: str,
        url: str,
        who: str | None,
        allowed: set[int],
        *,
        unchanged: bool,
        hidden: Collection[str] = (),
    ) -> Any:
        """Call, and note a status outside ``allowed``, a 5xx, a leak or a write."""
        before = self.snapshot() if unchanged else None
        r = self.call(case, url, who)
        what = f"{case.method} {case.route} [{label}] as {who or 'anonymous'}: {url}"
        if r.status_code not in allowed:
            media = r.headers.get("content-type", "")
            shown = r.text[:200] if "json" in media else f"{len(r.content)} B {media}"
            self.problems.append(
                f"{what}: {r.status_code} (expected {sorted(allowed)}): {shown}"
            )
        if r.status_code >= 500:
            self.problems.append(f"{what}: server error {r.status_code}")
        text = r.content.decode("utf-8", "replace")
        leaked = sorted(x for x in hidden if x not in url and x in text)
        if leaked:
            self.problems.append(f"{what}: the answer holds F-2's {leaked}")
        if before is not None:
            if case.method != "GET":
                self.writes_refused += 1
            after = self.snapshot()
            changed = sorted(k for k in after if after[k] != before.get(k))
            if changed:
                self.problems.append(f"{what}: refused, yet it changed {changed}")
        return r


def walk_case(w: Walk, case: Case) -> None:
    theirs_ids = w.world.theirs.ids()
    for variant in case.variants:
        action = variant.action or case.action
        refusal = variant.refusal or case.refusal
        theirs = variant.theirs(w.world)
        label = variant.label
        # Nobody logged in.
        if case.owner == "public":
            r = w.expect(case, label, theirs, None, {200, 204}, unchanged=True)
            for role in ROLES:  # the same answer for everyone
                w.expect(
                    case, label, theirs, WALKER[role], {r.status_code}, unchanged=True
                )
            continue
        w.expect(case, label, theirs, None, {401}, unchanged=True)
        for role in ROLES:
            who = WALKER[role]
            viewer = Viewer(role, "F-1" if role == "farmer" else None)
            if not may_do(viewer, action):
                w.expect(
                    case,
                    label,
                    theirs,
                    who,
                    {refusal},
                    unchanged=True,
                    hidden=theirs_ids if role == "farmer" else (),
                )
                continue
            if role == "farmer":
                # F-2's ids: refused, or (filtered) nothing of F-2's; never a write.
                ok = {403, 404} | ({200} if case.owner == "filtered" else set())
                w.expect(
                    case, label, theirs, who, ok, unchanged=True, hidden=theirs_ids
                )
                if variant.mine is not None:
                    r = w.expect(
                        case,
                        label,
                        variant.mine(w.world),
                        who,
                        {200},
                        unchanged=False,
                        hidden=theirs_ids,
                    )
                    if case.owner == "filtered" and not r.json()["items"]:
                        w.problems.append(
                            f"{case.route} [{label}]: F-1 sees none of his own"
                        )
                continue
            if case.method == "GET":
                w.expect(case, label, theirs, who, {200}, unchanged=False)
                continue
            if case.owner == "agent" and not may_do(viewer, "devices.any_agent"):
                w.expect(case, label, theirs, who, {403}, unchanged=True)
            assert case.unknown is not None, case.route
            w.expect(case, label, case.unknown, who, {404}, unchanged=True)


LIST_QUERY = {f"{API}/plots.geojson": "?bbox=-180,-90,180,90&on=2021-06-20"}
"""Required query parameters of lists: the whole world, on a day both crop policies run."""


def walk_lists(w: Walk, app: Any) -> int:
    """Every GET route without a path parameter, as F-1: nothing of F-2's in any answer.

    A staff answer of the list of plots in force holds F-2's plot (the view
    would show it): F-1's lacks it because it is narrowed, not because it is empty.
    """
    theirs = w.world.theirs.ids() | {w.world.theirs.plot}
    paths = sorted(p for m, p in api_routes(app) if m == "GET" and "{" not in p)
    for path in paths:
        url = path + LIST_QUERY.get(path, "")
        w.calls += 1
        r = w.client.get(url, headers=w.tokens["farmer"])
        text = r.content.decode("utf-8", "replace")
        if r.status_code >= 500:
            w.problems.append(f"GET {url} as farmer: server error {r.status_code}")
        leaked = sorted(x for x in theirs if x in text)
        if leaked:
            w.problems.append(f"GET {url} as farmer: the answer holds F-2's {leaked}")
    staff = w.client.get(
        f"{API}/plots.geojson" + LIST_QUERY[f"{API}/plots.geojson"],
        headers=w.tokens["underwriter"],
    )
    if w.world.theirs.plot not in staff.text:
        w.problems.append("the plots in force lack F-2's plot: the list check is void")
    return len(paths)


def test_no_farmer_reaches_another_farmers_records_by_id(
    app: AppContext, cows: Cows, shared_data: Path
) -> None:
    world = build_world(app, cows, shared_data)
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        tokens = {}
        for name in USERS:
            r = client.post(
                f"{API}/auth/token", json={"username": name, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            tokens[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        photo = cows.later[cows.tags[1]][1].path.read_bytes()
        walk = Walk(app, client, world, photo, tokens)
        for case in CASES:
            walk_case(walk, case)
        lists = walk_lists(walk, create_app(app))
    assert not walk.problems, f"{len(walk.problems)} problems:\n" + "\n".join(
        walk.problems
    )
    assert lists > 10 and walk.writes_refused > 50, (lists, walk.writes_refused)


# --- receipts: refused before anything is built ----------------------------------------


def _farmer_entries(app: AppContext) -> dict[str | None, int]:
    """The index of the first entry naming each farmer (None: naming no farmer)."""
    found: dict[str | None, int] = {}
    for i, e in enumerate(_entries(app)):
        found.setdefault(e["subjects"].get("farmer"), i)
    return found


def test_a_receipt_is_refused_from_the_entry_alone(
    app: AppContext, uw: UnderwritingService
) -> None:
    """The receipt rule, decided before a receipt is built (building one may sign)."""
    history = HistoryService(app.engine)
    at = _farmer_entries(app)
    f1 = Viewer("farmer", "F-1")
    history.check_receipt(f1, at["F-1"])
    for role in STAFF:
        history.check_receipt(Viewer(role), at["F-2"])
    for index in (at["F-2"], at[None]):
        with pytest.raises(ForbiddenError, match=rf"^entry {index} is not one of your"):
            history.check_receipt(f1, index)
    with pytest.raises(NotFoundError, match=r"^no ledger entry 999$"):
        history.check_receipt(f1, 999)
    assert app.ledger.store.checkpoints() == []  # nothing signed by asking


def test_a_receipt_refused_to_a_farmer_signs_nothing(
    app: AppContext, uw: UnderwritingService, client: TestClient
) -> None:
    from tests.server.test_api_flows import login

    theirs = _farmer_entries(app)["F-2"]
    r = client.get(f"{API}/ledger/receipts/{theirs}", headers=login(client, "farmer"))
    assert r.status_code == 403, r.text
    assert app.ledger.store.checkpoints() == []
