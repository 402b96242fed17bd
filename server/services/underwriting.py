"""Underwriting in the database: farmers, products, applications, policies.

Every state change writes its rows and its ledger event in one transaction:
a farmer registered, a product created, an application submitted (with each
plot surveyed), decided, and a policy issued. The rules are the pure functions
of :mod:`underwriting` (checks, period, decision, double insurance, the
application checklists) over measurements from :mod:`remote_sensing` (plots)
and the enrolment records; this module gathers their inputs through the
stores of :mod:`server.storage.underwriting_store`, calls them, and writes.
Enrolment is :mod:`server.services.enrolment`'s. Uniqueness is the database's: a taken farmer id or
product code fails on its primary key, and an animal insured by two policies
in force at once fails on the ``policy_animals`` trigger (both 409). Every
approval takes the named lock :data:`APPROVE_LOCK` first, so its
double-insurance re-check and the policy it issues are atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import Connection

from remote_sensing import PlotSet, Tolerance, check_plots, find_overlaps
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.services.ledger import LedgerService
from server.services.work import reading
from server.storage.locks import lock
from server.storage.paging import Page
from server.storage.plots_store import insured_plots_meeting
from server.storage.underwriting_store import (
    ApplicationRecord,
    FarmerRecord,
    FarmerStore,
    PolicyRecord,
    PolicyStore,
)
from underwriting import (
    ApplicationError,
    Check,
    CropProduct,
    DecisionConflictError,
    DoubleInsuranceError,
    InsuredAnimal,
    InsuredOverlap,
    LivestockProduct,
    OverlapRules,
    PresentedAnimal,
    Product,
    Recommendation,
    SurveyedPlot,
    UnderwritingError,
    crop_application_checks,
    decide,
    first_control,
    livestock_application_checks,
    periods_overlap,
    premium_for,
    recommend,
    shown,
    validate_period,
    verify_no_double_insurance,
)

__all__ = [
    "ApplicationRecord",
    "FarmerRecord",
    "PolicyRecord",
    "UnderwritingService",
]

P = TypeVar("P", CropProduct, LivestockProduct)


def _bounds(g: shapely.Geometry) -> dict[str, float]:
    x0, y0, x1, y1 = shapely.bounds(g).tolist()
    return {"min_lon": x0, "min_lat": y0, "max_lon": x1, "max_lat": y1}


MAX_ID = 64
"""The longest farmer id, in characters (the API's limit)."""

MAX_NAME = 200
"""The longest farmer's name or region, in characters (the API's limit)."""

MAX_TAG = 32
"""The longest ear tag an application may list, in characters (enrolment's limit)."""

MAX_REASON = 2000
"""The longest reason of a decision, in characters (the API's limit)."""


def plain_text(
    value: str, field: str, *, most: int, note: bool = False, path: bool = False
) -> str:
    """``value`` if it is 1 to ``most`` characters of plain text, else InvalidInputError.

    Plain text holds no control character (:func:`underwriting.first_control`;
    a ``note`` may hold tabs and line breaks) and is not blank. With ``path``
    (an id that appears in the API's paths, such as ``/history/farmer/{id}``)
    it holds no slash or backslash either, and is not ``.`` or ``..``.

    Raises:
        InvalidInputError: naming ``field`` and the problem; the value is
            quoted to at most 40 characters.
    """
    if not value.strip():
        raise InvalidInputError(f"{field} must not be blank", field=field)
    if len(value) > most:
        raise InvalidInputError(
            f"{field} is {len(value):,} characters long; at most {most}", field=field
        )
    at = first_control(value, note=note)
    if at is not None:
        raise InvalidInputError(
            f"{field} holds a control character (U+{ord(value[at]):04X}) at "
            f"position {at}: {shown(value)}",
            field=field,
        )
    if path and ("/" in value or "\\" in value or value in (".", "..")):
        raise InvalidInputError(
            f"{field} {shown(value)} holds '/' or '\\' or is a path step: an id "
            "appears in the API's paths",
            field=field,
        )
    return value


APPROVE_LOCK = "underwriting:approve"
"""Named lock of every approval: the double-insurance re-check and the issue are atomic."""


@contextmanager
def _refusals() -> Iterator[None]:
    """Translate the underwriting rules' refusals into service errors (422 / 409)."""
    try:
        yield
    except ApplicationError as exc:
        raise InvalidInputError(str(exc), field=exc.field) from exc
    except DoubleInsuranceError as exc:
        raise ConflictError(str(exc), field=exc.field) from exc
    except DecisionConflictError as exc:
        raise ConflictError(str(exc)) from exc
    except UnderwritingError as exc:  # pragma: no cover - every rule error is above
        raise InvalidInputError(str(exc)) from exc


class UnderwritingService:
    """Farmers, products, enrolment, applications and policies, with their ledger events."""

    def __init__(
        self,
        ledger: LedgerService,
        *,
        tolerance: Tolerance | None = None,
        min_overlap_m2: float = 100.0,
        min_overlap_share: float = 0.5,
    ) -> None:
        """Wire the service.

        Args:
            ledger: the ledger service (its engine is the database).
            tolerance: declared-vs-measured rule (default: EU IACS).
            min_overlap_m2: overlaps with insured plots above this are flagged.
            min_overlap_share: and so is any overlap covering this share (0-1) of
                the plot, however small (a small plot inside an insured one).
        """
        self.ledger = ledger
        self.engine = ledger.store.engine
        self.tolerance = tolerance or Tolerance()
        self.overlap_rules = OverlapRules(min_overlap_m2, min_overlap_share)
        self.farmers_store = FarmerStore()
        self.store = PolicyStore()

    # --- plumbing --------------------------------------------------------------------

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
            InvalidInputError: a bad position; an id, name or region that is
                blank, too long (:data:`MAX_ID`, :data:`MAX_NAME`) or holds a
                control character; an id holding a slash or backslash (see
                :func:`plain_text`).
            ConflictError: the id is taken.
        """
        plain_text(farmer_id, "id", most=MAX_ID, path=True)
        plain_text(name, "name", most=MAX_NAME)
        plain_text(region, "region", most=MAX_NAME)
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
        record = FarmerRecord(farmer_id, name, region, lat, lon)
        with self.ledger.transaction(conn) as conn:
            self.farmers_store.insert_farmer(conn, record)
            self.ledger.record(
                conn,
                "farmer.registered",
                {"farmer": farmer_id},
                actor,
                {"region": region},
            )
        return record

    def farmer(self, farmer_id: str, conn: Connection | None = None) -> FarmerRecord:
        """The farmer ``farmer_id``.

        Raises:
            NotFoundError: no such farmer.
        """
        with reading(self.engine, conn) as c:
            found = self.farmers_store.farmer(c, farmer_id)
        if found is None:
            raise NotFoundError(f"no farmer {farmer_id}", field="farmer_id")
        return found

    def farmers(self, offset: int = 0, limit: int = 50) -> Page:
        """Farmers in id order, one page."""
        with reading(self.engine) as conn:
            items, total = self.farmers_store.farmers(conn, offset, limit)
        return Page(items, total, offset, limit)

    def add_product(
        self, product: Product, *, actor: str, conn: Connection | None = None
    ) -> Product:
        """Create a product (``product.created``).

        Raises:
            ConflictError: the code is taken.
        """
        with self.ledger.transaction(conn) as conn:
            terms = self.farmers_store.insert_product(conn, product)
            self.ledger.record(
                conn, "product.created", {"product": product.code}, actor, terms
            )
        return product

    def product(self, code: str, conn: Connection | None = None) -> Product:
        """The product ``code``.

        Raises:
            NotFoundError: no such product.
        """
        with reading(self.engine, conn) as c:
            found = self.farmers_store.product(c, code)
        if found is None:
            raise NotFoundError(f"no product {code}", field="product_code")
        return found

    def products(self) -> list[Product]:
        """Every product, by code."""
        with reading(self.engine) as conn:
            return self.farmers_store.products(conn)

    # --- applications ----------------------------------------------------------------

    def _insured_overlaps(
        self,
        conn: Connection,
        start: date,
        end: date,
        plot_ids: Sequence[str],
        geoms: npt.NDArray[np.object_],
        areas_m2: npt.NDArray[np.float64],
    ) -> list[InsuredOverlap]:
        """Overlaps of ``geoms`` with plots of policies in force during [start, end].

        Args:
            conn: the transaction to read in.
            start: first day of the period.
            end: last day of the period.
            plot_ids: the plots' ids, one per geometry.
            geoms: WGS84 geometries (None where a plot is unusable).
            areas_m2: their geodesic areas in square metres.

        Returns:
            Every overlap above 1 m2 (the rules decide which count), in plot order.
            PostgreSQL searches and measures in PostGIS, SQLite in Python (remote
            sensing's STR-tree): the same pairs and areas.
        """
        from server.storage import overlaps_sql

        found = np.flatnonzero(~shapely.is_missing(geoms))
        if not len(found):
            return []
        # Small overlaps reach the rule too: it flags them by share.
        floor = min(self.overlap_rules.min_overlap_m2, 1.0)
        if overlaps_sql.spatial_sql(conn):
            hits = overlaps_sql.insured_overlaps(
                conn, start, end, shapely.to_wkb(geoms).tolist(), min_overlap_m2=floor
            )
            return [
                InsuredOverlap(
                    plot_ids[h.index],
                    h.plot_ref,
                    h.policy_id,
                    h.farmer_id,
                    h.area_m2,
                    h.area_m2 / float(areas_m2[h.index]),
                )
                for h in hits
            ]
        insured = insured_plots_meeting(
            conn,
            start,
            end,
            tuple(shapely.bounds(shapely.union_all(geoms[found])).tolist()),
        )
        if not insured:
            return []
        ov = find_overlaps(
            geoms,
            shapely.from_wkb([r.geometry for r in insured]),
            min_overlap_m2=floor,
            areas_m2=areas_m2,
            other_areas_m2=np.array([r.area_m2 for r in insured]),
        )
        return [
            InsuredOverlap(
                plot_ids[a],
                insured[b].plot_ref,
                insured[b].policy_id,
                insured[b].farmer_id,
                area_m2,
                share,
            )
            for a, b, area_m2, share in zip(
                ov.left.tolist(),
                ov.right.tolist(),
                ov.area_m2.tolist(),
                ov.share_left.tolist(),
                strict=True,
            )
        ]

    def _insured_animals(
        self, conn: Connection, tags: Sequence[str], start: date, end: date
    ) -> list[InsuredAnimal]:
        """The animals of ``tags`` that a policy in force during [start, end] insures."""
        return [
            InsuredAnimal(h.tag, h.policy_id, h.end_date)
            for h in self.store.held(conn, tags)
            if periods_overlap(start, end, h.start_date, h.end_date)
        ]

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

        Checks per plot (the rules of :mod:`underwriting`): problems of its
        geometry, geodesic area vs declared, overlaps with plots of policies
        in force in the period (double insurance) and with the other plots of
        the application. Plots with a usable geometry are stored
        (``plot.surveyed`` each).

        Raises:
            NotFoundError: unknown farmer or product.
            InvalidInputError: not a crop product, a bad period, or no plot.
        """
        with _refusals():
            validate_period(start, end)
        if len(plot_set) == 0:
            raise InvalidInputError("the plot file holds no plots", field="plots")
        if len(set(plot_set.ids)) != len(plot_set.ids):
            raise InvalidInputError("plot ids repeat in the file", field="plots")
        report = check_plots(
            plot_set,
            tolerance=self.tolerance,
            min_overlap_m2=self.overlap_rules.min_overlap_m2,
        )
        usable = plot_set.usable
        with self.ledger.transaction(conn) as conn:
            self._applicable(conn, farmer_id, product_code, CropProduct)
            geoms = plot_set.geometry
            found = np.flatnonzero(usable)
            mine = geoms.copy()
            mine[~usable] = None
            insured = self._insured_overlaps(
                conn, start, end, plot_set.ids, mine, plot_set.area_m2
            )
            checks = crop_application_checks(
                [
                    SurveyedPlot(
                        row.plot_id,
                        row.problems,
                        bool(usable[i]),
                        row.verdict,
                        row.declared_ha,
                        row.area_ha,
                        [(o.other_id, o.area_ha) for o in row.overlaps],
                    )
                    for i, row in enumerate(report.rows)
                ],
                insured,
                self.overlap_rules,
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
            self.store.insert_plots(conn, rows)
            self.ledger.record(
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
                self.ledger.record(
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

        Checks per animal (the rules of :mod:`underwriting`): its latest
        enrolment attempt (enrolled, or a duplicate / possible duplicate of an
        animal enrolled elsewhere), that it is enrolled to this farmer, and
        that no policy in force in the period insures it. With a whole-herd
        product, every enrolled animal of the farmer must be in the application.

        Raises:
            NotFoundError: unknown farmer or product.
            InvalidInputError: not a livestock product, bad period, no animals,
                a tag that is not a tag (over :data:`MAX_TAG` characters, or a
                control character), a tag repeated, or a tag never presented
                for enrolment.
        """
        with _refusals():
            validate_period(start, end)
        if not tags:
            raise InvalidInputError("list at least one animal", field="animals")
        for i, tag in enumerate(tags):
            plain_text(tag, f"animals.{i}", most=MAX_TAG)
        if len(set(tags)) != len(tags):
            raise InvalidInputError("a tag is listed twice", field="animals")
        with self.ledger.transaction(conn) as conn:
            product = self._applicable(conn, farmer_id, product_code, LivestockProduct)
            presented = []
            for tag in tags:
                attempt = self.store.latest_enrolment(conn, tag)
                if attempt is None:
                    raise InvalidInputError(
                        f"animal {shown(tag)} was never presented for enrolment",
                        field="animals",
                    )
                presented.append(
                    PresentedAnimal(
                        tag,
                        attempt.status,
                        attempt.match_tag,
                        attempt.match_farm,
                        self.store.animal_farm(conn, tag),
                    )
                )
            checks = livestock_application_checks(
                farmer_id,
                presented,
                self._insured_animals(conn, tags, start, end),
                self.store.herd(conn, farmer_id) if product.whole_herd else None,
            )
            app_id, rec = self._insert_application(
                conn, farmer_id, product_code, "livestock", start, end, checks, tags
            )
            self.ledger.record(
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
        app_id = self.store.insert_application(
            conn,
            farmer_id=farmer_id,
            product_code=product_code,
            kind=kind,
            start=start,
            end=end,
            light=rec.light,
            recommendation=rec.outcome,
            checks=checks,
            tags=tags,
        )
        return app_id, rec

    def _application(self, conn: Connection, app_id: str) -> ApplicationRecord:
        found = self.store.application(conn, app_id)
        if found is None:
            raise NotFoundError(f"no application {app_id}", field="application_id")
        return found

    def application(self, app_id: str) -> ApplicationRecord:
        """The application ``app_id`` with its checks.

        Raises:
            NotFoundError: no such application.
        """
        with reading(self.engine) as conn:
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
        with reading(self.engine) as conn:
            items, total = self.store.applications(
                conn, status=status, farmer_id=farmer_id, offset=offset, limit=limit
            )
        return Page(items, total, offset, limit)

    def decide(
        self,
        app_id: str,
        decision: str,
        *,
        actor: str,
        reason: str | None = None,
        conn: Connection | None = None,
    ) -> ApplicationRecord:
        """The underwriter's decision; ``approve`` issues the policy in the same transaction.

        The rule is :func:`underwriting.decide`: a decline or a referral needs a
        reason, and so does an approval against the checks' recommendation (the
        reason is on the ledger). An approval re-runs the double-insurance check
        under the named lock :data:`APPROVE_LOCK`, taken first: a plot of the
        application overlapping (above ``min_overlap_m2``) a plot of a policy in
        force in the period, or an animal of it insured by one, refuses the
        approval and nothing is written. Policies issued since the application
        was submitted count, so two pending applications over one field cannot
        both be approved; the database refuses one animal in two policies in
        force at once as well (``policy_animals``).

        Raises:
            NotFoundError: no such application.
            ConflictError: already approved or declined; or, approving, a plot
                (field ``plots``) or an animal (field ``animals``) is insured by
                a policy in force in the period.
            InvalidInputError: an unknown decision, a reason is missing, or
                it holds a control character other than a tab or a line break.
        """
        if reason is not None and reason.strip():
            plain_text(reason, "reason", most=MAX_REASON, note=True)
        with self.ledger.transaction(conn) as conn:
            if decision == "approve":
                lock(conn, APPROVE_LOCK)
            app = self._application(conn, app_id)
            with _refusals():
                to_status = decide(
                    decision,
                    status=app.status,
                    recommendation=app.recommendation,
                    reason=reason,
                )
                if to_status == "approved":
                    self._verify_not_insured(conn, app)
            if not self.store.decide_application(
                conn, app_id, status=to_status, reason=reason, actor=actor
            ):  # decided by a concurrent request since we read it
                raise ConflictError(f"application {app_id} is already decided")
            self.ledger.record(
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
            if to_status == "approved":
                self._issue(conn, app, actor)
            record = self._application(conn, app_id)
        return record

    def _verify_not_insured(self, conn: Connection, app: ApplicationRecord) -> None:
        """Raise DoubleInsuranceError if a policy in force insures a plot or animal of ``app``."""
        rows = self.store.application_plots(conn, app.id)
        overlaps: list[InsuredOverlap] = []
        if rows:
            overlaps = self._insured_overlaps(
                conn,
                app.start_date,
                app.end_date,
                [r.plot_ref for r in rows],
                shapely.from_wkb([r.geometry for r in rows]),
                np.array([r.area_m2 for r in rows], dtype=np.float64),
            )
        held = (
            self._insured_animals(conn, app.animals, app.start_date, app.end_date)
            if app.animals
            else []
        )
        verify_no_double_insurance(
            overlaps,
            held,
            min_overlap_m2=self.overlap_rules.min_overlap_m2,
            min_share=self.overlap_rules.min_share,
        )

    def _issue(self, conn: Connection, app: ApplicationRecord, actor: str) -> str:
        product = self.product(app.product_code, conn)
        if isinstance(product, CropProduct):
            area = self.store.plots_area_m2(conn, app.id)
            split = premium_for(product, Decimal(str(round(float(area), 2))))
            covered: dict[str, Any] = {
                "plots": list(app.plots),
                "area_m2": round(float(area), 2),
            }
        else:
            split = premium_for(product, len(app.animals))
            covered = {"animals": list(app.animals)}
        premium = {
            "total": str(split.total),
            "farmer": str(split.farmer),
            "central": str(split.central),
            "provincial": str(split.provincial),
            "county": str(split.county),
        }
        policy_id = self.store.insert_policy(
            conn, app, sum_insured=split.sum_insured, premium=premium
        )
        if isinstance(product, CropProduct):
            self.store.insure_plots(conn, app.id, policy_id)
        else:
            self.store.insure_animals(conn, policy_id, app)
        self.ledger.record(
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

    def policy(self, policy_id: str, conn: Connection | None = None) -> PolicyRecord:
        """The policy ``policy_id``.

        Raises:
            NotFoundError: no such policy.
        """
        with reading(self.engine, conn) as c:
            found = self.store.policy(c, policy_id)
        if found is None:
            raise NotFoundError(f"no policy {policy_id}", field="policy_id")
        return found

    def policies(
        self, *, farmer_id: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page:
        """Policies, newest first, optionally of one farmer."""
        with reading(self.engine) as conn:
            items, total = self.store.policies(
                conn, farmer_id=farmer_id, offset=offset, limit=limit
            )
        return Page(items, total, offset, limit)
