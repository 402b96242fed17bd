"""Claims in the database: intake with its checks, photo evidence, damage by map.

Intake checks what the claim itself says (notice, cover and waiting period,
the subject covered, earlier claims, claimed area). Photo evidence adds the
face-ID checks (1:1 against the claimed tag, 1:N against everyone), reuse of
earlier photos (perceptual hash over enrolment photos and all earlier claim
evidence), GPS distance and capture time. A crop claim is assessed on
imagery (damaged and clear fractions, then the indemnity). Each step
replaces the checks it owns, recomputes the traffic light, and appends its
ledger event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import shapely
from sqlalchemy import Connection, and_, insert, select, true

from claims.checks import (
    check_capture_time,
    check_claimed_area,
    check_cover,
    check_earlier_claims,
    check_identity,
    check_measured_damage,
    check_notice,
    check_photo_location,
    check_photo_reuse,
)
from claims.errors import IndemnityError
from claims.indemnity import crop_indemnity, livestock_indemnity
from livestock import Photo, Registry
from livestock.quality import hamming
from remote_sensing import (
    DamageAssessment,
    DamageOptions,
    ImageSpec,
    RemoteSensingError,
    assess_damage,
    plots_from_geometries,
)
from server.storage.claims_store import ClaimRecord, ClaimStore
from server.storage.schema import animals, claims, evidence, plots
from server.errors import InvalidInputError
from server.services.ledger import LedgerService
from server.storage.paging import Page
from server.services.underwriting import UnderwritingService
from underwriting.checks import Check, Light
from underwriting.money import Money
from underwriting.products import CropProduct, LivestockProduct

__all__ = ["ClaimRecord", "ClaimRules", "ClaimsService", "EvidencePhoto"]

_ORDER: dict[Light, int] = {"green": 0, "amber": 1, "red": 2}


@dataclass(frozen=True)
class ClaimRules:
    """The insurer's claim rules.

    Attributes:
        notice_days: a loss must be reported within this many days.
        max_photo_km: photos must be taken within this distance of the farm or plot.
        same_event_days: two claims on one plot within this many days are one event.
        hash_distance: pHash Hamming distance at or below which a photo is reused.
    """

    notice_days: int = 14
    max_photo_km: float = 5.0
    same_event_days: int = 30
    hash_distance: int = 6


@dataclass(frozen=True)
class EvidencePhoto:
    """A claim photo with what the phone recorded: capture time (UTC) and GPS (degrees)."""

    photo: Photo
    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def _worst(code: str, checks: Sequence[tuple[str, Check]]) -> Check:
    """One check from per-photo checks: the worst light, reasons of the worst named."""
    light = max((c.light for _, c in checks), key=lambda x: _ORDER[x])
    reasons = [f"{name}: {c.reason}" for name, c in checks if c.light == light]
    return Check(code, light, "; ".join(reasons))


def _replace(
    old: Sequence[Check], new: Sequence[Check], resolves: str | None = None
) -> list[Check]:
    """``old`` with ``new``'s checks replaced or added, and the placeholder ``resolves`` dropped."""
    drop = {c.code for c in new} | {resolves}
    return [c for c in old if c.code not in drop] + list(new)


class ClaimsService:
    """File claims, add photo evidence, assess crop damage by map; decide and pay."""

    def __init__(
        self,
        ledger: LedgerService,
        underwriting: UnderwritingService,
        registry: Callable[[], Registry],
        rules: ClaimRules | None = None,
    ) -> None:
        """Wire the service over the ledger's database and the underwriting records."""
        self.ledger = ledger
        self.engine = ledger.store.engine
        self.uw = underwriting
        self._registry = registry
        self.rules = rules or ClaimRules()
        self.store = ClaimStore(ledger)

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's connection (it sees its own transaction), or a read-only one."""
        if conn is not None:
            yield conn
            return
        with self.engine.connect().execution_options(readonly=True) as own:
            yield own

    # --- intake ----------------------------------------------------------------------

    def file(
        self,
        *,
        policy_id: str,
        farmer_id: str,
        subject_kind: Literal["animal", "plot"],
        subject_id: str,
        event_date: date,
        actor: str,
        reported_at: datetime | None = None,
        market_value: Money | None = None,
        claimed_fraction: float | None = None,
        loss_degree: Decimal = Decimal(1),
        growth_stage: str | None = None,
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """File a claim and run the intake checks.

        Args:
            policy_id: the policy claimed on.
            farmer_id: whose it is (must be the policy holder).
            subject_kind: ``animal`` or ``plot``.
            subject_id: an animal's tag, or a plot's id in the policy.
            event_date: the day of the loss.
            reported_at: when it was reported (default now; a replay passes its clock).
            market_value: livestock: the declared market value of the animal.
            claimed_fraction: crops: the share of the plot the farmer says was lost.
            loss_degree: crops: the degree of loss on the damaged area (0-1).
            growth_stage: crops: the stage at the loss (its cap applies).
            actor: who files it (for the ledger).
            conn: a connection whose transaction to write in (idempotent requests).

        Raises:
            NotFoundError: unknown policy.
            InvalidInputError: the policy is another farmer's, the event lies in
                the future, the subject does not fit the policy, an unknown tag or
                plot, or a missing market value / claimed fraction.
        """
        reported_at = reported_at or datetime.now(UTC)
        if event_date > reported_at.date():
            raise InvalidInputError("event_date is in the future", field="event_date")
        policy = self.uw.policy(policy_id, conn)
        if policy.farmer_id != farmer_id:
            raise InvalidInputError(
                f"policy {policy_id} is not a policy of farmer {farmer_id}",
                field="policy_id",
            )
        product = self.uw.product(policy.product_code, conn)
        checks = [
            check_notice(event_date, reported_at, self.rules.notice_days),
        ]
        waiting = product.waiting_days if isinstance(product, LivestockProduct) else 0
        checks.append(
            check_cover(event_date, policy.start_date, policy.end_date, waiting)
        )
        claimed: dict[str, Any] = {}
        with self._reading(conn) as read:
            if subject_kind == "animal":
                if not isinstance(product, LivestockProduct):
                    raise InvalidInputError(
                        f"policy {policy_id} insures crops, not animals",
                        field="subject_kind",
                    )
                if market_value is None:
                    raise InvalidInputError(
                        "a livestock claim needs the animal's market value",
                        field="market_value",
                    )
                animal = read.execute(
                    select(animals).where(animals.c.tag == subject_id)
                ).first()
                if animal is None:
                    raise InvalidInputError(
                        f"no animal is enrolled under tag {subject_id}",
                        field="subject_id",
                    )
                checks.append(
                    Check(
                        "covered",
                        "green",
                        f"animal {subject_id} is insured by this policy",
                    )
                    if animal.policy == policy_id
                    else Check(
                        "covered",
                        "red",
                        f"animal {subject_id} is not insured by this policy",
                    )
                )
                earlier = read.execute(
                    select(claims.c.id, claims.c.status).where(
                        claims.c.subject_kind == "animal",
                        claims.c.subject_id == subject_id,
                        claims.c.status != "rejected",
                    )
                ).all()
                checks.append(
                    check_earlier_claims(
                        f"claim {r.id[:8]} ({r.status})" for r in earlier
                    )
                )
                checks.append(
                    Check("evidence", "amber", "awaiting photos of the animal")
                )
                indemnity = livestock_indemnity(product, market_value=market_value)
                amount, lines = indemnity.amount, indemnity.lines
                claimed = {
                    "market_value": str(market_value),
                    "currency": market_value.currency,
                }
            elif subject_kind == "plot":
                if not isinstance(product, CropProduct):
                    raise InvalidInputError(
                        f"policy {policy_id} insures animals, not plots",
                        field="subject_kind",
                    )
                if claimed_fraction is None or not 0 < claimed_fraction <= 1:
                    raise InvalidInputError(
                        "a crop claim needs the claimed damaged fraction, in (0, 1]",
                        field="claimed_fraction",
                    )
                if not Decimal(0) < loss_degree <= Decimal(1):
                    raise InvalidInputError(
                        "loss_degree must be in (0, 1]", field="loss_degree"
                    )
                if (
                    growth_stage is not None
                    and growth_stage not in product.growth_stage_caps
                ):
                    raise InvalidInputError(
                        f"growth stage {growth_stage!r} is not one of "
                        f"{', '.join(sorted(product.growth_stage_caps)) or 'the product'}",
                        field="growth_stage",
                    )
                plot = read.execute(
                    select(plots.c.area_m2).where(
                        plots.c.policy_id == policy_id, plots.c.plot_ref == subject_id
                    )
                ).first()
                if plot is None:
                    raise InvalidInputError(
                        f"plot {subject_id} is not in policy {policy_id}",
                        field="subject_id",
                    )
                checks.append(
                    Check("covered", "green", f"plot {subject_id} is insured")
                )
                window = timedelta(days=self.rules.same_event_days)
                same_plot = read.execute(
                    select(claims.c.id, claims.c.event_date, claims.c.status).where(
                        claims.c.subject_kind == "plot",
                        claims.c.policy_id == policy_id,
                        claims.c.subject_id == subject_id,
                        claims.c.status != "rejected",
                    )
                ).all()
                checks.append(
                    check_earlier_claims(
                        f"claim {r.id[:8]} of {r.event_date.date()}"
                        for r in same_plot
                        if abs(r.event_date.date() - event_date) <= window
                    )
                )
                checks.append(
                    check_claimed_area(
                        claimed_fraction * float(plot.area_m2), float(plot.area_m2)
                    )
                )
                checks.append(
                    Check(
                        "measured_damage",
                        "amber",
                        "awaiting the damage measured on imagery",
                    )
                )
                amount = Money.zero(policy.sum_insured.currency)
                lines = (("indemnity", "after the assessment by map"),)
                claimed = {
                    "damaged_fraction": claimed_fraction,
                    "loss_degree": str(loss_degree),
                    "growth_stage": growth_stage,
                }
            else:
                raise InvalidInputError(
                    "subject_kind must be animal or plot", field="subject_kind"
                )
        return self.store.file(
            policy_id=policy_id,
            farmer_id=farmer_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            event_date=datetime.combine(event_date, time(), UTC),
            amount=amount,
            actor=actor,
            conn=conn,
            reported_at=reported_at,
            claimed=claimed,
            checks=checks,
            indemnity=lines,
        )

    # --- photo evidence --------------------------------------------------------------

    def add_evidence(
        self,
        claim_id: str,
        photos: Sequence[EvidencePhoto],
        *,
        actor: str,
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """Check the photos of an animal claim and keep their hashes as evidence.

        Raises:
            NotFoundError: no such claim.
            InvalidInputError: not an animal claim, or no photos.
            ImageError: a photo is unreadable or fails the quality gate (named).
            ConflictError: the claim is already decided.
        """
        claim = self.store.get(claim_id, conn)
        if claim.subject_kind != "animal":
            raise InvalidInputError(
                "photo evidence is checked on animal claims", field="claim_id"
            )
        if not photos:
            raise InvalidInputError("send at least one photo", field="photos")
        registry = self._registry()
        exam = registry.examine(claim.subject_id, [p.photo for p in photos])
        checks: list[Check] = []
        if exam.claimed is None:  # pragma: no cover - intake refuses unknown tags
            checks.append(
                Check("identity", "red", f"{claim.subject_id} is not enrolled")
            )
        else:
            best = next((m for m in exam.candidates if m.tag != claim.subject_id), None)
            checks.append(
                check_identity(
                    claim.subject_id,
                    exam.claimed.score,
                    best.tag if best else None,
                    best.score if best else -1.0,
                    bool(best and best.farm != claim.farmer_id),
                    registry.review_threshold,
                    registry.match_threshold,
                )
            )
        reused = [(r.photo, f"the enrolment of {r.tag}") for r in exam.reused]
        with self._reading(conn) as read:
            earlier = read.execute(select(evidence.c.claim_id, evidence.c.phash)).all()
            farmer = self.uw.farmer(claim.farmer_id, read)
        if earlier:
            hashes = np.array([int(r.phash, 16) for r in earlier], dtype=np.uint64)
            for a in exam.analyses:
                d = hamming(a.phash, hashes)
                i = int(np.argmin(d))
                if d[i] <= self.rules.hash_distance:
                    reused.append((a.name, f"claim {earlier[i].claim_id[:8]}"))
        checks.append(check_photo_reuse(reused))
        loss = datetime.combine(claim.event_date or date.min, time(), UTC)
        if farmer.lat is not None and farmer.lon is not None:
            site = (farmer.lat, farmer.lon)
            checks.append(
                _worst(
                    "photo_location",
                    [
                        (
                            p.photo.name,
                            check_photo_location(
                                (p.lat, p.lon)
                                if p.lat is not None and p.lon is not None
                                else None,
                                site,
                                self.rules.max_photo_km,
                            ),
                        )
                        for p in photos
                    ],
                )
            )
        else:
            checks.append(
                Check("photo_location", "amber", "the farm has no recorded position")
            )
        checks.append(
            _worst(
                "capture_time",
                [
                    (p.photo.name, check_capture_time(p.captured_at, loss))
                    for p in photos
                ],
            )
        )
        new_checks = _replace(claim.checks, checks, resolves="evidence")
        now = datetime.now(UTC)
        rows = [
            {
                "claim_id": claim_id,
                "name": p.photo.name[:255],
                "phash": f"{a.phash:016x}",
                "captured_at": p.captured_at,
                "lat": p.lat,
                "lon": p.lon,
                "created_at": now,
            }
            for p, a in zip(photos, exam.analyses, strict=True)
        ]

        with self.ledger.transaction(conn) as c:
            c.execute(insert(evidence), rows)
            return self.store.reassess(
                claim_id,
                checks=new_checks,
                amount=claim.amount,
                indemnity=claim.indemnity,
                actor=actor,
                event="claim.evidence_checked",
                payload={
                    "photos": [r["phash"] for r in rows],
                    "best_match": exam.candidates[0].tag if exam.candidates else None,
                },
                conn=c,
            )

    # --- damage by map ---------------------------------------------------------------

    def assess_by_map(
        self,
        claim_id: str,
        before: ImageSpec,
        after: ImageSpec,
        *,
        actor: str,
        options: DamageOptions | None = None,
        conn: Connection | None = None,
    ) -> tuple[ClaimRecord, DamageAssessment]:
        """Measure the damage of a crop claim's plot on a before/after pair; set the indemnity.

        Raises:
            NotFoundError: no such claim.
            InvalidInputError: not a crop claim, or the imagery cannot be read.
            ConflictError: the claim is already decided.
        """
        claim = self.store.get(claim_id, conn)
        if claim.subject_kind != "plot":
            raise InvalidInputError(
                "only crop claims are assessed by map", field="claim_id"
            )
        policy = self.uw.policy(claim.policy_id, conn)
        product = self.uw.product(policy.product_code, conn)
        assert isinstance(product, CropProduct)
        with self._reading(conn) as read:
            row = read.execute(
                select(plots.c.geometry, plots.c.area_m2).where(
                    plots.c.policy_id == claim.policy_id,
                    plots.c.plot_ref == claim.subject_id,
                )
            ).one()
        plot_set = plots_from_geometries(
            [shapely.from_wkb(row.geometry)],
            4326,
            ids=[claim.subject_id],
            source="policy",
        )
        try:
            (result,) = assess_damage(plot_set, before, after, options)
        except RemoteSensingError as exc:
            raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc
        claimed_fraction = float(claim.claimed.get("damaged_fraction", 0.0))
        check = check_measured_damage(
            result.status,
            result.damaged_fraction,
            result.clear_fraction,
            claimed_fraction,
        )
        amount = Money.zero(policy.sum_insured.currency)
        lines: tuple[tuple[str, str], ...] = (
            ("indemnity", f"none: the imagery gave no measurement ({result.status})"),
        )
        if result.status == "assessed":
            # Pay what is both claimed and measured: never more than either.
            damaged = min(result.damaged_fraction, claimed_fraction) * float(
                row.area_m2
            )
            try:
                indemnity = crop_indemnity(
                    product,
                    damaged_area_m2=Decimal(str(round(damaged, 2))),
                    insured_area_m2=Decimal(str(round(float(row.area_m2), 2))),
                    loss_degree=Decimal(str(claim.claimed.get("loss_degree", "1"))),
                    growth_stage=claim.claimed.get("growth_stage"),
                )
            except IndemnityError as exc:  # pragma: no cover - validated at intake
                raise InvalidInputError(str(exc), field="claim_id") from exc
            amount, lines = indemnity.amount, indemnity.lines
        record = self.store.reassess(
            claim_id,
            checks=_replace(claim.checks, [check]),
            amount=amount,
            indemnity=lines,
            actor=actor,
            event="claim.assessed",
            payload={
                "before": before.path.name,
                "after": after.path.name,
                **{k: v for k, v in result.to_properties().items() if k != "plot_id"},
            },
            conn=conn,
        )
        return record, result

    # --- decisions and lists ---------------------------------------------------------

    def claims(
        self,
        *,
        farmer_id: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Claims, newest first, optionally of one farmer or in one status."""
        where = []
        if farmer_id:
            where.append(claims.c.farmer_id == farmer_id)
        if status:
            where.append(claims.c.status == status)
        return self.store.page(and_(*where) if where else true(), offset, limit)
