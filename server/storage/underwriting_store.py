"""The SQL of underwriting: farmers and products, enrolment attempts, applications and policies.

Two stores, one per record family: :class:`FarmerStore` (farmers, products)
and :class:`PolicyStore` (enrolment attempts as underwriting reads them,
applications with their plots, policies with the animals and plots they
insure). Every method runs on the caller's connection, inside the caller's
unit of work; none commits. Uniqueness is the database's: a taken farmer id or
product code, and an animal insured by two policies in force at once (the
``policy_animals`` trigger), raise :class:`ConflictError` naming the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, true, update

from server.errors import ConflictError
from server.storage.claims_store import checks_from_json, checks_json
from server.storage.paging import grouped, page_rows
from server.storage.schema import (
    animals,
    applications,
    enrolments,
    farmers,
    plots,
    policies,
    policy_animals,
    products,
)
from server.storage.unique import insert_or_conflict
from underwriting import (
    DECIDABLE,
    Check,
    Money,
    Product,
    product_from_dict,
    product_to_dict,
)

__all__ = [
    "ApplicationRecord",
    "EnrolmentAttempt",
    "FarmerRecord",
    "FarmerStore",
    "HeldAnimal",
    "PlotRow",
    "PolicyRecord",
    "PolicyStore",
]


def _now() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class EnrolmentAttempt:
    """An animal's latest enrolment attempt: its outcome and the animal it matched."""

    status: str
    match_tag: str | None
    match_farm: str | None


@dataclass(frozen=True)
class HeldAnimal:
    """An animal a policy insures, and that policy's period (both ends inclusive)."""

    tag: str
    policy_id: str
    start_date: date
    end_date: date


@dataclass(frozen=True)
class PlotRow:
    """A stored plot of an application: its id in the file, WKB geometry (WGS84), area in m2."""

    plot_ref: str
    geometry: bytes
    area_m2: float


def _farmer(row: Any) -> FarmerRecord:
    return FarmerRecord(row.id, row.name, row.region, row.lat, row.lon)


class FarmerStore:
    """Farmers and products."""

    def insert_farmer(self, conn: Connection, farmer: FarmerRecord) -> None:
        """Store a farmer.

        Raises:
            ConflictError: the id is taken (field ``farmer_id``).
        """
        insert_or_conflict(
            conn,
            insert(farmers).values(
                id=farmer.id,
                name=farmer.name,
                region=farmer.region,
                lat=farmer.lat,
                lon=farmer.lon,
                created_at=_now(),
            ),
            ConflictError(f"farmer {farmer.id} exists", field="farmer_id"),
        )

    def farmer(self, conn: Connection, farmer_id: str) -> FarmerRecord | None:
        """The farmer ``farmer_id``, or None."""
        row = conn.execute(select(farmers).where(farmers.c.id == farmer_id)).first()
        return _farmer(row) if row is not None else None

    def farmers(
        self, conn: Connection, offset: int, limit: int
    ) -> tuple[list[FarmerRecord], int]:
        """Farmers in id order: one page and the total."""
        rows, total = page_rows(conn, farmers, true(), [farmers.c.id], offset, limit)
        return [_farmer(r) for r in rows], total

    def insert_product(self, conn: Connection, product: Product) -> dict[str, Any]:
        """Store a product; returns its terms as stored.

        Raises:
            ConflictError: the code is taken (field ``code``).
        """
        terms = product_to_dict(product)
        insert_or_conflict(
            conn,
            insert(products).values(
                code=product.code,
                kind=terms["kind"],
                terms=json.dumps(terms),
                created_at=_now(),
            ),
            ConflictError(f"product {product.code} exists", field="code"),
        )
        return terms

    def product(self, conn: Connection, code: str) -> Product | None:
        """The product ``code``, or None."""
        terms = conn.execute(
            select(products.c.terms).where(products.c.code == code)
        ).scalar()
        return product_from_dict(json.loads(terms)) if terms is not None else None

    def products(self, conn: Connection) -> list[Product]:
        """Every product, by code."""
        rows = conn.execute(select(products.c.terms).order_by(products.c.code)).all()
        return [product_from_dict(json.loads(r.terms)) for r in rows]


# Built once (a statement and its cache key cost more to build than SQLite takes
# to run them): the queries of a farmer's status read.
_FARMER_POLICIES = (
    select(policies)
    .where(policies.c.farmer_id == bindparam("farmer_id"))
    .order_by(policies.c.created_at.desc(), policies.c.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_FARMER_POLICY_COUNT = (
    select(func.count())
    .select_from(policies)
    .where(policies.c.farmer_id == bindparam("farmer_id"))
)
_POLICY_TAGS = (
    select(policy_animals.c.policy_id, policy_animals.c.tag)
    .where(policy_animals.c.policy_id.in_(bindparam("ids", expanding=True)))
    .order_by(policy_animals.c.tag)
)
_POLICY_PLOTS = (
    select(plots.c.policy_id, plots.c.plot_ref)
    .where(plots.c.policy_id.in_(bindparam("ids", expanding=True)))
    .order_by(plots.c.plot_ref)
)


class PolicyStore:
    """Enrolment attempts, applications with their plots, policies with what they insure."""

    # --- enrolment, as underwriting reads and records it ------------------------------

    def insert_enrolment(
        self,
        conn: Connection,
        *,
        tag: str,
        farmer_id: str,
        status: str,
        match: tuple[str, str] | None,
        score: float | None,
        detail: dict[str, Any],
    ) -> None:
        """Record an enrolment attempt (``match``: the matched animal's tag and farm)."""
        conn.execute(
            insert(enrolments).values(
                tag=tag,
                farmer_id=farmer_id,
                status=status,
                match_tag=match[0] if match else None,
                match_farm=match[1] if match else None,
                score=score,
                detail=json.dumps(detail),
                created_at=_now(),
            )
        )

    def latest_enrolment(self, conn: Connection, tag: str) -> EnrolmentAttempt | None:
        """The latest enrolment attempt of ``tag``, or None if it was never presented."""
        row = conn.execute(
            select(enrolments)
            .where(enrolments.c.tag == tag)
            .order_by(enrolments.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return EnrolmentAttempt(row.status, row.match_tag, row.match_farm)

    def animal_farm(self, conn: Connection, tag: str) -> str | None:
        """The farm an animal is enrolled to, or None if it is not stored."""
        farm: str | None = conn.execute(
            select(animals.c.farm).where(animals.c.tag == tag)
        ).scalar()
        return farm

    def herd(self, conn: Connection, farmer_id: str) -> list[str]:
        """The tags of every animal enrolled to ``farmer_id``."""
        return list(
            conn.execute(
                select(animals.c.tag).where(animals.c.farm == farmer_id)
            ).scalars()
        )

    def held(self, conn: Connection, tags: Sequence[str]) -> list[HeldAnimal]:
        """Every policy period that insures one of ``tags``, by tag and start."""
        rows = conn.execute(
            select(policy_animals)
            .where(policy_animals.c.tag.in_(list(tags)))
            .order_by(policy_animals.c.tag, policy_animals.c.start_date)
        ).all()
        return [HeldAnimal(r.tag, r.policy_id, r.start_date, r.end_date) for r in rows]

    # --- applications ----------------------------------------------------------------

    def insert_application(
        self,
        conn: Connection,
        *,
        farmer_id: str,
        product_code: str,
        kind: str,
        start: date,
        end: date,
        light: str,
        recommendation: str,
        checks: Sequence[Check],
        tags: Sequence[str],
    ) -> str:
        """Store a submitted application with its checks; returns its id."""
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
                light=light,
                recommendation=recommendation,
                checks=checks_json(checks),
                animals=json.dumps(list(tags)),
                created_at=now,
                updated_at=now,
            )
        )
        return app_id

    def insert_plots(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Store an application's plots (one dict of ``plots`` columns each)."""
        if rows:
            conn.execute(insert(plots), list(rows))

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
                checks_from_json(row.checks),
                tuple(json.loads(row.animals)),
                tuple(refs.get(row.id, ())),
                row.reason,
                row.decided_by,
                row.policy_id,
            )
            for row in rows
        ]

    def application(self, conn: Connection, app_id: str) -> ApplicationRecord | None:
        """The application ``app_id`` with its checks, or None."""
        row = conn.execute(
            select(applications).where(applications.c.id == app_id)
        ).first()
        return self._applications(conn, [row])[0] if row is not None else None

    def applications(
        self,
        conn: Connection,
        *,
        status: str | None,
        farmer_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[ApplicationRecord], int]:
        """Applications, newest first, optionally by status or farmer: a page and the total."""
        where = []
        if status:
            where.append(applications.c.status == status)
        if farmer_id is not None:
            where.append(applications.c.farmer_id == farmer_id)
        cond = and_(*where) if where else true()
        order = [applications.c.created_at.desc(), applications.c.id]
        rows, total = page_rows(conn, applications, cond, order, offset, limit)
        return self._applications(conn, rows), total

    def decide_application(
        self,
        conn: Connection,
        app_id: str,
        *,
        status: str,
        reason: str | None,
        actor: str,
    ) -> bool:
        """Move an application still decidable to ``status``; False if it was decided meanwhile."""
        changed: int = conn.execute(
            update(applications)
            .where(applications.c.id == app_id, applications.c.status.in_(DECIDABLE))
            .values(status=status, reason=reason, decided_by=actor, updated_at=_now())
        ).rowcount
        return changed > 0

    def application_plots(self, conn: Connection, app_id: str) -> list[PlotRow]:
        """The stored plots of an application, by plot id."""
        rows = conn.execute(
            select(plots.c.plot_ref, plots.c.geometry, plots.c.area_m2)
            .where(plots.c.application_id == app_id)
            .order_by(plots.c.plot_ref)
        ).all()
        return [PlotRow(r.plot_ref, bytes(r.geometry), float(r.area_m2)) for r in rows]

    def plots_area_m2(self, conn: Connection, app_id: str) -> float:
        """The sum of an application's plot areas, in m2."""
        return float(
            conn.execute(
                select(func.coalesce(func.sum(plots.c.area_m2), 0.0)).where(
                    plots.c.application_id == app_id
                )
            ).scalar_one()
        )

    # --- policies --------------------------------------------------------------------

    def insert_policy(
        self,
        conn: Connection,
        app: ApplicationRecord,
        *,
        sum_insured: Money,
        premium: dict[str, str],
    ) -> str:
        """Store the policy an approved application issues, and link the application to it."""
        policy_id = str(uuid.uuid4())
        conn.execute(
            insert(policies).values(
                id=policy_id,
                farmer_id=app.farmer_id,
                product_code=app.product_code,
                application_id=app.id,
                kind=app.kind,
                start_date=app.start_date,
                end_date=app.end_date,
                sum_insured_minor=sum_insured.minor,
                premium=json.dumps(premium),
                currency=sum_insured.currency,
                created_at=_now(),
            )
        )
        conn.execute(
            update(applications)
            .where(applications.c.id == app.id)
            .values(policy_id=policy_id)
        )
        return policy_id

    def insure_plots(self, conn: Connection, app_id: str, policy_id: str) -> None:
        """The application's plots become the policy's."""
        conn.execute(
            update(plots)
            .where(plots.c.application_id == app_id)
            .values(policy_id=policy_id)
        )

    def insure_animals(
        self, conn: Connection, policy_id: str, app: ApplicationRecord
    ) -> None:
        """Record the animals ``policy_id`` insures; the database refuses one insured twice.

        ``policy_animals`` is the one record of cover (``PolicyRecord.animals``).

        Raises:
            ConflictError: an animal is insured by another policy in force in the
                period (the ``policy_animals`` trigger; field ``animals``).
        """
        for tag in sorted(app.animals):  # one order for every writer: no deadlock
            insert_or_conflict(
                conn,
                insert(policy_animals).values(
                    policy_id=policy_id,
                    tag=tag,
                    start_date=app.start_date,
                    end_date=app.end_date,
                ),
                ConflictError(
                    f"animal {tag} is insured by another policy in force between "
                    f"{app.start_date} and {app.end_date}",
                    field="animals",
                ),
            )

    def _policies(self, conn: Connection, rows: Sequence[Any]) -> list[PolicyRecord]:
        """Records for policy rows, their animals and plots fetched in one query each."""
        ids = {"ids": [r.id for r in rows]}
        tags = grouped(conn, _POLICY_TAGS, ids)
        refs = grouped(conn, _POLICY_PLOTS, ids)
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

    def policy(self, conn: Connection, policy_id: str) -> PolicyRecord | None:
        """The policy ``policy_id``, or None."""
        row = conn.execute(select(policies).where(policies.c.id == policy_id)).first()
        return self._policies(conn, [row])[0] if row is not None else None

    def policies(
        self, conn: Connection, *, farmer_id: str | None, offset: int, limit: int
    ) -> tuple[list[PolicyRecord], int]:
        """Policies, newest first, optionally of one farmer: a page and the total."""
        if farmer_id is None:
            order = [policies.c.created_at.desc(), policies.c.id]
            rows, total = page_rows(conn, policies, true(), order, offset, limit)
            return self._policies(conn, rows), total
        # A farmer's status read, the most frequent request: prebuilt statements.
        found = conn.execute(
            _FARMER_POLICIES,
            {"farmer_id": farmer_id, "offset": offset, "limit": limit},
        ).all()
        if offset == 0 and len(found) < limit:
            total = len(found)  # the whole list fits on the first page
        else:
            total = conn.execute(
                _FARMER_POLICY_COUNT, {"farmer_id": farmer_id}
            ).scalar_one()
        return self._policies(conn, found), int(total)
