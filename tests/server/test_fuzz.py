"""Schemathesis over the app's own OpenAPI document: every operation, as every role and anonymous.

Each principal (anonymous, then each role of :data:`server.services.auth.ROLES`)
gets a fresh database and one run of schemathesis' engine, as its command line
runs it: the document's examples, the coverage phase (boundary values, every
method a path lacks), generated cases, and stateful sequences that follow the
document's OpenAPI links (a created device's id to its revocation...). Every
check runs; the ones that matter most:

* ``not_a_server_error``: no 5xx;
* ``response_schema_conformance`` and its kin: every answer is what the
  document declares (status, media type, body, headers);
* ``positive_data_acceptance``: a request the schema admits is not refused;
  the refusals no schema can express are the statuses of :data:`ACCEPTED`
  (a login, a role, an unknown record, a record's state, the login throttle),
  and a 422 only where :data:`JUDGED` or :data:`PENDING` say
  (:func:`judged_refusal`);
* ``negative_data_rejection``: a request the schema refuses is refused;
* ``unsupported_method`` and ``allow_header_conformance``: a method a path
  lacks is 405 with an ``Allow`` header naming the path's methods.

``make test`` runs a bounded set, derandomized (the same cases each run):
:data:`EXAMPLES` generated cases per operation and phase for each principal on
each database, and on SQLite each operation's coverage phase once, as the
first principal that may call it. ``make fuzz`` (``AGRI_FUZZ_FULL=1``,
``AGRI_FUZZ_EXAMPLES=200``) runs the coverage phase for every principal on both
databases and many more cases, and prints the cases run per principal.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import count
from typing import Any, Literal

import pytest
import schemathesis
from fastapi.testclient import TestClient

from server.context import AppContext
from server.errors import InvalidInputError
from server.services.auth import ROLES
from server.services.ogc import parse_datetime
from tests.server.test_api_flows import PASSWORD
from underwriting import CropProduct, LivestockProduct, Money, SubsidyShares

API = "/api/v1"
LOGOUT = f"{API}/auth/logout"

EXAMPLES = int(os.environ.get("AGRI_FUZZ_EXAMPLES", "2"))
"""Generated cases per operation and phase (the coverage phase makes its own)."""
FULL = os.environ.get("AGRI_FUZZ_FULL") == "1"
"""The coverage phase on every operation, database and principal (else on
SQLite, each operation once: as the first principal that may call it)."""
SEED = int(os.environ.get("AGRI_FUZZ_SEED", "20250401"))
"""The seed of every run: a failure found once is found again."""

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
"""What a schema-valid request may be answered: the refusals no schema can
express (who is asking, which records exist, their state, the login throttle)."""

PAYERS = ("central", "provincial", "county")
WHEAT_CALENDAR = {
    "sowing": "10-01",
    "heading": "05-10",
    "harvest_start": "07-01",
    "harvest_end": "07-31",
}
PRINCIPALS: list[str | None] = [None, *ROLES]
"""Who sends the requests: anonymous, then each role."""

JUDGED: dict[str, dict[str | None, str]] = {
    f"POST {API}/animals": {
        "files": "the quality gate judges each photo (readable, size, light, blur, "
        "a cow's face)",
        "meta": "a capture signature that does not verify is red",
    },
    f"POST {API}/animals/{{tag}}/sessions": {
        "files": "the photos must pass the quality gate and verify as the animal",
        "meta": "a capture signature that does not verify is red",
    },
    f"POST {API}/claims/{{claim_id}}/evidence": {
        "files": "the quality gate judges each photo",
        "meta": "a capture signature that does not verify is red",
    },
    f"POST {API}/photos/check": {"files": "an empty file is no photo"},
    f"POST {API}/applications/crop": {
        "file": "the plot file's kind (by its name) and its geometries",
    },
    f"POST {API}/notices": {
        "region": "a notice lists what the region's records hold in the period: "
        "no policy issued (claim approved and unpaid) there is nothing to post",
    },
    f"POST {API}/notices/{{notice_id}}/objections": {
        "row": "the row must be one of the notice's",
        "on_behalf_of": "staff name the person objecting; a farmer names no one",
    },
}
"""Operations whose bodies carry content no schema can judge: a schema-valid
request may be refused (422) naming one of these fields, for the reason given,
and for nothing else (:func:`judged_refusal`)."""

PENDING: dict[str, dict[str | None, str]] = {
    f"POST {API}/users": {
        "username": "a taken username is 422; it is a conflict: 409 "
        "(server/http/auth.py create_user)",
        None: "the same, where the refusal does not name username yet",
        "farmer_id": "an unregistered farmer id is 422; the farmer named does not "
        "exist: 404 (server/http/auth.py create_user, UnknownFarmerError)",
    },
    f"PUT {API}/users/{{username}}/role": {
        "farmer_id": "an unregistered farmer id is 422; the farmer named does not "
        "exist: 404 (server/services/auth.py UserAdmin.set_role)",
    },
    f"POST {API}/applications/livestock": {
        "animals": "an animal never presented for enrolment is 422; the animal "
        "named does not exist: 404 (server/services/underwriting.py "
        "apply_livestock)",
    },
}
"""Schema-valid requests refused (422) by code outside the API's declarations,
where the status should say the record's state: each allowed for the operation
and field named, until the fix given lands (then its entry goes)."""


@dataclass
class Outcome:
    """What one run did: the cases it sent per phase, and what failed."""

    cases: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Cases sent in all phases."""
        return sum(self.cases.values())


def _config(
    headers: dict[str, str],
    logout_headers: dict[str, str],
    no_coverage: set[str],
    coverage: bool,
) -> Any:
    """The run's configuration.

    ``logout_headers``: logout's own login (it ends the token it is sent);
    ``no_coverage``: labels of operations left out of the coverage phase;
    ``coverage``: whether the coverage phase runs at all.
    """
    judged = [
        {
            "include-name": label,
            # judged_refusal says which field such a 422 may name
            "checks": {
                "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}
            },
        }
        for label in sorted({*JUDGED, *PENDING})
    ]
    uncovered = [
        {"include-name": label, "phases": {"coverage": {"enabled": False}}}
        for label in sorted(no_coverage)
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # nothing written, nothing replayed
            "headers": headers,
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
            "phases": {"coverage": {"enabled": coverage}},
            "operations": [
                {"include-path": LOGOUT, "headers": logout_headers},
                *judged,
                *uncovered,
            ],
        }
    )


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def judged_refusal(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request is refused (422) only naming a field JUDGED or PENDING allow."""
    label = case.operation.label
    allowed: dict[str | None, str] = {**JUDGED.get(label, {}), **PENDING.get(label, {})}
    if not allowed or not _positive(case) or response.status_code != 422:
        return None
    field_at_fault = response.json().get("field")
    if field_at_fault not in allowed:
        raise AssertionError(
            f"a schema-valid request was refused (422) naming {field_at_fault!r}, "
            f"not a field the schema cannot judge ({', '.join(map(str, allowed))})"
        )
    return True


schemathesis.check(judged_refusal)


def _iso(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _public_jwk() -> dict[str, str]:
    """A fresh EC P-256 public key as a JWK (x, y: base64url without padding)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


def _constrain(schema: Any, username: str | None) -> None:
    """Make schema-valid cases keep the rules no schema can state, and keep the run's login.

    The rules: a bbox's west not past its east (nor south its north), a
    policy's period, a device key's point on the curve. Each request gets its
    own Idempotency-Key, and the run never resets, disables or demotes its own
    account (``username``: that would end the token the rest of the run needs).
    Only cases meant to be valid are changed: the others test the refusals.
    """
    keys = count()

    def own_idempotency_key(ctx: Any, case: Any) -> Any:
        # The same key with another request is refused by design (422,
        # draft-ietf-httpapi-idempotency-key-header): a key names one request.
        key = (case.headers or {}).get("Idempotency-Key")
        if key is not None and _positive(case):
            case.headers["Idempotency-Key"] = f"{key[:100]}~{next(keys)}"
        return case

    def not_the_runs_own_account(ctx: Any, case: Any) -> Any:
        if username is not None and case.path_parameters.get("username") == username:
            case.path_parameters["username"] = f"{username}-other"
        return case

    def farmer_id_of_farmers_only(ctx: Any, case: Any) -> Any:
        # Only a farmer user names a farmer (else 422 naming farmer_id).
        body = case.body
        if _positive(case) and isinstance(body, dict) and body.get("role") != "farmer":
            body["farmer_id"] = None
        return case

    def both_coordinates_or_neither(ctx: Any, case: Any) -> Any:
        # A farm's position is lat and lon, or nothing (else 422 naming lat).
        body = case.body
        if _positive(case) and isinstance(body, dict):
            if (body.get("lat") is None) != (body.get("lon") is None):
                body["lat"] = body["lon"] = None
        return case

    def terms_that_add_up(ctx: Any, case: Any) -> Any:
        # Subsidies together at most 1, a deductible within the sum insured, a
        # calendar's days in order (else 422 naming the terms).
        body = case.body
        if not _positive(case) or not isinstance(body, dict):
            return case
        subsidy = body.get("subsidy")
        if isinstance(subsidy, dict):
            shares = [Decimal(subsidy.get(k, "0")) for k in PAYERS]
            if sum(shares) > 1:
                body["subsidy"] = dict.fromkeys(PAYERS, "0")
        deductible, insured = body.get("deductible"), body.get("sum_insured_per_head")
        if deductible is not None and insured is not None:
            if Decimal(deductible) > Decimal(insured):
                body["deductible"] = insured
        if body.get("calendars"):
            body["calendars"] = {"*": WHEAT_CALENDAR}
        return case

    def tag_of_its_scheme(ctx: Any, case: Any) -> Any:
        # An ISO 11784 tag's country is assigned (not 000 or 999); a CN tag's
        # species is 1-3 and its province 11-82 (else 422 naming tag).
        body = case.body
        if _positive(case) and isinstance(body, dict) and "tag" in body:
            digits = "".join(c for c in str(body["tag"]) if c.isdigit())
            head = "211" if body.get("scheme") == "cn" else "156"
            body["tag"] = head + digits[3:]
        return case

    def key_on_the_curve(ctx: Any, case: Any) -> Any:
        body = case.body
        if _positive(case) and isinstance(body, dict):
            key = body.get("public_key")
            if isinstance(key, dict):
                key.update({k: v for k, v in _public_jwk().items() if k in "xy"})
        return case

    def bbox_in_order(ctx: Any, case: Any) -> Any:
        # West not past east, south not past north (else 422 naming bbox).
        bbox = (case.query or {}).get("bbox")
        if not _positive(case) or not isinstance(bbox, str):
            return case
        w, s, e, n = bbox.split(",")
        if float(w) > float(e):
            w, e = e, w
        if float(s) > float(n):
            s, n = n, s
        case.query["bbox"] = ",".join((w, s, e, n))
        return case

    def report_period_in_order(ctx: Any, case: Any) -> Any:
        # A report's period ends on or after its first day (else 422 naming to).
        query = case.query or {}
        first, last = _iso(query.get("from")), _iso(query.get("to"))
        if _positive(case) and first is not None and last is not None and first > last:
            query["from"], query["to"] = query["to"], query["from"]
        return case

    def ogc_query_in_range(ctx: Any, case: Any) -> Any:
        # OGC items: a bbox within CRS84's ranges, south not past north; a
        # datetime interval that does not end before it starts (else 400).
        query = case.query or {}
        if not _positive(case):
            return case
        bbox = query.get("bbox")
        if isinstance(bbox, str):
            v = [float(x) for x in bbox.split(",")]
            w, s, e, n = v if len(v) == 4 else (v[0], v[1], v[3], v[4])
            lon = [max(-180.0, min(180.0, x)) for x in (w, e)]
            lat = sorted(max(-90.0, min(90.0, x)) for x in (s, n))
            query["bbox"] = ",".join(repr(x) for x in (lon[0], lat[0], lon[1], lat[1]))
        moment = query.get("datetime")
        if isinstance(moment, str) and "/" in moment:
            try:
                parse_datetime(moment)
            except InvalidInputError:
                first, last = moment.split("/")
                query["datetime"] = f"{last}/{first}"
        return case

    def tile_on_its_zoom(ctx: Any, case: Any) -> Any:
        # A tile's column and row lie within its zoom's 2**z (else 422 naming z).
        where = case.path_parameters
        if _positive(case) and all(isinstance(where.get(k), int) for k in "zxy"):
            for k in "xy":
                where[k] %= 2 ** where["z"]
        return case

    def notice_period(ctx: Any, case: Any) -> Any:
        # A notice's period ends on or after its first day, by today (the farm's:
        # yesterday here, whatever the zones) and spans at most 366 days (else 422).
        body = case.body
        if not _positive(case) or not isinstance(body, dict):
            return case
        start, end = _iso(body.get("start")), _iso(body.get("end"))
        if start is not None and end is not None:
            end = min(end, date.today() - timedelta(days=1))
            earliest = end - timedelta(days=min(365, end.toordinal() - 1))
            start = max(min(start, end), earliest)
            body["start"], body["end"] = start.isoformat(), end.isoformat()
        return case

    def policy_period(ctx: Any, case: Any) -> Any:
        # A policy ends after it starts, at most two years later (else 422 end_date).
        body = case.body
        if not _positive(case) or not isinstance(body, dict):
            return case
        start, end = _iso(body.get("start_date")), _iso(body.get("end_date"))
        if start is not None and end is not None and not 0 < (end - start).days <= 731:
            body["end_date"] = min(start + timedelta(days=365), date.max).isoformat()
        return case

    hooks: list[tuple[Any, dict[str, str]]] = [
        (own_idempotency_key, {}),
        (not_the_runs_own_account, {"path_regex": r"/users/\{username\}/"}),
        (farmer_id_of_farmers_only, {"path_regex": r"/users(/\{username\}/role)?$"}),
        (both_coordinates_or_neither, {"method": "POST", "path": f"{API}/farmers"}),
        (terms_that_add_up, {"method": "POST", "path": f"{API}/products"}),
        (tag_of_its_scheme, {"method": "POST", "path": f"{API}/animals"}),
        (key_on_the_curve, {"method": "POST", "path": f"{API}/devices"}),
        (bbox_in_order, {"method": "GET", "path": f"{API}/plots.geojson"}),
        (policy_period, {"method": "POST", "path_regex": "/applications/"}),
        (notice_period, {"method": "POST", "path": f"{API}/notices"}),
        (tile_on_its_zoom, {"method": "GET", "path_regex": r"/tiles/"}),
        (ogc_query_in_range, {"method": "GET", "path_regex": r"^/ogc/.*/items$"}),
        (report_period_in_order, {"method": "GET", "path_regex": "/reports/"}),
    ]
    for hook, where in hooks:
        register = schema.hook("map_case")
        (register.apply_to(**where) if where else register)(hook)


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    """One failure: the check, the request and the answer, in a few lines."""
    case = recorder.cases[case_id].value
    response = recorder.find_response(case_id=case_id)
    failure = check.failure_info.failure
    answer = (
        f"{response.status_code} allow={response.headers.get('allow')} "
        f"{response.content[:300]!r}"
        if response is not None
        else "no response"
    )
    return (
        f"{check.name}: {failure.title} ({failure.message[:300]})\n"
        f"  {case.method} {case.formatted_path} query={case.query} "
        f"headers={ {k: v for k, v in (case.headers or {}).items() if k != 'Authorization'} } "
        f"body={str(case.body)[:300]}\n  -> {answer}"
    )


def fuzz(
    client: TestClient,
    username: str | None,
    coverage: Literal["all", "first", "none"] = "all",
) -> Outcome:
    """Run schemathesis' engine on the app's document as ``username`` (None: anonymous).

    The run logs in twice: logout gets a token of its own, so the rest keep
    theirs. ``coverage``: the coverage phase on every operation, on those this
    principal is the first to reach (:func:`_uncovered`), or on none.
    """
    from schemathesis.engine import events

    headers = _login(client, username) if username else {}
    logout_headers = _login(client, username) if username else {}
    no_coverage = _uncovered(client, username) if coverage == "first" else set()
    config = _config(headers, logout_headers, no_coverage, coverage != "none")
    schema = schemathesis.openapi.from_asgi(
        f"{API}/openapi.json", client.app, config=config
    )
    _constrain(schema, username)
    outcome = Outcome()
    seen: set[str] = set()
    start = time.perf_counter()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            outcome.cases[event.phase.value] += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    text = _describe(recorder, case_id, check)
                    key = text.split("\n")[0] + recorder.cases[case_id].value.path
                    if key not in seen:
                        seen.add(key)
                        outcome.failures.append(f"[{event.phase.value}] {text}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            outcome.failures.append(f"{type(event).__name__}: {event!r}"[:2000])
    outcome.seconds = time.perf_counter() - start
    if username:
        me = client.get(f"{API}/me", headers=headers)
        if me.status_code != 200:
            outcome.failures.append(f"the run lost its login: {me.text}")
    return outcome


def _uncovered(client: TestClient, username: str | None) -> set[str]:
    """Labels of the operations the bounded coverage phase leaves out for ``username``.

    Each operation's coverage phase runs once: as the first principal of
    :data:`PRINCIPALS` it does not answer 401 or 403 (a bare request finds
    out: the role check runs before anything is read). Its boundary values
    reach the code there; the others' examples and generated cases still
    check their answers. Logout is not probed (it would end the token): it
    is the first role's.
    """
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    logins = {p: _login(client, p) if p else {} for p in PRINCIPALS}
    uncovered = set()
    for path, item in paths.items():
        for method in item:
            first = PRINCIPALS[1] if path == LOGOUT else None
            url = re.sub(r"\{[^{}/]+\}", "0", path)
            for principal in PRINCIPALS if path != LOGOUT else ():
                r = client.request(method.upper(), url, headers=logins[principal])
                if r.status_code not in (401, 403):
                    first = principal
                    break
            if first != username:
                uncovered.add(f"{method.upper()} {path}")
    return uncovered


def _seed(app: AppContext) -> None:
    """The records the document's examples name: farmer F-0001, products COW-2025 and
    WHEAT-2025, so that cases built on the examples reach past "no such record"."""
    uw = app.underwriting
    uw.register_farmer(
        "F-0001",
        "Liu Jun",
        "Hohhot, Inner Mongolia",
        lat=40.842,
        lon=111.749,
        actor="admin",
    )
    uw.add_product(
        LivestockProduct(
            "COW-2025", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    uw.add_product(
        CropProduct(
            "WHEAT-2025",
            Money.parse("900"),
            "mu",
            Decimal("0.06"),
            Decimal("0.1"),
            {"maturity": Decimal("1")},
            SubsidyShares(Decimal("0.4"), Decimal("0.25"), Decimal("0.15")),
        ),
        actor="admin",
    )


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        f"{API}/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize("role", PRINCIPALS, ids=lambda r: r or "anonymous")
def test_generated_requests_as_each_principal(
    app: AppContext, client: TestClient, db_url: str, role: str | None
) -> None:
    """No 5xx, no answer off the document, no valid request refused, right ``Allow``."""
    backend = db_url.split(":", 1)[0].split("+")[0]
    _seed(app)
    coverage: Literal["all", "first", "none"] = (
        "all" if FULL else "first" if backend == "sqlite" else "none"
    )
    outcome = fuzz(client, role, coverage)
    sys.stdout.write(
        f"\nfuzz {backend} {role or 'anonymous'}: {outcome.total} cases "
        f"({', '.join(f'{k} {v}' for k, v in sorted(outcome.cases.items()))}) "
        f"in {outcome.seconds:.1f} s\n"
    )
    assert not outcome.failures, "\n\n".join(outcome.failures[:20])
    assert outcome.cases["fuzzing"] > 0 and outcome.cases["examples"] > 0


ALLOW = [
    ("OPTIONS", f"{API}/farmers", "GET, POST"),  # two routes: Starlette named the first
    ("PATCH", f"{API}/users", "GET, POST"),
    ("DELETE", f"{API}/users/li.wei/role", "PUT"),
    # a concrete path before a templated one: "check" is no photo's digest
    ("GET", f"{API}/photos/check", None),
    ("PUT", f"{API}/photos/check", "POST"),
    ("POST", f"{API}/applications/crop/x", None),
    ("PUT", f"{API}/applications/crop", "POST"),
    ("POST", f"{API}/photos/{'a' * 64}", "GET"),
    ("DELETE", f"{API}/scenes/s/tiles/1/0/0.png", "GET"),
    ("POST", f"{API}/health", "GET"),
    ("PUT", "/", "GET"),  # the pages, outside the document
]
"""(method, path, the 405's Allow; None: no 405)."""


def test_a_405_names_the_methods_of_the_path(client: TestClient) -> None:
    for method, path, allow in ALLOW:
        r = client.request(method, path)
        if allow is None:
            assert r.status_code != 405, (method, path, r.headers)
            continue
        assert (r.status_code, r.headers["allow"]) == (405, allow), (method, path)
        assert r.json()["detail"] == "Method Not Allowed"


def _strings(schema: Any, schemas: dict[str, Any], seen: set[str]) -> list[Any]:
    """The string and object schemas a request schema holds (components followed once)."""
    if isinstance(schema, list):
        return [s for item in schema for s in _strings(item, schemas, seen)]
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref", "")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _strings(schemas[name], schemas, seen)
    found = [schema] if schema.get("type") in ("string", "object") else []
    for key in ("properties", "patternProperties"):
        for sub in schema.get(key, {}).values():
            found += _strings(sub, schemas, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        found += _strings(schema.get(key), schemas, seen)
    return found


def test_every_string_a_request_carries_refuses_nul_in_the_document(
    client: TestClient,
) -> None:
    """The request guard refuses NUL in any text; the document says so for each string and key."""
    doc = client.get(f"{API}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    checked = 0
    for item in doc["paths"].values():
        for op in item.values():
            roots = [p["schema"] for p in op.get("parameters", [])]
            roots += [
                m["schema"]
                for m in op.get("requestBody", {}).get("content", {}).values()
            ]
            for schema in _strings(roots, schemas, set()):
                if schema["type"] == "object":
                    names = schema.get("propertyNames", {}).get("pattern", ".*")
                    assert re.fullmatch(names, "a\x00b") is None, schema
                elif (
                    not {"format", "enum", "const", "contentMediaType"} & schema.keys()
                ):
                    assert re.fullmatch(schema["pattern"], "a\x00b") is None, schema
                checked += 1
    assert checked > 100


def test_the_document_speaks_json_schema_not_pydantic(client: TestClient) -> None:
    """Bounds reach the document as minimum/maximum, never as pydantic's own words."""
    text = client.get(f"{API}/openapi.json").text
    for word in ("ge", "le", "gt", "lt", "strict"):
        assert f'"{word}":' not in text, word


def test_every_link_names_an_operation_and_its_parameters(client: TestClient) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    operations = {
        op["operationId"]: op for item in doc["paths"].values() for op in item.values()
    }
    links = 0
    for item in doc["paths"].values():
        for op in item.values():
            for answer in op["responses"].values():
                for link in answer.get("links", {}).values():
                    target = operations[link["operationId"]]
                    declared = {p["name"] for p in target.get("parameters", [])}
                    assert set(link["parameters"]) <= declared, link
                    links += 1
    assert links >= 30
