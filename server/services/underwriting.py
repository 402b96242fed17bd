"""Underwriting in the database: farmers, products, enrolment, applications, policies.

Every state change writes its rows and its ledger event in one transaction:
a farmer registered, a product created, an animal enrolled, an application
submitted (with each plot surveyed), decided, and a policy issued. The checks
are the pure functions of :mod:`underwriting.checks` over measurements from
:mod:`remote_sensing` (plots) and :mod:`livestock` (the face-ID registry).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import numpy as np
import shapely
from sqlalchemy import Connection, and_, func, insert, select, true, update

from ledger import Event
from livestock import EnrolResult, Photo, Registry
from livestock.tags import Scheme
from remote_sensing import PlotSet, Tolerance, check_plots, find_overlaps
from remote_sensing.units import M2_PER_HA
from server.storage.animal_store import SqlTemplateStore
from server.storage.claims_store import checks_json
from server.storage.schema import (
    animals,
    applications,
    enrolments,
    farmers,
    plots,
    policies,
    products,
)
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.services.ledger import LedgerService
from server.storage.paging import Page, grouped, page_rows
from underwriting.checks import (
    Check,
    Recommendation,
    check_animal,
    check_double_insurance,
    check_plot_area,
    recommend,
)
from underwriting.money import Money
from underwriting.products import (
    CropProduct,
    LivestockProduct,
    Product,
    premium_for,
    product_from_dict,
    product_to_dict,
)

__all__ = [
    "ApplicationRecord",
    "FarmerRecord",
    "PolicyRecord",
    "UnderwritingService",
]

Decision = Literal["approve", "refer", "decline"]
P = TypeVar("P", CropProduct, LivestockProduct)


@dataclass(frozen=True)
class FarmerRecord:
    """A farmer; the farm's position (lat, lon in degrees) anchors the photo-GPS check."""

    id: str
    name: str
    region: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class ApplicationRecord:
    """An application, its checks and what became of it."""

    id: str
    farmer_id: str
    product_code: str
    kind: str
    start_date: date
    end_date: date
    status: str
    light: str
    recommendation: str
    checks: tuple[Check, ...]
    animals: tuple[str, ...]
    plots: tuple[str, ...]
    reason: str | None
    decided_by: str | None
    policy_id: str | None


@dataclass(frozen=True)
class PolicyRecord:
    """An issued policy: its period, sum insured and premium split."""

    id: str
    farmer_id: str
    product_code: str
    application_id: str
    kind: str
    start_date: date
    end_date: date
    sum_insured: Money
    premium: dict[str, str]
    animals: tuple[str, ...]
    plots: tuple[str, ...]


def _now() -> datetime:
    return datetime.now(UTC)


def _bounds(g: shapely.Geometry) -> dict[str, float]:
    x0, y0, x1, y1 = shapely.bounds(g).tolist()
    return {"min_lon": x0, "min_lat": y0, "max_lon": x1, "max_lat": y1}


class UnderwritingService:
    """Farmers, products, enrolment, applications and policies, with their ledger events."""

    def __init__(
        self,
        ledger: LedgerService,
        registry: Callable[[], Registry],
        *,
        tolerance: Tolerance | None = None,
        min_overlap_m2: float = 100.0,
    ) -> None:
        """Wire the service.

        Args:
            ledger: the ledger service (its engine is the database).
            registry: returns the face-ID registry over :class:`SqlTemplateStore`
                (called on first livestock use: loading the model takes a second).
            tolerance: declared-vs-measured rule (default: EU IACS).
            min_overlap_m2: overlaps with insured plots above this are flagged.
        """
        self.ledger = ledger
        self.engine = ledger.store.engine
        self._registry = registry
        self.tolerance = tolerance or Tolerance()
        self.min_overlap_m2 = min_overlap_m2

    # --- plumbing --------------------------------------------------------------------

    def _event(
        self,
        conn: Connection,
        kind: str,
        subjects: dict[str, str],
        actor: str,
        payload: dict[str, Any],
        when: datetime | None = None,
    ) -> int:
        (entry,) = self.ledger.append_events(
            conn, [Event(kind, subjects, actor, when or _now(), payload)]
        )
        return entry.index

    def _first(self, query: Any, conn: Connection | None) -> Any:
        """The first row of ``query`` on ``conn``, or on a read connection of our own."""
        if conn is not None:
            return conn.execute(query).first()
        with self._read() as c:
            return c.execute(query).first()

    def _read(self) -> Connection:
        return self.engine.connect().execution_options(readonly=True)

    # --- farmers and products --------------------------------------------------------

    def register_farmer(
        self,
        farmer_id: str,
        name: str,
        region: str,
        *,
        lat: float | None = None,
        lon: float | None = None,
        actor: str,
        conn: Connection | None = None,
    ) -> FarmerRecord:
        """Register a farmer (``farmer.registered``).

        Raises:
            InvalidInputError: a bad position.
            ConflictError: the id is taken.
        """
        if (lat is None) != (lon is None):
            raise InvalidInputError("give both lat and lon, or neither", field="lat")
        if (
            lat is not None
            and lon is not None
            and not (-90 <= lat <= 90 and -180 <= lon <= 180)
        ):
            raise InvalidInputError(
                f"({lat}, {lon}) is not a position in degrees", field="lat"
            )
        with self.ledger.transaction(conn) as conn:
            if conn.execute(
                select(farmers.c.id).where(farmers.c.id == farmer_id)
            ).first():
                raise ConflictError(f"farmer {farmer_id} exists", field="farmer_id")
            conn.execute(
                insert(farmers).values(
                    id=farmer_id,
                    name=name,
                    region=region,
                    lat=lat,
                    lon=lon,
                    created_at=_now(),
                )
            )
            self._event(
                conn,
                "farmer.registered",
                {"farmer": farmer_id},
                actor,
                {"region": region},
            )
        return FarmerRecord(farmer_id, name, region, lat, lon)

    def farmer(self, farmer_id: str, conn: Connection | None = None) -> FarmerRecord:
        """The farmer ``farmer_id``.

        Raises:
            NotFoundError: no such farmer.
        """
        row = self._first(select(farmers).where(farmers.c.id == farmer_id), conn)
        if row is None:
            raise NotFoundError(f"no farmer {farmer_id}", field="farmer_id")
        return FarmerRecord(row.id, row.name, row.region, row.lat, row.lon)

    def farmers(self, offset: int = 0, limit: int = 50) -> Page:
        """Farmers in id order, one page."""
        with self._read() as conn:
            rows, total = page_rows(
                conn, farmers, true(), [farmers.c.id], offset, limit
            )
        items = [FarmerRecord(r.id, r.name, r.region, r.lat, r.lon) for r in rows]
        return Page(items, total, offset, limit)

    def add_product(
        self, product: Product, *, actor: str, conn: Connection | None = None
    ) -> Product:
        """Create a product (``product.created``).

        Raises:
            ConflictError: the code is taken.
        """
        terms = product_to_dict(product)
        with self.ledger.transaction(conn) as conn:
            if conn.execute(
                select(products.c.code).where(products.c.code == product.code)
            ).first():
                raise ConflictError(f"product {product.code} exists", field="code")
            conn.execute(
                insert(products).values(
                    code=product.code,
                    kind=terms["kind"],
                    terms=json.dumps(terms),
                    created_at=_now(),
                )
            )
            self._event(
                conn, "product.created", {"product": product.code}, actor, terms
            )
        return product

    def product(self, code: str, conn: Connection | None = None) -> Product:
        """The product ``code``.

        Raises:
            NotFoundError: no such product.
        """
        row = self._first(select(products.c.terms).where(products.c.code == code), conn)
        terms = row.terms if row is not None else None
        if terms is None:
            raise NotFoundError(f"no product {code}", field="product_code")
        return product_from_dict(json.loads(terms))

    def products(self) -> list[Product]:
        """Every product, by code."""
        with self._read() as conn:
            rows = conn.execute(
                select(products.c.terms).order_by(products.c.code)
            ).all()
        return [product_from_dict(json.loads(r.terms)) for r in rows]

    # --- animals ---------------------------------------------------------------------

    def enrol_animal(
        self,
        tag: str,
        photos: Sequence[Photo],
        *,
        farmer_id: str,
        scheme: Scheme = "iso11784",
        actor: str,
        conn: Connection | None = None,
    ) -> EnrolResult:
        """Enrol an animal through the face-ID registry; every attempt is on record.

        An animal that matches one already enrolled (under any tag or farm) is
        not stored: the result is ``duplicate`` or ``needs_review`` with the
        match, and the attempt is recorded for the underwriter to see.

        Raises:
            NotFoundError: unknown farmer.
            TagError, ImageError, RegistryError: from the registry (bad tag,
                unusable photo, tag already enrolled).
        """
        registry = self._registry()
        store = registry.store
        if not isinstance(store, SqlTemplateStore):  # pragma: no cover - wiring error
            raise TypeError("the registry must store templates in the database")
        try:
            with self.ledger.transaction(conn) as conn, store.bound(conn):
                self.farmer(farmer_id, conn)
                result = registry.enrol(tag, photos, farm=farmer_id, scheme=scheme)
                match = result.match
                conn.execute(
                    insert(enrolments).values(
                        tag=result.tag,
                        farmer_id=farmer_id,
                        status=result.status,
                        match_tag=match.tag
                        if match and result.status != "enrolled"
                        else None,
                        match_farm=match.farm
                        if match and result.status != "enrolled"
                        else None,
                        score=match.score if match else None,
                        detail=json.dumps(
                            {"reused_photos": [r.photo for r in result.reused_photos]}
                        ),
                        created_at=_now(),
                    )
                )
                if result.status == "enrolled":
                    self._event(
                        conn,
                        "animal.enrolled",
                        {"animal": result.tag, "farmer": farmer_id},
                        actor,
                        {"scheme": scheme, "photos": len(photos)},
                    )
        except BaseException:
            registry.rebuild_index()  # the index may hold an animal that was rolled back
            raise
        return result

    # --- applications ----------------------------------------------------------------

    def _insured_plots(
        self, conn: Connection, start: date, end: date, bounds: tuple[float, ...]
    ) -> list[Any]:
        """Plots of policies in force during [start, end] whose boxes meet ``bounds``."""
        x0, y0, x1, y1 = bounds
        rows = conn.execute(
            select(
                plots.c.plot_ref,
                plots.c.geometry,
                plots.c.area_m2,
                policies.c.farmer_id,
                policies.c.id.label("policy_id"),
            )
            .join(policies, policies.c.id == plots.c.policy_id)
            .where(
                policies.c.start_date <= end,
                policies.c.end_date >= start,
                plots.c.max_lon >= x0,
                plots.c.min_lon <= x1,
                plots.c.max_lat >= y0,
                plots.c.min_lat <= y1,
            )
        ).all()
        return list(rows)

    def _applicable(
        self, conn: Connection, farmer_id: str, product_code: str, kind: type[P]
    ) -> P:
        """The product, checked to be of ``kind``, for a farmer that exists."""
        self.farmer(farmer_id, conn)
        product = self.product(product_code, conn)
        if not isinstance(product, kind):
            what = "crop" if kind is CropProduct else "livestock"
            raise InvalidInputError(
                f"{product_code} is not a {what} product", field="product_code"
            )
        return product

    def _validate_period(self, start: date, end: date) -> None:
        if end <= start:
            raise InvalidInputError(
                "end_date must be after start_date", field="end_date"
            )
        if (end - start).days > 731:
            raise InvalidInputError(
                "a policy period is at most two years", field="end_date"
            )

    def apply_crop(
        self,
        farmer_id: str,
        product_code: str,
        plot_set: PlotSet,
        *,
        start: date,
        end: date,
        actor: str,
        conn: Connection | None = None,
    ) -> ApplicationRecord:
        """Submit a crop application over validated plots and run its checks.

        Checks per plot: problems of its geometry, geodesic area vs declared,
        overlaps with plots of policies in force in the period (double
        insurance) and with the other plots of the application. Plots with
        a usable geometry are stored (``plot.surveyed`` each).

        Raises:
            NotFoundError: unknown farmer or product.
            InvalidInputError: not a crop product, a bad period, or no plot.
        """
        self._validate_period(start, end)
        if len(plot_set) == 0:
            raise InvalidInputError("the plot file holds no plots", field="plots")
        if len(set(plot_set.ids)) != len(plot_set.ids):
            raise InvalidInputError("plot ids repeat in the file", field="plots")
        report = check_plots(
            plot_set, tolerance=self.tolerance, min_overlap_m2=self.min_overlap_m2
        )
        usable = plot_set.usable
        with self.ledger.transaction(conn) as conn:
            self._applicable(conn, farmer_id, product_code, CropProduct)
            checks: list[Check] = []
            geoms = plot_set.geometry
            found = np.flatnonzero(usable)
            insured: list[Any] = []
            if len(found):
                box = shapely.bounds(shapely.union_all(geoms[found])).tolist()
                insured = self._insured_plots(conn, start, end, tuple(box))
            overlaps_with: list[list[tuple[str, float, float]]] = [
                [] for _ in plot_set.ids
            ]
            if insured and len(found):
                mine = geoms.copy()
                mine[~usable] = None
                other_geoms = shapely.from_wkb([r.geometry for r in insured])
                ov = find_overlaps(
                    mine,
                    other_geoms,
                    min_overlap_m2=self.min_overlap_m2,
                    areas_m2=plot_set.area_m2,
                    other_areas_m2=np.array([r.area_m2 for r in insured]),
                )
                for a, b, area, share in zip(
                    ov.left.tolist(),
                    ov.right.tolist(),
                    ov.area_m2.tolist(),
                    ov.share_left.tolist(),
                    strict=True,
                ):
                    r = insured[b]
                    label = f"{r.plot_ref} of policy {r.policy_id[:8]} ({r.farmer_id})"
                    overlaps_with[a].append((label, area / M2_PER_HA, share))
            for i, row in enumerate(report.rows):
                for p in row.problems:
                    if p.severity == "error":
                        checks.append(
                            Check(
                                "plot_geometry",
                                "red",
                                f"plot {row.plot_id}: {p.message}",
                            )
                        )
                    elif p.severity == "warning":
                        checks.append(
                            Check(
                                "plot_geometry",
                                "amber",
                                f"plot {row.plot_id}: {p.message}",
                            )
                        )
                if not usable[i]:
                    continue
                checks.append(
                    check_plot_area(
                        row.plot_id, row.verdict, row.declared_ha, row.area_ha
                    )
                )
                checks.append(check_double_insurance(row.plot_id, overlaps_with[i]))
                for o in row.overlaps:
                    if row.plot_id < o.other_id:
                        checks.append(
                            Check(
                                "plot_overlap",
                                "amber",
                                f"plots {row.plot_id} and {o.other_id} of this application "
                                f"overlap by {o.area_ha:.2f} ha",
                            )
                        )
            app_id, rec = self._insert_application(
                conn, farmer_id, product_code, "crop", start, end, checks, ()
            )
            rows = []
            for i in found.tolist():
                g = geoms[i]
                declared = float(plot_set.declared_m2[i])
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "plot_ref": plot_set.ids[i],
                        "application_id": app_id,
                        "policy_id": None,
                        "farmer_id": farmer_id,
                        "geometry": shapely.to_wkb(g),
                        "area_m2": float(plot_set.area_m2[i]),
                        "declared_m2": declared if np.isfinite(declared) else None,
                        **_bounds(g),
                    }
                )
            if rows:
                conn.execute(insert(plots), rows)
            self._event(
                conn,
                "application.submitted",
                {"application": app_id, "farmer": farmer_id},
                actor,
                {
                    "product": product_code,
                    "kind": "crop",
                    "plots": len(plot_set),
                    "light": rec.light,
                    "recommendation": rec.outcome,
                },
            )
            for r in rows:
                self._event(
                    conn,
                    "plot.surveyed",
                    {"plot": r["plot_ref"], "application": app_id, "farmer": farmer_id},
                    actor,
                    {
                        "area_m2": round(r["area_m2"], 2),
                        "declared_m2": None
                        if r["declared_m2"] is None
                        else round(r["declared_m2"], 2),
                    },
                )
            record = self._application(conn, app_id)
        return record

    def apply_livestock(
        self,
        farmer_id: str,
        product_code: str,
        tags: Sequence[str],
        *,
        start: date,
        end: date,
        actor: str,
        conn: Connection | None = None,
    ) -> ApplicationRecord:
        """Submit a livestock application for enrolled animals and run its checks.

        Checks per animal: its latest enrolment attempt (enrolled, or a
        duplicate / possible duplicate of an animal enrolled elsewhere), that
        it belongs to this farmer, and that no policy in force covers it.
        With a whole-herd product, every enrolled animal of the farmer must
        be in the application.

        Raises:
            NotFoundError: unknown farmer or product.
            InvalidInputError: not a livestock product, bad period, no animals,
                a tag repeated, or a tag never presented for enrolment.
        """
        self._validate_period(start, end)
        if not tags:
            raise InvalidInputError("list at least one animal", field="animals")
        if len(set(tags)) != len(tags):
            raise InvalidInputError("a tag is listed twice", field="animals")
        with self.ledger.transaction(conn) as conn:
            product = self._applicable(conn, farmer_id, product_code, LivestockProduct)
            checks: list[Check] = []
            for tag in tags:
                attempt = conn.execute(
                    select(enrolments)
                    .where(enrolments.c.tag == tag)
                    .order_by(enrolments.c.id.desc())
                    .limit(1)
                ).first()
                if attempt is None:
                    raise InvalidInputError(
                        f"animal {tag} was never presented for enrolment",
                        field="animals",
                    )
                enrolled = conn.execute(
                    select(animals).where(animals.c.tag == tag)
                ).first()
                if (
                    attempt.status == "enrolled"
                    and enrolled is not None
                    and enrolled.farm != farmer_id
                ):
                    checks.append(
                        Check(
                            "animal",
                            "red",
                            f"animal {tag} is enrolled to {enrolled.farm}",
                        )
                    )
                    continue
                checks.append(
                    check_animal(
                        tag, attempt.status, attempt.match_tag, attempt.match_farm
                    )
                )
                if enrolled is not None and enrolled.policy:
                    held = conn.execute(
                        select(policies).where(
                            policies.c.id == enrolled.policy,
                            policies.c.start_date <= end,
                            policies.c.end_date >= start,
                        )
                    ).first()
                    if held is not None:
                        checks.append(
                            Check(
                                "double_insurance",
                                "red",
                                f"animal {tag} is insured by policy {held.id[:8]} "
                                f"until {held.end_date}",
                            )
                        )
            if product.whole_herd:
                herd = {
                    r.tag
                    for r in conn.execute(
                        select(animals.c.tag).where(animals.c.farm == farmer_id)
                    ).all()
                }
                left_out = sorted(herd - set(tags))
                checks.append(
                    Check(
                        "whole_herd",
                        "amber",
                        "the whole-herd rule: enrolled animals not in the "
                        f"application: {', '.join(left_out)}",
                    )
                    if left_out
                    else Check(
                        "whole_herd",
                        "green",
                        "the whole enrolled herd is in the application",
                    )
                )
            app_id, rec = self._insert_application(
                conn, farmer_id, product_code, "livestock", start, end, checks, tags
            )
            self._event(
                conn,
                "application.submitted",
                {"application": app_id, "farmer": farmer_id},
                actor,
                {
                    "product": product_code,
                    "kind": "livestock",
                    "animals": list(tags),
                    "light": rec.light,
                    "recommendation": rec.outcome,
                },
            )
            record = self._application(conn, app_id)
        return record

    def _insert_application(
        self,
        conn: Connection,
        farmer_id: str,
        product_code: str,
        kind: str,
        start: date,
        end: date,
        checks: Sequence[Check],
        tags: Sequence[str],
    ) -> tuple[str, Recommendation]:
        """Store a submitted application with its checks; (its id, the recommendation)."""
        rec = recommend(checks)
        app_id = str(uuid.uuid4())
        now = _now()
        conn.execute(
            insert(applications).values(
                id=app_id,
                farmer_id=farmer_id,
                product_code=product_code,
                kind=kind,
                start_date=start,
                end_date=end,
                status="submitted",
                light=rec.light,
                recommendation=rec.outcome,
                checks=checks_json(checks),
                animals=json.dumps(list(tags)),
                created_at=now,
                updated_at=now,
            )
        )
        return app_id, rec

    def _applications(
        self, conn: Connection, rows: Sequence[Any]
    ) -> list[ApplicationRecord]:
        """Records for application rows, their plot ids fetched in one query."""
        refs = grouped(
            conn,
            select(plots.c.application_id, plots.c.plot_ref)
            .where(plots.c.application_id.in_([r.id for r in rows]))
            .order_by(plots.c.plot_ref),
        )
        return [
            ApplicationRecord(
                row.id,
                row.farmer_id,
                row.product_code,
                row.kind,
                row.start_date,
                row.end_date,
                row.status,
                row.light,
                row.recommendation,
                tuple(Check(**c) for c in json.loads(row.checks)),
                tuple(json.loads(row.animals)),
                tuple(refs.get(row.id, ())),
                row.reason,
                row.decided_by,
                row.policy_id,
            )
            for row in rows
        ]

    def _application(self, conn: Connection, app_id: str) -> ApplicationRecord:
        row = conn.execute(
            select(applications).where(applications.c.id == app_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no application {app_id}", field="application_id")
        return self._applications(conn, [row])[0]

    def application(self, app_id: str) -> ApplicationRecord:
        """The application ``app_id`` with its checks.

        Raises:
            NotFoundError: no such application.
        """
        with self._read() as conn:
            return self._application(conn, app_id)

    def applications(
        self,
        *,
        status: str | None = None,
        farmer_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Applications, newest first, optionally by status or farmer."""
        where = []
        if status:
            where.append(applications.c.status == status)
        if farmer_id:
            where.append(applications.c.farmer_id == farmer_id)
        cond = and_(*where) if where else true()
        order = [applications.c.created_at.desc(), applications.c.id]
        with self._read() as conn:
            rows, total = page_rows(conn, applications, cond, order, offset, limit)
            items = self._applications(conn, rows)
        return Page(items, total, offset, limit)

    def decide(
        self,
        app_id: str,
        decision: Decision,
        *,
        actor: str,
        reason: str | None = None,
        conn: Connection | None = None,
    ) -> ApplicationRecord:
        """The underwriter's decision; ``approve`` issues the policy in the same transaction.

        A decline or a referral needs a reason, and so does an approval
        against the checks' recommendation (the reason is on the ledger).

        Raises:
            NotFoundError: no such application.
            ConflictError: already approved or declined.
            InvalidInputError: a reason is missing.
        """
        if decision not in ("approve", "refer", "decline"):
            raise InvalidInputError(
                f"decision must be approve, refer or decline, not {decision!r}",
                field="decision",
            )
        with self.ledger.transaction(conn) as conn:
            app = self._application(conn, app_id)
            if decision != "approve" and not reason:
                raise InvalidInputError(f"to {decision}, give a reason", field="reason")
            if decision == "approve" and app.recommendation != "approve" and not reason:
                raise InvalidInputError(
                    f"the checks recommend {app.recommendation}: give a reason to approve",
                    field="reason",
                )
            to_status = {
                "approve": "approved",
                "refer": "referred",
                "decline": "declined",
            }[decision]
            changed = conn.execute(
                update(applications)
                .where(
                    applications.c.id == app_id,
                    applications.c.status.in_(("submitted", "referred")),
                )
                .values(
                    status=to_status, reason=reason, decided_by=actor, updated_at=_now()
                )
            ).rowcount
            if not changed:
                raise ConflictError(f"application {app_id} is already {app.status}")
            self._event(
                conn,
                f"application.{to_status}",
                {"application": app_id, "farmer": app.farmer_id},
                actor,
                {
                    "reason": reason,
                    "light": app.light,
                    "recommendation": app.recommendation,
                },
            )
            if decision == "approve":
                self._issue(conn, app, actor)
            record = self._application(conn, app_id)
        return record

    def _issue(self, conn: Connection, app: ApplicationRecord, actor: str) -> str:
        product = self.product(app.product_code, conn)
        policy_id = str(uuid.uuid4())
        if isinstance(product, CropProduct):
            area = conn.execute(
                select(func.coalesce(func.sum(plots.c.area_m2), 0.0)).where(
                    plots.c.application_id == app.id
                )
            ).scalar_one()
            split = premium_for(product, Decimal(str(round(float(area), 2))))
            conn.execute(
                update(plots)
                .where(plots.c.application_id == app.id)
                .values(policy_id=policy_id)
            )
            covered: dict[str, Any] = {
                "plots": list(app.plots),
                "area_m2": round(float(area), 2),
            }
        else:
            split = premium_for(product, len(app.animals))
            conn.execute(
                update(animals)
                .where(animals.c.tag.in_(app.animals))
                .values(policy=policy_id)
            )
            covered = {"animals": list(app.animals)}
        premium = {
            "total": str(split.total),
            "farmer": str(split.farmer),
            "central": str(split.central),
            "provincial": str(split.provincial),
            "county": str(split.county),
        }
        conn.execute(
            insert(policies).values(
                id=policy_id,
                farmer_id=app.farmer_id,
                product_code=app.product_code,
                application_id=app.id,
                kind=app.kind,
                start_date=app.start_date,
                end_date=app.end_date,
                sum_insured_minor=split.sum_insured.minor,
                premium=json.dumps(premium),
                currency=split.sum_insured.currency,
                created_at=_now(),
            )
        )
        conn.execute(
            update(applications)
            .where(applications.c.id == app.id)
            .values(policy_id=policy_id)
        )
        self._event(
            conn,
            "policy.issued",
            {"policy": policy_id, "farmer": app.farmer_id, "application": app.id},
            actor,
            {
                "product": app.product_code,
                "start": app.start_date.isoformat(),
                "end": app.end_date.isoformat(),
                "sum_insured": str(split.sum_insured),
                "currency": split.sum_insured.currency,
                "premium": premium,
                **covered,
            },
        )
        return policy_id

    # --- policies --------------------------------------------------------------------

    def _policies(self, conn: Connection, rows: Sequence[Any]) -> list[PolicyRecord]:
        """Records for policy rows, their animals and plots fetched in one query each."""
        ids = [r.id for r in rows]
        tags = grouped(
            conn,
            select(animals.c.policy, animals.c.tag)
            .where(animals.c.policy.in_(ids))
            .order_by(animals.c.tag),
        )
        refs = grouped(
            conn,
            select(plots.c.policy_id, plots.c.plot_ref)
            .where(plots.c.policy_id.in_(ids))
            .order_by(plots.c.plot_ref),
        )
        return [
            PolicyRecord(
                row.id,
                row.farmer_id,
                row.product_code,
                row.application_id,
                row.kind,
                row.start_date,
                row.end_date,
                Money(int(row.sum_insured_minor), row.currency),
                json.loads(row.premium),
                tuple(tags.get(row.id, ())),
                tuple(refs.get(row.id, ())),
            )
            for row in rows
        ]

    def policy(self, policy_id: str, conn: Connection | None = None) -> PolicyRecord:
        """The policy ``policy_id``.

        Raises:
            NotFoundError: no such policy.
        """
        query = select(policies).where(policies.c.id == policy_id)
        if conn is not None:
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f"no policy {policy_id}", field="policy_id")
            return self._policies(conn, [row])[0]
        with self._read() as c:
            return self.policy(policy_id, c)

    def policies(
        self, *, farmer_id: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page:
        """Policies, newest first, optionally of one farmer."""
        cond = policies.c.farmer_id == farmer_id if farmer_id else true()
        order = [policies.c.created_at.desc(), policies.c.id]
        with self._read() as conn:
            rows, total = page_rows(conn, policies, cond, order, offset, limit)
            items = self._policies(conn, rows)
        return Page(items, total, offset, limit)
