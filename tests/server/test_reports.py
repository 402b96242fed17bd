"""Portfolio reports against the records, on SQLite and PostgreSQL.

A portfolio is built through the services (farmers in four regions, livestock
policies in two currencies on real enrolled cows, crop policies on the
Austrian fields; claims approved, paid, rejected and open; applications
approved against red checks and declined although green), then every figure
of the reports is compared with the same sums taken in Python over the records
read back through the services, and every decision with the ledger's decision
events.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from claims import (
    DECISION_EVENTS,
    DIMENSIONS,
    loss_ratios,
    override_of,
    override_rate,
    ratio,
)
from ledger import generate_key
from livestock import Photo
from livestock.data import scan_folder, split_enrol_query
from remote_sensing import plots_from_geometries, read_plots
from server.config import Settings
from server.context import AppContext, build_context, write_keypair
from server.errors import ForbiddenError, InvalidInputError
from server.http.app import create_app
from server.services.access import Viewer
from server.services.auth import UserStore
from server.services.reports import ReportService
from tests.cattle import sample_animals
from tests.server.conftest import _postgres_base
from tests.server.notices import clear_for_payment
from tests.server.pages_records import AUSTRIA_FIELDS, PASSWORD, login
from underwriting import CropProduct, LivestockProduct, Money

API = "/api/v1"
STAFF = ("admin", "underwriter", "adjuster")


@dataclass
class World:
    """The app, its portfolio's ids, and an HTTP client with one user per role."""

    app: AppContext
    client: TestClient
    service: ReportService
    claims: dict[str, str]


def _context(kind: str, folder: Path) -> Iterator[AppContext]:
    skey, _ = write_keypair(generate_key("test.example/ledger"), folder / "keys")
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'agri.db'}"
    else:
        base = _postgres_base()
        try:
            admin = create_engine(base)
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "no server here"
            if os.environ.get("AGRI_REQUIRE_POSTGRES"):
                pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
            pytest.skip(f"PostgreSQL not reachable at {base}")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        opts = {"options": f"-csearch_path={schema}"}
        url = make_url(base).update_query_dict(opts).render_as_string(False)
    settings = Settings(
        data_dir=folder / "var",
        database_url=url,
        ledger_key_file=skey,
        checkpoint_every=1_000_000,
        anchor_enabled=False,
    )
    ctx = build_context(settings, chain=False)
    try:
        yield ctx
    finally:
        ctx.close()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _cows(shared_data: Path) -> tuple[list[str], dict[str, list[Any]]]:
    held = sample_animals(shared_data)[:4]
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held]
    )
    return held, split.enrol


def _reported(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)


def _crop_application(
    app: AppContext, farmer: str, ids: list[str], start: date, declared: float
) -> str:
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    idx = [fields.ids.index(i) for i in ids]
    mine = plots_from_geometries(
        fields.geometry[idx], 4326, ids=ids, declared_m2=fields.area_m2[idx] * declared
    )
    a = app.underwriting.apply_crop(
        farmer, "WHEAT", mine, start=start, end=date(start.year, 10, 31), actor="li"
    )
    return a.id


def build_portfolio(app: AppContext, shared_data: Path) -> dict[str, str]:
    """The portfolio of the module docstring; returns its claims' ids by name."""
    uw, cl = app.underwriting, app.claims
    uw.register_farmer("F-1", "Liu", "Hohhot", lat=40.842, lon=111.749, actor="admin")
    uw.register_farmer("F-2", "Chen", "Tumed", lat=40.700, lon=111.150, actor="admin")
    uw.register_farmer("F-5", "Gruber", "Upper Austria", actor="admin")
    uw.register_farmer("F-6", "Huber", "Lower Austria", actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    uw.add_product(
        LivestockProduct(
            "COW-EU",
            Money.parse("1500", "EUR"),
            Decimal("0.05"),
            Money.parse("50", "EUR"),
            0,
        ),
        actor="admin",
    )
    uw.add_product(
        CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")),
        actor="admin",
    )
    tags, enrol = _cows(shared_data)
    for farmer, mine in (("F-1", tags[:2]), ("F-2", tags[2:])):
        for tag in mine:
            photos = [Photo(c.path.name, c.path) for c in enrol[tag]]
            got = app.enrolment.enrol_animal(tag, photos, farmer_id=farmer, actor="li")
            assert got.status == "enrolled", got
    cow = uw.apply_livestock(
        "F-1",
        "COW",
        tags[:2],
        start=date(2025, 4, 1),
        end=date(2026, 3, 31),
        actor="li",
    )
    cow_policy = uw.decide(cow.id, "approve", actor="zhang").policy_id or ""
    eu = uw.apply_livestock(
        "F-2",
        "COW-EU",
        tags[2:],
        start=date(2025, 5, 1),
        end=date(2026, 4, 30),
        actor="li",
    )
    eu_policy = uw.decide(eu.id, "approve", actor="zhang").policy_id or ""
    # Crops: F-5 declares half as much again as the map measures (plot_area is
    # not green): approved with a reason; F-6 declares what the map measures.
    big = _crop_application(app, "F-5", ["AT-0488", "AT-0002"], date(2021, 4, 1), 1.5)
    crop_policy = uw.decide(
        big, "approve", actor="zhang", reason="on the map"
    ).policy_id
    fair = _crop_application(app, "F-6", ["AT-0003"], date(2021, 5, 1), 1.0)
    uw.decide(fair, "decline", actor="zhang", reason="the farm is for sale")
    fair2 = _crop_application(app, "F-6", ["AT-0004"], date(2021, 6, 1), 1.0)
    uw.decide(fair2, "approve", actor="zhang")

    def animal(policy: str, farmer: str, tag: str, day: date, value: Money) -> str:
        return cl.file(
            policy_id=policy,
            farmer_id=farmer,
            subject_kind="animal",
            subject_id=tag,
            event_date=day,
            reported_at=_reported(day),
            market_value=value,
            actor="li",
        ).id

    ids: dict[str, str] = {}
    ids["paid"] = animal(
        cow_policy, "F-1", tags[0], date(2025, 5, 10), Money.parse("7600")
    )
    cl.decide(ids["paid"], "approve", actor="wang", grounds=["evidence"])
    clear_for_payment(app, ids["paid"])
    cl.pay(ids["paid"], actor="zhao", payment_ref="PAY-1")
    # The same cow again: duplicate_claim is red, and it is approved all the same.
    ids["red_approved"] = animal(
        cow_policy, "F-1", tags[0], date(2025, 6, 12), Money.parse("7000")
    )
    cl.decide(ids["red_approved"], "approve", actor="wang", grounds=["duplicate_claim"])
    ids["rejected"] = animal(
        cow_policy, "F-1", tags[1], date(2025, 6, 20), Money.parse("6000")
    )
    cl.decide(ids["rejected"], "reject", actor="wang", grounds=["evidence"])
    eur = Money.parse("1200", "EUR")
    ids["eur_paid"] = animal(eu_policy, "F-2", tags[2], date(2025, 6, 5), eur)
    cl.decide(ids["eur_paid"], "approve", actor="wang", reason="vet's report seen")
    clear_for_payment(app, ids["eur_paid"])
    cl.pay(ids["eur_paid"], actor="zhao", payment_ref="PAY-2")
    ids["open"] = animal(eu_policy, "F-2", tags[3], date(2025, 7, 1), eur)
    # Crop claims (not assessed: their amount is 0): one rejected though green.
    for name, plot, day in (
        ("crop_rejected", "AT-0488", date(2021, 6, 20)),
        ("crop_paid", "AT-0002", date(2021, 7, 15)),
    ):
        ids[name] = cl.file(
            policy_id=crop_policy or "",
            farmer_id="F-5",
            subject_kind="plot",
            subject_id=plot,
            event_date=day,
            reported_at=_reported(day),
            claimed_fraction=0.5,
            actor="li",
        ).id
    cl.decide(ids["crop_rejected"], "reject", actor="wang", reason="no hail that day")
    cl.decide(ids["crop_paid"], "approve", actor="wang", reason="seen on the field")
    clear_for_payment(app, ids["crop_paid"])
    cl.pay(ids["crop_paid"], actor="zhao", payment_ref="PAY-3")
    return ids


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"reports-{request.param}")
    for app in _context(request.param, folder):
        ids = build_portfolio(app, shared_data)
        store = UserStore(app.engine)
        for role in ("admin", "underwriter", "adjuster", "field_agent", "farmer"):
            store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            yield World(app, client, ReportService(app.engine), ids)


# --- the figures, summed in Python over the records ----------------------------------


def _records(app: AppContext) -> tuple[list[Any], list[Any], list[Any]]:
    uw = app.underwriting
    policies = uw.policies(limit=200).items
    claims = app.claims.claims(limit=200).items
    applications = uw.applications(limit=200).items
    assert len(policies) < 200 and len(claims) < 200 and len(applications) < 200
    return policies, claims, applications


def _in(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def expected_portfolio(
    app: AppContext,
    by: tuple[str, ...],
    start: date | None = None,
    end: date | None = None,
) -> dict[tuple[str, ...], dict[str, int]]:
    """Group key (the dimensions' values, then currency) -> sums, from the records."""
    uw = app.underwriting
    policies, claims, _ = _records(app)
    by_id = {p.id: p for p in policies}
    region = {p.farmer_id: uw.farmer(p.farmer_id).region for p in policies}
    kind = {
        p.product_code: (
            "crop_loss"
            if isinstance(uw.product(p.product_code), CropProduct)
            else "animal_death"
        )
        for p in policies
    }
    sums: dict[tuple[str, ...], dict[str, int]] = defaultdict(Counter)

    def key(policy: Any, day: date, currency: str) -> tuple[str, ...]:
        values = {
            "region": region[policy.farmer_id],
            "product": policy.product_code,
            "peril": kind[policy.product_code],
            "month": f"{day:%Y-%m}",
        }
        return (*(values[d] for d in by), currency)

    for p in policies:
        if not _in(p.start_date, start, end):
            continue
        k = key(p, p.start_date, p.sum_insured.currency)
        sums[k]["policies"] += 1
        sums[k]["premium_minor"] += Money.parse(p.premium["total"]).minor
        sums[k]["sum_insured_minor"] += p.sum_insured.minor
    for c in claims:
        if not _in(c.event_date, start, end):
            continue
        k = key(by_id[c.policy_id], c.event_date, c.amount.currency)
        sums[k]["claims"] += 1
        sums[k]["claimed_minor"] += c.amount.minor
        sums[k]["paid_minor"] += c.amount.minor if c.status == "paid" else 0
        sums[k]["approved_unpaid_minor"] += (
            c.amount.minor if c.status == "approved" else 0
        )
    return sums


MEASURES = (
    "policies",
    "premium_minor",
    "sum_insured_minor",
    "claims",
    "claimed_minor",
    "paid_minor",
    "approved_unpaid_minor",
)


def _reported_groups(report: Any) -> dict[tuple[str, ...], dict[str, int]]:
    got = {}
    for line in report.items:
        k = (*(line.keys[d] for d in report.by), line.currency)
        got[k] = {m: getattr(line, m) for m in MEASURES}
        ratios = loss_ratios(
            line.premium_minor, line.paid_minor, line.approved_unpaid_minor
        )
        assert line.incurred_minor == line.paid_minor + line.approved_unpaid_minor
        assert (line.loss_ratio, line.incurred_loss_ratio) == (
            ratios.paid,
            ratios.incurred,
        )
    return got


def _full(counter: dict[str, int]) -> dict[str, int]:
    return {m: counter.get(m, 0) for m in MEASURES}


ADMIN = Viewer("admin")
EVERY_GROUPING = [c for n in range(5) for c in combinations(DIMENSIONS, n)]


@pytest.mark.parametrize("by", EVERY_GROUPING, ids=lambda b: ",".join(b) or "none")
def test_every_grouping_sums_what_the_records_hold(world: World, by: Any) -> None:
    report = world.service.portfolio(ADMIN, by=by, limit=1000)
    expected = {k: _full(v) for k, v in expected_portfolio(world.app, by).items()}
    assert report.total == len(expected)
    assert _reported_groups(report) == expected
    # The totals are per currency, and equal the sums of the groups.
    totals = {x.currency: {m: getattr(x, m) for m in MEASURES} for x in report.totals}
    assert set(totals) == {"CNY", "EUR"}
    for currency, sums in totals.items():
        for m in MEASURES:
            assert sums[m] == sum(
                v[m] for k, v in expected.items() if k[-1] == currency
            ), (currency, m)


def test_the_portfolio_holds_every_kind_of_record(world: World) -> None:
    """The fixture is what the sums are tested on: a test of nothing would pass too."""
    groups = expected_portfolio(world.app, ("region", "peril", "month"))
    assert {k[0] for k in groups} == {
        "Hohhot",
        "Tumed",
        "Upper Austria",
        "Lower Austria",
    }
    assert {k[1] for k in groups} == {"crop_loss", "animal_death"}
    totals = expected_portfolio(world.app, ())
    cny, eur = totals[("CNY",)], totals[("EUR",)]
    assert cny["paid_minor"] == Money.parse("7400").minor  # 7600 less the deductible
    assert cny["approved_unpaid_minor"] == Money.parse("600").minor
    assert eur["paid_minor"] == Money.parse("1150", "EUR").minor
    assert cny["claims"] == 5 and eur["claims"] == 2 and cny["policies"] == 3
    report = world.service.portfolio(ADMIN, by="peril")
    livestock = next(
        x
        for x in report.items
        if x.keys["peril"] == "animal_death" and x.currency == "CNY"
    )
    # Paid 7,400 (7,600 less the deductible of 200) over the premium of two
    # cows (2 x 8,000 x 6 % = 960); approved and unpaid: a second claim on the
    # same cow, limited to what is left of its 8,000 (600).
    assert livestock.premium_minor == 96_000
    assert livestock.loss_ratio == Decimal("7.7083")
    assert livestock.incurred_loss_ratio == ratio(
        livestock.paid_minor + livestock.approved_unpaid_minor, 96_000
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 5, 1), None),
        (None, date(2021, 6, 30)),
        (date(2025, 6, 1), date(2025, 6, 30)),
        (date(2021, 6, 20), date(2021, 6, 20)),
        (date(2030, 1, 1), None),
    ],
)
def test_a_period_counts_policies_by_their_start_and_claims_by_their_loss_day(
    world: World, start: date | None, end: date | None
) -> None:
    by = ("region", "product", "month")
    report = world.service.portfolio(ADMIN, by=by, start=start, end=end)
    expected = {
        k: _full(v) for k, v in expected_portfolio(world.app, by, start, end).items()
    }
    assert _reported_groups(report) == expected
    assert report.total == len(expected)


def test_pages_cover_the_groups_in_key_order(world: World) -> None:
    by = ("month", "region")
    whole = world.service.portfolio(ADMIN, by=by, limit=1000).items
    keys = [(*(x.keys[d] for d in by), x.currency) for x in whole]
    assert keys == sorted(keys) and len(keys) >= 6
    paged = []
    for offset in range(0, len(whole), 2):
        page = world.service.portfolio(ADMIN, by=by, offset=offset, limit=2)
        assert page.total == len(whole)
        paged += page.items
    assert paged == whole


# --- checks ---------------------------------------------------------------------------


def _ledger_decisions(app: AppContext) -> dict[str, str]:
    """Each claim's and application's status after its latest decision event."""
    status: dict[str, str] = {}
    for entry in app.ledger.store.iter_entries():
        event = json.loads(entry.data)
        known = DECISION_EVENTS.get(event["type"])
        if known is not None:
            family, after = known
            status[event["subjects"][family]] = after
        elif event["type"] == "claim.paid":
            status[event["subjects"]["claim"]] = "paid"
    return status


def test_checks_fired_and_overridden_as_the_records_and_the_ledger_say(
    world: World,
) -> None:
    app = world.app
    _, claims, applications = _records(app)
    decisions = _ledger_decisions(app)
    expected: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    families = (("claim", claims), ("application", applications))
    for family, records in families:
        for r in records:
            # The record's status is its latest decision on the ledger (or none).
            if r.status not in ("filed", "submitted"):
                assert decisions[r.id] == r.status, r
            else:
                assert r.id not in decisions
            for check in r.checks:
                e = expected[(family, check.code)]
                e["checked"] += 1
                e[check.light] += 1
                decided = r.status in ("approved", "paid", "rejected", "declined")
                e["decided"] += decided
                e["decided_red"] += decided and check.light == "red"
                e["decided_green"] += decided and r.light == "green"
                how = override_of(family, r.status, check.light, r.light)  # type: ignore[arg-type]
                if how is not None:
                    e[how] += 1
    report = world.service.checks(ADMIN)
    got = {(c.family, c.code): c for c in report.checks}
    assert set(got) == set(expected)
    for key, e in expected.items():
        c = got[key]
        for name in (
            "checked",
            "green",
            "amber",
            "red",
            "decided",
            "decided_red",
            "decided_green",
            "approved_despite_red",
            "declined_despite_green",
        ):
            assert getattr(c, name) == e[name], (key, name)
        assert c.fired == e["amber"] + e["red"]
        assert c.overridden == e["approved_despite_red"] + e["declined_despite_green"]
        assert c.override_rate == override_rate(
            c.overridden, e["decided_red"], e["decided_green"]
        )
    # What the portfolio was built to show: a red duplicate approved, a green
    # application declined. A crop claim waits for its measurement (amber) until
    # assessed: rejecting it goes against no light.
    assert got[("claim", "duplicate_claim")].approved_despite_red == 1
    assert got[("claim", "measured_damage")].amber == 2
    assert got[("claim", "notice")].declined_despite_green == 0
    assert got[("application", "plot_area")].declined_despite_green == 1
    records = {r.family: r for r in report.records}
    assert records["claim"].records == len(claims)
    assert records["application"].records == len(applications)
    assert records["claim"].approved_despite_red == 1
    assert records["application"].declined_despite_green == 1
    for family, r in records.items():
        lights = Counter(x.light for _, xs in families if _ == family for x in xs)
        assert (r.green, r.amber, r.red) == (
            lights["green"],
            lights["amber"],
            lights["red"],
        )


def test_checks_of_a_period(world: World) -> None:
    only_2021 = world.service.checks(
        ADMIN, start=date(2021, 1, 1), end=date(2021, 12, 31)
    )
    records = {r.family: r for r in only_2021.records}
    assert records["claim"].records == 2  # the two crop claims
    assert records["application"].records == 3  # the three crop applications
    assert {c.code for c in only_2021.checks if c.family == "claim"} >= {"notice"}
    # The livestock claims of 2025 (one a red duplicate) are out of the period.
    claim_checks = [c for c in only_2021.checks if c.family == "claim"]
    assert all(c.checked == 2 and c.red == 0 for c in claim_checks)
    assert not any(c.code == "evidence" for c in claim_checks)


# --- refusals -------------------------------------------------------------------------


def test_farmers_and_field_agents_may_not_read_reports(world: World) -> None:
    for role in ("farmer", "field_agent"):
        with pytest.raises(ForbiddenError, match="reports are for"):
            world.service.portfolio(Viewer(role, "F-1" if role == "farmer" else None))
        with pytest.raises(ForbiddenError):
            world.service.checks(Viewer(role))


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"by": "region,county"}, "by", "'county' is not one of"),
        ({"by": "region,,month"}, "by", "an empty name"),
        ({"start": date(2025, 2, 1), "end": date(2025, 1, 31)}, "to", "is before"),
        ({"limit": 0}, "limit", "limit must be"),
        ({"offset": -1}, "offset", "offset must be"),
    ],
)
def test_a_bad_request_is_refused_naming_its_field(
    world: World, kwargs: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError, match=words) as refused:
        world.service.portfolio(ADMIN, **kwargs)
    assert refused.value.field == field


# --- over HTTP ------------------------------------------------------------------------


def test_the_api_answers_staff_with_the_services_figures(world: World) -> None:
    c = world.client
    for role in STAFF:
        headers = login(c, role)
        r = c.get(
            f"{API}/reports/portfolio",
            params={"by": "region,month", "from": "2025-01-01", "to": "2025-12-31"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["by"] == ["region", "month"] and doc["from"] == "2025-01-01"
        report = world.service.portfolio(
            ADMIN, by="region,month", start=date(2025, 1, 1), end=date(2025, 12, 31)
        )
        assert doc["total"] == report.total
        assert [(x["region"], x["month"], x["paid_minor"]) for x in doc["items"]] == [
            (x.keys["region"], x.keys["month"], x.paid_minor) for x in report.items
        ]
        assert all(x["product"] is None for x in doc["items"])
        ratios = [x["loss_ratio"] for x in doc["totals"]]
        assert ratios == [
            None if x.loss_ratio is None else str(x.loss_ratio) for x in report.totals
        ]
        r = c.get(f"{API}/reports/checks", headers=headers)
        assert r.status_code == 200, r.text
        assert {x["family"] for x in r.json()["records"]} == {"claim", "application"}


def test_the_api_refuses_farmers_and_bad_requests_in_the_error_model(
    world: World,
) -> None:
    c = world.client
    assert c.get(f"{API}/reports/portfolio").status_code == 401
    farmer = login(c, "farmer")
    for path in ("portfolio", "checks"):
        r = c.get(f"{API}/reports/{path}", headers=farmer)
        assert r.status_code == 403 and "detail" in r.json()
    admin = login(c, "admin")
    for params, field in (
        ({"by": "region;drop table claims"}, "by"),
        ({"by": "county"}, "by"),
        ({"from": "2025-02-30"}, "from"),
        ({"to": "0"}, "to"),  # not read as a timestamp (1970-01-01)
        ({"from": "20250101"}, "from"),
        ({"from": "2025-03-01", "to": "2025-02-28"}, "to"),
        ({"limit": "5000"}, "limit"),
    ):
        r = c.get(f"{API}/reports/portfolio", params=params, headers=admin)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["field"] == field, (params, r.json())
        assert "Traceback" not in r.text
    r = c.get(
        f"{API}/reports/checks",
        params={"to": "1999-01-01", "from": "2000-01-01"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["field"] == "to"
