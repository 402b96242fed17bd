"""Claims: intake with its checks, photo evidence, damage by map, decisions and payment.

Orchestration only: the rules live in ``claims`` (checks, lifecycle, dates,
indemnities, photo-hash search); the SQL in ``server.storage.claims_store``.
Each step reads what the rules need, calls them, writes the change and
appends its ledger event in one transaction.

Races: intake takes a named lock per subject (``claim:animal:<tag>``,
``claim:plot:<policy>:<ref>``) at the start of its transaction and reads the
earlier claims after it, so two concurrent claims on one animal cannot both
pass ``duplicate_claim``. Evidence computes the face embeddings first, with
no lock held, then takes one named lock per probed pHash band value
(``claim:photo:<band>:<value>``; two near-duplicate photos always probe a
common value, see ``claims.photo_hashes``) and searches the stored hashes
inside the same transaction that stores the new ones. Decisions and payment
lock the claim's row, check the lifecycle rules on it and move it with a
conditional UPDATE.

Limits: the indemnities of one plot never add up past its sum insured, nor a
policy's past the policy's (``claims.limit_indemnity``): an assessment (a
livestock claim's intake, a crop claim's assessment by map) reduces the
indemnity by what was already paid, and payment takes the named lock
``claim:pay:<policy>``, re-reads the paid totals and refuses a payment that
would pass a limit (``claims.check_within_limits``), so two payments at once
cannot both fit in what one of them leaves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import shapely
from sqlalchemy import Connection

from claims import (
    BANDS,
    OPEN,
    Baseline,
    CaptureVerdict,
    Check,
    ClaimedArea,
    ClaimInputError,
    ClaimRules,
    Decision,
    EarlierClaim,
    FourEyesError,
    IdentityEvidence,
    Indemnity,
    IndemnityError,
    Limit,
    LimitError,
    Line,
    LossBeyond,
    NoticeError,
    NoticeStanding,
    PhotoFacts,
    ReasonRequiredError,
    SceneOption,
    SeasonRules,
    TransitionError,
    animal_intake_checks,
    check_capture_signature,
    check_claimed_area,
    check_decision,
    check_measured_damage,
    check_move,
    check_payment,
    check_photo_reuse,
    check_public_notice,
    check_scene_timing,
    check_season_baseline,
    check_within_limits,
    choose_pair,
    claimed_m2,
    crop_indemnity,
    decision_status,
    evidence_checks,
    history_baseline,
    is_future_event,
    limit_indemnity,
    livestock_indemnity,
    local_date,
    loss_beyond,
    near_duplicates,
    on_farm_clock,
    payable_fraction,
    peer_baseline,
    plot_intake_checks,
    probe_sets,
    same_weeks,
    sources,
    validate_crop_claim,
    validate_livestock_claim,
)
from ledger import Event
from livestock import Photo, Registry
from remote_sensing import (
    DamageAssessment,
    DamageOptions,
    ImageSpec,
    RemoteSensingError,
    Scene,
    SceneCatalogue,
    SceneNotFoundError,
    assess_damage,
    damage_polygons,
    plots_from_geometries,
)
from server.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from server.i18n import render_check
from server.services.devices import DeviceService, SignedPhoto
from server.services.enrolment import caught_up
from server.services.ledger import LedgerService
from server.services.maps import (
    NdviStack,
    scene_dates,
    stack_series,
    store_assessment,
)
from server.services.photos import PhotoService
from server.services.underwriting import (
    PolicyRecord,
    UnderwritingService,
    plain_text,
)
from server.services.work import reading
from server.storage.assessment_store import AssessmentStore
from server.storage.claims_store import (
    ClaimRecord,
    ClaimStore,
    EvidenceRow,
    InsuredPlot,
    reason_json,
)
from server.storage.locks import lock
from server.storage.notices_store import NoticeStore
from server.storage.paging import Page
from server.storage.plots_store import insured_plots_meeting
from underwriting import CropProduct, LivestockProduct, Money

__all__ = [
    "EVENT_ID",
    "MAX_PEERS",
    "PEER_RADIUS_DEG",
    "ClaimRecord",
    "ClaimStateError",
    "ClaimsService",
    "CropJob",
    "CropMeasurement",
    "EvidencePhoto",
    "SceneOptions",
    "measure_crop",
]

EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
"""A catastrophe event's id as a claim carries it: 1-64 letters, digits, ``. _ : -``."""

PEER_RADIUS_DEG = 0.2
"""Peers of a plot lie within this many degrees of it (about 15-22 km): one weather, one season."""

MAX_PEERS = 100
"""The nearest this many peers are measured (a request's work stays bounded)."""


@dataclass(frozen=True)
class SceneOptions:
    """The scenes that cover a crop claim's plot, and the pair the rules pick.

    Attributes:
        event: the loss's date (None: unknown, nothing picked).
        scenes: registered scenes with red and NIR bands covering the plot, by date.
        before, after: the names the rules pick (None: no scene on that side).
    """

    event: date | None
    scenes: tuple[Scene, ...]
    before: str | None
    after: str | None


class ClaimStateError(ConflictError):
    """The claim is not in a state that allows the operation (the message says which)."""


@dataclass(frozen=True)
class EvidencePhoto:
    """A claim photo with what the phone recorded: capture time (UTC) and GPS (degrees).

    ``captured_at``/``lat``/``lon`` are what the upload states, or else the
    photo's EXIF. ``signed`` and ``signature`` are the photo's capture
    signature, when the agent's app signed it (``claims.capture``): when its
    verdict is green (taken by the app's camera on an active device) the
    signed time and place replace them; otherwise (picked from the phone's
    files, a device awaiting approval, red) they stay. ``stated_at`` and
    ``stated_place`` are what the upload sent beside a signed message (not
    EXIF): a camera photo's must agree with the signed ones, and a time must
    carry its offset.
    """

    photo: Photo
    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    signed: str | None = None
    signature: str | None = None
    stated_at: datetime | None = None
    stated_place: tuple[float, float] | None = None


def _replace(
    old: Sequence[Check], new: Sequence[Check], resolves: str | None = None
) -> list[Check]:
    """``old`` with ``new``'s checks replaced or added, and the placeholder ``resolves`` dropped."""
    drop = {c.code for c in new} | {resolves}
    return [c for c in old if c.code not in drop] + list(new)


def _flags(checks: Sequence[Check]) -> list[dict[str, Any]]:
    """The checks that did not pass, as the ledger keeps them: code and params, no words."""
    return [c.to_json() for c in checks if c.light != "green"]


def _photo_locks(probes: Sequence[frozenset[int]]) -> list[str]:
    """Lock names of the probed band values (near-duplicates share at least one)."""
    return [f"claim:photo:{i}:{v}" for i in range(BANDS) for v in probes[i]]


_NDVI_BANDS = frozenset({"red", "nir"})


def _measures(scene: Scene, geometry: shapely.Geometry) -> bool:
    """Whether ``scene`` can measure a plot: red and NIR, and a footprint holding it."""
    return _NDVI_BANDS <= set(scene.bands) and bool(
        shapely.box(*scene.bounds).contains(geometry)
    )


@dataclass(frozen=True)
class CropJob:
    """Everything the measurement of one crop claim reads: no database, picklable.

    Attributes:
        claim_id: the claim measured.
        plot_id: the claim's plot ref (the id its result carries).
        plot: the plot's geometry, WKB, WGS84 lon/lat.
        peers: (``policy/ref``, WKB) of its peers (:meth:`ClaimsService._peers`).
        before, after: the pair measured (files read by window: only the
            windows of these plots).
        options: the damage options (threshold: the season rules' pixel one).
        season: the rules that tell a loss from the season.
        taken: the scenes' dates (None: unknown).
        ndvi: the NDVI stack of earlier seasons (the baseline where the peers
            give none), or None.
    """

    claim_id: str
    plot_id: str
    plot: bytes
    peers: tuple[tuple[str, bytes], ...]
    before: ImageSpec
    after: ImageSpec
    options: DamageOptions
    season: SeasonRules
    taken: tuple[date | None, date | None]
    ndvi: NdviStack | None = None


@dataclass(frozen=True)
class CropMeasurement:
    """What a crop claim's write needs from the imagery: every number, picklable.

    Attributes:
        claim_id: the claim measured.
        result: the plot's damage figures (at ``threshold``).
        loss: the drop beyond the season's baseline, or None (no baseline).
        threshold: the NDVI drop counted as damage.
        damage: the damage polygons, GeoJSON features (WGS84).
    """

    claim_id: str
    result: DamageAssessment
    loss: LossBeyond | None
    threshold: float
    damage: tuple[dict[str, Any], ...]


def _history_baseline(
    ndvi: NdviStack | None,
    season: SeasonRules,
    plot_id: str,
    wkb: bytes,
    ndvi_before: float,
    taken: tuple[date | None, date | None],
) -> Baseline | None:
    """The plot's change in the same weeks of earlier seasons (the NDVI stack), or None.

    None without a stack, when it does not cover the plot, when a scene's
    date is unknown, or with too few clear earlier seasons.
    """
    if ndvi is None or taken[0] is None or taken[1] is None:
        return None
    try:
        series = stack_series(ndvi, plot_id, wkb)
    except (RemoteSensingError, OSError):
        return None  # the stack cannot say: the peers' answer (none) stands
    earlier_before, earlier_after = same_weeks(
        [(p.date, p.ndvi, p.clear_fraction) for p in series.points],
        taken[0],
        taken[1],
    )
    return history_baseline(ndvi_before, earlier_before, earlier_after, season)


def measure_crop(job: CropJob) -> CropMeasurement:
    """Measure one crop claim's loss on its pair: the pure half of an assessment.

    The plot and its peers on the pair, the peers' baseline (or the NDVI
    stack's), the damage at the threshold beyond the baseline and its
    polygons. Reads only the windows of the scenes these plots cover; writes
    nothing. The same inputs give the same numbers to the last digit,
    wherever it runs (one process, or a worker of a cluster).

    Raises:
        RemoteSensingError: the imagery cannot be read or measured.
    """
    season = job.season
    options = job.options
    own = shapely.from_wkb(job.plot)
    plot_set = plots_from_geometries(
        [own, *(shapely.from_wkb(g) for _, g in job.peers)],
        4326,
        ids=[job.plot_id, *(ref for ref, _ in job.peers)],
        source="policy",
    )
    own_set = plots_from_geometries([own], 4326, ids=[job.plot_id], source="policy")
    (result, *peer_results) = assess_damage(plot_set, job.before, job.after, options)
    loss: LossBeyond | None = None
    if result.status == "assessed":
        baseline = peer_baseline(
            [
                r.ndvi_after - r.ndvi_before
                for r in peer_results
                if r.status == "assessed"
            ],
            season,
        )
        if baseline is None:
            baseline = _history_baseline(
                job.ndvi, season, job.plot_id, job.plot, result.ndvi_before, job.taken
            )
        if baseline is not None:
            loss = loss_beyond(result.ndvi_after - result.ndvi_before, baseline, season)
    if loss is not None and loss.damage_threshold != options.threshold:
        # Damage is the drop beyond what the season explains (more than the
        # plain threshold after a harvest, less where the peers grew).
        options = replace(options, threshold=loss.damage_threshold)
        (result,) = assess_damage(own_set, job.before, job.after, options)
    # The damage polygons the map shows, stored with the assessment.
    damage = tuple(damage_polygons(own_set, [result], job.before, job.after, options))
    return CropMeasurement(job.claim_id, result, loss, options.threshold, damage)


class ClaimsService:
    """File claims, add photo evidence, assess crop damage by map; decide and pay."""

    def __init__(
        self,
        ledger: LedgerService,
        underwriting: UnderwritingService,
        registry: Callable[[], Registry],
        rules: ClaimRules | None = None,
        devices: DeviceService | None = None,
        photos: PhotoService | None = None,
        ndvi: NdviStack | None = None,
    ) -> None:
        """Wire the service over the ledger's database and the underwriting records.

        ``photos`` keeps the evidence photos' files (None keeps none); ``ndvi``
        is the NDVI stack whose earlier seasons are a plot's baseline where
        its peers give none.
        """
        self.ledger = ledger
        self.photos = photos
        self.devices = devices or DeviceService(ledger)
        self.engine = ledger.store.engine
        self.uw = underwriting
        self._registry = registry
        self.rules = rules or ClaimRules()
        self.store = ClaimStore(self.engine)
        self.ndvi = ndvi

    def _event(
        self,
        conn: Connection,
        kind: str,
        claim: ClaimRecord,
        actor: str,
        **payload: Any,
    ) -> None:
        """Append ``kind`` about ``claim`` in ``conn``'s transaction."""
        event = Event(
            kind,
            {"claim": claim.id, "farmer": claim.farmer_id, "policy": claim.policy_id},
            actor,
            self.ledger.clock(),
            {
                "amount_minor": claim.amount.minor,
                "currency": claim.amount.currency,
                **payload,
            },
        )
        self.ledger.append_events(conn, [event])

    def _reassess(
        self,
        conn: Connection,
        claim: ClaimRecord,
        *,
        checks: Sequence[Check],
        amount: Money,
        indemnity: Sequence[Line],
        actor: str,
        event: str,
        payload: dict[str, Any],
    ) -> ClaimRecord:
        """Write new checks and indemnity of an open claim, with its event."""
        if not self.store.reassess(
            conn,
            claim.id,
            open_statuses=OPEN,
            checks=checks,
            amount=amount,
            indemnity=indemnity,
        ):  # pragma: no cover - the caller holds the row and checked it is open
            raise ClaimStateError(f"claim {claim.id} can no longer be assessed")
        record = self.store.get(claim.id, conn)
        self._event(
            conn,
            event,
            record,
            actor,
            light=record.light,
            checks={c.code: c.light for c in checks},
            flags=_flags(checks),
            **payload,
        )
        return record

    def _limits(
        self,
        conn: Connection,
        policy: PolicyRecord,
        product: CropProduct | LivestockProduct,
        subject: tuple[str, str],
        *,
        plot_area_m2: float | None = None,
        excluding: str | None = None,
    ) -> list[Limit]:
        """The sums insured a claim on ``subject`` may not pass, with what was paid under each.

        A plot's (the product's sum insured for its area, as the indemnity
        reckons it) when ``plot_area_m2`` is given, an animal's (the sum
        insured per head) for a livestock product, and the policy's; what
        was paid is every paid claim's amount but ``excluding``'s.
        """
        currency = policy.sum_insured.currency

        def paid(on: tuple[str, str] | None) -> Money:
            minor = self.store.paid_minor(
                conn, policy.id, subject=on, excluding=excluding
            )
            return Money(minor, currency)

        limits = []
        if plot_area_m2 is not None and isinstance(product, CropProduct):
            area = Decimal(str(round(plot_area_m2, 2)))
            limits.append(Limit("plot", product.sum_insured(area), paid(subject)))
        if isinstance(product, LivestockProduct):  # an animal dies, and is paid, once
            limits.append(Limit("animal", product.sum_insured_per_head, paid(subject)))
        limits.append(Limit("policy", policy.sum_insured, paid(None)))
        return limits

    def _open_for_update(self, conn: Connection, claim_id: str) -> ClaimRecord:
        """The claim, its row locked; refused unless it still awaits a decision.

        Raises:
            ClaimStateError: the claim is already decided.
        """
        claim = self.store.get(claim_id, conn, for_update=True)
        if claim.status not in OPEN:
            raise ClaimStateError(
                f"claim {claim_id} is {claim.status}: it can no longer be assessed"
            )
        return claim

    # --- reads -----------------------------------------------------------------------

    def claim(self, claim_id: str) -> ClaimRecord:
        """The claim ``claim_id``.

        Raises:
            NotFoundError: no such claim.
        """
        return self.store.get(claim_id)

    def claims(
        self,
        *,
        farmer_id: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Claims, newest first, optionally of one farmer or in one status."""
        return self.store.page(
            farmer_id=farmer_id, status=status, offset=offset, limit=limit
        )

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
        claimed_area: ClaimedArea | None = None,
        event_id: str | None = None,
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """File a claim and run the intake checks.

        Args:
            policy_id: the policy claimed on.
            farmer_id: whose it is (must be the policy holder).
            subject_kind: ``animal`` or ``plot``.
            subject_id: an animal's tag, or a plot's id in the policy.
            event_date: the day of the loss, on the farm's calendar.
            reported_at: when it was reported (default now; a replay passes its clock).
            market_value: livestock: the declared market value of the animal.
            claimed_fraction: crops: the share of the plot the farmer says was lost.
            loss_degree: crops: the degree of loss on the damaged area (0-1].
            growth_stage: crops: the stage at the loss (its cap applies); where
                the product has a crop calendar, the calendar's stage instead.
            claimed_area: crops: the area lost in mu or ha, instead of
                ``claimed_fraction``.
            event_id: the catastrophe event the loss belongs to (:data:`EVENT_ID`;
                its claims are assessed together, :mod:`server.services.events`).
            actor: who files it (for the ledger).
            conn: a connection whose transaction to write in (idempotent requests).

        Raises:
            NotFoundError: unknown policy.
            InvalidInputError: the policy is another farmer's, the event lies
                after the farm's date of the report, the subject does not fit
                the policy, an unknown tag or plot, a missing market value /
                claimed fraction, or an event id not of :data:`EVENT_ID`.
        """
        reported_at = reported_at or datetime.now(UTC)
        if event_id is not None and not EVENT_ID.fullmatch(event_id):
            raise InvalidInputError(
                f"event_id {event_id[:80]!r} must be 1-64 letters, digits, '.', '_', "
                "':' or '-', starting with a letter or digit",
                field="event_id",
            )
        if subject_kind not in ("animal", "plot"):
            raise InvalidInputError(
                "subject_kind must be animal or plot", field="subject_kind"
            )
        policy = self.uw.policy(policy_id, conn)
        if policy.farmer_id != farmer_id:
            raise InvalidInputError(
                f"policy {policy_id} is not a policy of farmer {farmer_id}",
                field="policy_id",
            )
        farmer = self.uw.farmer(farmer_id, conn)
        zone = self.rules.zone(farmer.region)
        if is_future_event(event_date, reported_at, zone):
            raise InvalidInputError("event_date is in the future", field="event_date")
        product = self.uw.product(policy.product_code, conn)
        try:
            if subject_kind == "animal":
                validate_livestock_claim(product, market_value)
            else:
                validate_crop_claim(
                    product, claimed_fraction, loss_degree, growth_stage, claimed_area
                )
        except ClaimInputError as exc:
            raise InvalidInputError(str(exc), field=exc.field) from exc
        subject_lock = (
            f"claim:animal:{subject_id}"
            if subject_kind == "animal"
            else f"claim:plot:{policy_id}:{subject_id}"
        )
        period = (policy.start_date, policy.end_date)
        with self.ledger.transaction(conn) as c:
            # The subject's lock first: the earlier claims read below stay true
            # until this claim is written (no duplicate passes the check twice).
            lock(c, subject_lock)
            lines: tuple[Line, ...]
            claimed: dict[str, Any]
            if isinstance(product, LivestockProduct):
                assert market_value is not None  # validated above; narrows for mypy
                if not self.store.is_enrolled(c, subject_id):
                    raise InvalidInputError(
                        f"no animal is enrolled under tag {subject_id}",
                        field="subject_id",
                    )
                checks = animal_intake_checks(
                    self.rules,
                    zone=zone,
                    event=event_date,
                    reported=reported_at,
                    period=period,
                    waiting_days=product.waiting_days,
                    tag=subject_id,
                    insured=policy.animals,
                    earlier=[
                        EarlierClaim(e.id[:8], e.status, e.event_date)
                        for e in self.store.earlier_claims(c, "animal", subject_id)
                    ],
                )
                indemnity = limit_indemnity(
                    livestock_indemnity(product, market_value=market_value),
                    self._limits(c, policy, product, ("animal", subject_id)),
                )
                amount, lines = indemnity.amount, tuple(indemnity.lines)
                claimed = {
                    "market_value": str(market_value),
                    "currency": market_value.currency,
                }
            else:
                assert isinstance(product, CropProduct)  # validated above; for mypy
                plot = self.store.insured_plot(c, policy_id, subject_id)
                if plot is None:
                    raise InvalidInputError(
                        f"plot {subject_id} is not in policy {policy_id}",
                        field="subject_id",
                    )
                earlier = self.store.earlier_claims(
                    c, "plot", subject_id, policy_id=policy_id
                )
                area_m2 = claimed_m2(claimed_fraction, claimed_area, plot.area_m2)
                # The crop's calendar gives the stage of the loss (its cap), not the form.
                calendar = product.calendar(farmer.region)
                stage = growth_stage
                if calendar is not None:
                    by_calendar = calendar.stage(event_date)
                    stage = (
                        by_calendar
                        if by_calendar in product.growth_stage_caps
                        else None
                    )
                checks = plot_intake_checks(
                    self.rules,
                    zone=zone,
                    event=event_date,
                    reported=reported_at,
                    period=period,
                    plot_id=subject_id,
                    insured=policy.plots,
                    earlier=[
                        EarlierClaim(e.id[:8], e.status, e.event_date) for e in earlier
                    ],
                    claimed_m2=area_m2,
                    plot_area_m2=plot.area_m2,
                    calendar=calendar,
                )
                amount = Money.zero(policy.sum_insured.currency)
                lines = (Line("indemnity.pending", ""),)
                claimed = {
                    "damaged_fraction": min(1.0, area_m2 / plot.area_m2),
                    "claimed_area_m2": round(area_m2, 2),
                    "loss_degree": str(loss_degree),
                    "growth_stage": stage,
                }
                if claimed_area is not None:
                    claimed |= {
                        "claimed_area": str(claimed_area.value),
                        "claimed_unit": claimed_area.unit,
                    }
            record = self.store.insert(
                c,
                policy_id=policy_id,
                farmer_id=farmer_id,
                subject_kind=subject_kind,
                subject_id=subject_id,
                event_date=event_date,
                amount=amount,
                reported_at=reported_at,
                claimed=claimed,
                checks=checks,
                indemnity=lines,
                event_id=event_id,
            )
            self._event(
                c,
                "claim.filed",
                record,
                actor,
                subject={subject_kind: subject_id},
                event_date=event_date.isoformat(),
                claimed=claimed,
                light=record.light,
                checks={x.code: x.light for x in checks},
                flags=_flags(checks),
                **({"event": event_id} if event_id is not None else {}),
            )
        return record

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

        The face embeddings are computed before any lock is taken; the reuse
        search over earlier claims' evidence and the insert of the new hashes
        run in one transaction under the hashes' locks. Photos already stored
        for this same claim (a photo sent twice) are not reuse.

        Each photo's capture signature is judged (``claims.capture``; the
        devices are read in the caller's transaction when one is given, and
        re-read under a share lock in the storing transaction): a green
        photo's signed time and place replace the photo's, and the verdict,
        device, message and signature are stored with the evidence and in the
        ``claim.evidence_checked`` event. The claim gets ``capture_signature``
        once any of its photos is signed or was sent by an agent who has a
        registered device.

        Raises:
            NotFoundError: no such claim.
            InvalidInputError: not an animal claim, or no photos.
            ImageError: a photo is unreadable or fails the quality gate (named).
            ConflictError: the claim is already decided, or a signing device
                was revoked while the photos were checked.
        """
        claim = self.store.get(claim_id, conn)
        if claim.subject_kind != "animal":
            raise InvalidInputError(
                "photo evidence is checked on animal claims", field="claim_id"
            )
        if not photos:
            raise InvalidInputError("send at least one photo", field="photos")
        if claim.status not in OPEN:
            raise ClaimStateError(
                f"claim {claim_id} is {claim.status}: it can no longer be assessed"
            )
        # The 1:N search covers what other processes enrolled since this one indexed.
        registry = caught_up(self._registry())
        exam = registry.examine(claim.subject_id, [p.photo for p in photos])
        best = next((m for m in exam.candidates if m.tag != claim.subject_id), None)
        basis = exam.claimed.basis if exam.claimed else "photo"
        identity = IdentityEvidence(
            claim.subject_id,
            exam.claimed.score if exam.claimed else None,  # None: intake refuses it
            (best.tag, best.score, best.farm != claim.farmer_id) if best else None,
            registry.thresholds[basis],
            basis,
        )
        farmer = self.uw.farmer(claim.farmer_id, conn)
        zone = self.rules.zone(farmer.region)
        # A capture time without an offset is the farm's wall clock.
        photos = [
            replace(p, captured_at=on_farm_clock(p.captured_at, zone))
            if p.captured_at is not None
            else p
            for p in photos
        ]
        photos, verdicts = self._signatures(photos, actor, conn)
        checks = evidence_checks(
            self.rules,
            identity=identity,
            photos=[
                PhotoFacts(
                    p.photo.name,
                    p.captured_at,
                    (p.lat, p.lon) if p.lat is not None and p.lon is not None else None,
                )
                for p in photos
            ],
            site=(farmer.lat, farmer.lon)
            if farmer.lat is not None and farmer.lon is not None
            else None,
            loss_day=claim.event_date or date.min,
            zone=zone,
        )
        rows = [
            EvidenceRow(
                p.photo.name,
                a.phash,
                p.captured_at,
                p.lat,
                p.lon,
                # An unsigned photo of a sender without a device has no light:
                # it does not by itself bring the claim a capture_signature.
                capture_light=v.light if v.counts else None,
                capture_reason=reason_json(v.message, v.params),
                device_id=v.device,
                signed=p.signed,
                signature=v.signature,
            )
            for p, a, v in zip(photos, exam.analyses, verdicts, strict=True)
        ]
        probes = probe_sets([r.phash for r in rows], self.rules.hash_distance)
        photo_files = self.photos
        # The photos' files before the transaction that names them (no lock held).
        kept = (
            photo_files.keep(
                [(p.photo.name, p.photo.data, p.captured_at) for p in photos]
            )
            if photo_files
            else []
        )
        with self.ledger.transaction(conn) as c:
            lock(c, *_photo_locks(probes))
            self.devices.confirm(c, verdicts)  # no revocation since the verdicts
            current = self._open_for_update(c, claim_id)
            others = [
                (s.phash, s.claim_id)
                for s in self.store.similar_evidence(c, probes)
                if s.claim_id != claim_id
            ]
            reused = [(r.photo, "enrolment", r.tag) for r in exam.reused]
            for row in rows:
                near = near_duplicates(row.phash, others, self.rules.hash_distance)
                if near:
                    reused.append((row.name, "claim", near[0][1][:8]))
            checks.append(check_photo_reuse(reused))
            self.store.add_evidence(c, claim_id, rows)
            signature = self._signature_check(c, claim_id)
            if signature is not None:
                checks.append(signature)
            if photo_files:
                photo_files.link(c, "claim", claim_id, kept)
            return self._reassess(
                c,
                current,
                checks=_replace(current.checks, checks, resolves="evidence"),
                amount=current.amount,
                indemnity=current.indemnity,
                actor=actor,
                event="claim.evidence_checked",
                payload={
                    "photos": [f"{r.phash:016x}" for r in rows],
                    "best_match": exam.candidates[0].tag if exam.candidates else None,
                    "captures": [
                        {"photo": p.photo.name, **v.to_json()}
                        for p, v in zip(photos, verdicts, strict=True)
                    ],
                },
            )

    def _signatures(
        self,
        photos: Sequence[EvidencePhoto],
        actor: str,
        conn: Connection | None,
    ) -> tuple[list[EvidencePhoto], list[CaptureVerdict]]:
        """Each photo's capture signature verdict, and the photos with their time and place.

        A green photo's signed time and place replace the photo's. Any other
        photo keeps what the upload states or its EXIF holds: a photo picked
        from the phone's files was signed when picked, not when taken, and a
        red photo's signed time and place are not vouched for.
        """
        with reading(self.engine, conn) as read:
            verdicts = self.devices.verdicts(
                read,
                actor,
                [
                    SignedPhoto(
                        p.photo.data, p.signed, p.signature, p.stated_at, p.stated_place
                    )
                    for p in photos
                ],
            )
        signed = [
            replace(
                p,
                captured_at=v.attested.captured_at,
                lat=v.attested.lat,
                lon=v.attested.lon,
            )
            if v.attested is not None
            else p
            for p, v in zip(photos, verdicts, strict=True)
        ]
        return signed, verdicts

    def _signature_check(self, conn: Connection, claim_id: str) -> Check | None:
        """``capture_signature`` over every evidence photo of the claim, once any photo counts.

        A photo counts when it was sent signed, or unsigned by an agent who
        has a registered device (it is stored with a light). A claim none of
        whose photos counts (photos sent from the staff pages, or by agents
        without a device) gets no such check: its light stays what the other
        checks make it, as before devices existed. Once one photo counts,
        every photo does, an unsigned one amber.
        """
        stored = self.store.capture_lights(conn, claim_id)
        if all(light is None for _, light, _ in stored):
            return None
        return check_capture_signature(
            [
                (
                    name,
                    CaptureVerdict(
                        "green" if light == "green" else "red",
                        *(reason or ("text", {"text": ""})),
                    )
                    if light in ("green", "red")
                    else CaptureVerdict("amber", *(reason or ("capture.unsigned", {}))),
                )
                for name, light, reason in stored
            ]
        )

    # --- damage by map ---------------------------------------------------------------

    def scene_options(
        self, claim_id: str, scenes: SceneCatalogue, *, conn: Connection | None = None
    ) -> SceneOptions:
        """The catalogue's scenes that cover a crop claim's plot, and the pair the rules pick.

        Scenes are by date; each has a red and a NIR band. The pick is
        :func:`claims.choose_pair` (the latest scene before the event, the
        earliest after it); whether it is close enough is the assessment's
        ``scene_timing`` check.

        Raises:
            NotFoundError: no such claim, or its plot is no longer on record.
            InvalidInputError: not a crop claim, or the catalogue is unreadable.
        """
        claim, _, _, plot = self._crop_claim(claim_id, conn)
        return self._options(claim, plot, scenes)

    def _options(
        self, claim: ClaimRecord, plot: InsuredPlot, scenes: SceneCatalogue
    ) -> SceneOptions:
        geometry = shapely.from_wkb(plot.geometry)
        try:
            every = scenes.scenes()
        except RemoteSensingError as exc:
            raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc
        covering = [sc for sc in every if _measures(sc, geometry)]
        event = claim.event_date
        chosen: tuple[SceneOption | None, SceneOption | None] = (None, None)
        if event is not None:
            chosen = choose_pair(
                event, [SceneOption(sc.name, sc.date) for sc in covering]
            )
        return SceneOptions(
            event=event,
            scenes=tuple(covering),
            before=chosen[0].name if chosen[0] else None,
            after=chosen[1].name if chosen[1] else None,
        )

    def assess_by_scenes(
        self,
        claim_id: str,
        scenes: SceneCatalogue,
        before: str | None = None,
        after: str | None = None,
        *,
        actor: str,
        conn: Connection | None = None,
    ) -> tuple[ClaimRecord, DamageAssessment]:
        """Assess a crop claim on catalogue scenes: bands, scale and dates from the catalogue.

        ``before`` / ``after`` name registered scenes; either left out is the
        rules' pick (:meth:`scene_options`). Then as :meth:`assess_by_map`.

        Raises:
            NotFoundError: no such claim or scene (``field`` before / after).
            InvalidInputError: a scene lacks a red or NIR band, does not cover
                the plot, or no scene on that side of the event covers it.
            ConflictError: the claim is already decided.
        """
        loaded = self._crop_claim(claim_id, conn)
        before_spec, after_spec, taken, names = self.scene_pair(
            loaded, scenes, before, after
        )
        return self._assess(
            loaded,
            before_spec,
            after_spec,
            actor=actor,
            options=None,
            conn=conn,
            taken=taken,
            names=names,
        )

    def scene_pair(
        self,
        loaded: tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot],
        scenes: SceneCatalogue,
        before: str | None = None,
        after: str | None = None,
    ) -> tuple[ImageSpec, ImageSpec, tuple[date | None, date | None], tuple[str, str]]:
        """The pair a crop claim is assessed on: (before, after, their dates, their names).

        ``before`` / ``after`` name registered scenes; either left out is the
        rules' pick (:meth:`scene_options`).

        Raises:
            NotFoundError: no such scene (``field`` before / after).
            InvalidInputError: a scene lacks a red or NIR band, does not cover
                the plot, or no scene on that side of the event covers it.
        """
        claim, _, _, plot = loaded
        geometry = shapely.from_wkb(plot.geometry)
        picked: dict[str, str | None] = {"before": before, "after": after}
        if before is None or after is None:
            options = self._options(claim, plot, scenes)
            picked = {
                "before": before or options.before,
                "after": after or options.after,
            }
        chosen: dict[str, Scene] = {}
        for side, name in picked.items():
            if name is None:
                raise InvalidInputError(
                    f"no registered scene {side} the loss on "
                    f"{claim.event_date} covers plot {claim.subject_id}: register one, "
                    "or send the claim to a field survey",
                    field=side,
                )
            try:
                scene = scenes.get(name)
            except SceneNotFoundError as exc:
                raise NotFoundError(f"{side}: {exc}", field=side) from exc
            except RemoteSensingError as exc:
                raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc
            lacking = sorted(_NDVI_BANDS - set(scene.bands))
            if lacking:
                raise InvalidInputError(
                    f"{side}: scene {name} has no {' and '.join(lacking)} band",
                    field=side,
                )
            if not _measures(scene, geometry):
                raise InvalidInputError(
                    f"{side}: scene {name} does not cover plot {claim.subject_id}",
                    field=side,
                )
            chosen[side] = scene

        def spec(scene: Scene) -> ImageSpec:
            return ImageSpec(
                scenes.path(scene),
                dict(scene.bands),
                scene.scale,
                scene.offset,
                scene.nodata,
            )

        return (
            spec(chosen["before"]),
            spec(chosen["after"]),
            (chosen["before"].date, chosen["after"].date),
            (chosen["before"].name, chosen["after"].name),
        )

    def event_claims(
        self, event_id: str, *, conn: Connection | None = None
    ) -> list[ClaimRecord]:
        """The open crop claims of catastrophe event ``event_id``, in id order (one read)."""
        with reading(self.engine, conn) as read:
            return self.store.event_claims(read, event_id, statuses=OPEN)

    def _crop_claim(
        self,
        claim_id: str,
        conn: Connection | None,
        claim: ClaimRecord | None = None,
    ) -> tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot]:
        """The crop claim with its policy, product and plot (``claim``: already read)."""
        claim = claim or self.store.get(claim_id, conn)
        if claim.subject_kind != "plot":
            raise InvalidInputError(
                "only crop claims are assessed by map", field="claim_id"
            )
        policy = self.uw.policy(claim.policy_id, conn)
        product = self.uw.product(policy.product_code, conn)
        if not isinstance(product, CropProduct):
            raise InvalidInputError(
                f"policy {policy.id} insures animals: its claims are not assessed by map",
                field="claim_id",
            )
        with reading(self.engine, conn) as read:
            plot = self.store.insured_plot(read, claim.policy_id, claim.subject_id)
        if plot is None:
            raise NotFoundError(
                f"plot {claim.subject_id} of policy {claim.policy_id} is not on record",
                field="subject_id",
            )
        return claim, policy, product, plot

    def _peers(
        self,
        claim: ClaimRecord,
        policy: PolicyRecord,
        plot: InsuredPlot,
        conn: Connection | None,
    ) -> list[tuple[str, bytes]]:
        """Other insured plots of the claim's product near its plot: the crop's peers.

        In force on the event's day, within ``PEER_RADIUS_DEG`` of the plot,
        the ``MAX_PEERS`` nearest. Left out: the plot itself under any policy
        (a plot overlapping it by half or more of the smaller one's area), and
        plots with a claim of their own for a loss within the same-event
        window (a flood or a hail swath would otherwise pull the baseline down
        and hide the loss it shares).
        """
        own = shapely.from_wkb(plot.geometry)
        west, south, east, north = own.bounds
        r = PEER_RADIUS_DEG
        day = claim.event_date or date.today()
        window = timedelta(days=self.rules.same_event_days)
        with reading(self.engine, conn) as read:
            rows = insured_plots_meeting(
                read,
                day,
                day,
                (west - r, south - r, east + r, north + r),
                product_code=policy.product_code,
            )
            claimed = self.store.plots_claimed_between(read, day - window, day + window)
        candidates: list[tuple[float, str, bytes]] = []
        centre = own.centroid
        for row in rows:
            if (row.policy_id, row.plot_ref) in claimed:
                continue  # the claim's own plot too
            geometry = bytes(row.geometry)
            other = shapely.from_wkb(geometry)
            shared = shapely.area(shapely.intersection(own, other))
            if shared >= 0.5 * min(own.area, other.area):
                continue  # the same parcel, insured again or drawn again
            candidates.append(
                (
                    centre.distance(other.centroid),
                    f"{row.policy_id}/{row.plot_ref}",
                    geometry,
                )
            )
        candidates.sort()
        return [(ref, g) for _, ref, g in candidates[:MAX_PEERS]]

    def _history(
        self,
        plot_id: str,
        wkb: bytes,
        ndvi_before: float,
        taken: tuple[date | None, date | None],
    ) -> Baseline | None:
        """The plot's change in the same weeks of earlier seasons (the NDVI stack), or None."""
        return _history_baseline(
            self.ndvi, self.rules.season, plot_id, wkb, ndvi_before, taken
        )

    def assess_by_map(
        self,
        claim_id: str,
        before: ImageSpec,
        after: ImageSpec,
        *,
        actor: str,
        options: DamageOptions | None = None,
        conn: Connection | None = None,
        taken: tuple[date | None, date | None] | None = None,
        names: tuple[str, str] | None = None,
    ) -> tuple[ClaimRecord, DamageAssessment]:
        """Measure the loss of a crop claim's plot on a before/after pair; set the indemnity.

        The loss is measured against the season: the plot's NDVI change is
        set against the change of the product's other insured plots nearby on
        the same pair (``claims.peer_baseline``), or where too few peers were
        measured, against the same weeks of the plot's earlier seasons in the
        NDVI stack (``claims.history_baseline``); a pixel counts as damaged
        only when its drop exceeds what the peers show by the rules' pixel
        threshold, so a harvest the peers share is no damage. The indemnity
        pays the lesser of the claimed and the measured damaged share, and
        only when the pair brackets the loss closely enough to show it
        (``scene_timing``, the product's day limits) and a baseline exists
        (``season_baseline``); otherwise the claim goes amber or red with no
        indemnity until surveyed. It is reduced by what was already paid on
        the plot and on the policy (their sums insured).

        Args:
            claim_id: the crop claim.
            before: the image before the loss; ``after``: after it.
            after: see ``before``.
            actor: who assesses (an adjuster's username).
            options: damage thresholds (default: the season rules' pixel threshold).
            conn: an open transaction to work in, or None for the service's own.
            taken: the scenes' dates (default: read from the file names).
            names: the scenes' names as stored (default: the file names).

        Raises:
            NotFoundError: no such claim, or its plot is no longer on record.
            InvalidInputError: not a crop claim, or the imagery cannot be read.
            ConflictError: the claim is already decided.
        """
        return self._assess(
            self._crop_claim(claim_id, conn),
            before,
            after,
            actor=actor,
            options=options,
            conn=conn,
            taken=taken,
            names=names,
        )

    def _assess(
        self,
        loaded: tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot],
        before: ImageSpec,
        after: ImageSpec,
        *,
        actor: str,
        options: DamageOptions | None,
        conn: Connection | None,
        taken: tuple[date | None, date | None] | None,
        names: tuple[str, str] | None,
    ) -> tuple[ClaimRecord, DamageAssessment]:
        """:meth:`assess_by_map` on a crop claim already read (:meth:`_crop_claim`).

        The measurement (:func:`measure_crop`), then its write
        (:meth:`record_measurement`).
        """
        if taken is None:
            taken = scene_dates(before.path.name, after.path.name)
        if names is None:
            names = (before.path.name, after.path.name)
        job = self.crop_job(loaded, before, after, taken, options=options, conn=conn)
        try:
            measured = measure_crop(job)
        except RemoteSensingError as exc:
            raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc
        record, _ = self.record_measurement(
            loaded, measured, actor=actor, conn=conn, taken=taken, names=names
        )
        return record, measured.result

    def crop_job(
        self,
        loaded: tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot],
        before: ImageSpec,
        after: ImageSpec,
        taken: tuple[date | None, date | None],
        *,
        options: DamageOptions | None = None,
        conn: Connection | None = None,
    ) -> CropJob:
        """What :func:`measure_crop` needs for a crop claim read by :meth:`_crop_claim`.

        Reads the claim's peers (the database); the job itself reads none.
        """
        claim, policy, _, plot = loaded
        season = self.rules.season
        return CropJob(
            claim.id,
            claim.subject_id,
            plot.geometry,
            tuple(self._peers(claim, policy, plot, conn)),
            before,
            after,
            options or DamageOptions(threshold=season.pixel_threshold),
            season,
            taken,
            self.ndvi,
        )

    def record_measurement(
        self,
        loaded: tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot],
        measured: CropMeasurement,
        *,
        actor: str,
        conn: Connection | None,
        taken: tuple[date | None, date | None],
        names: tuple[str, str],
        once: bool = False,
    ) -> tuple[ClaimRecord, bool]:
        """Write a crop claim's measurement: checks, indemnity, map, ``claim.assessed``.

        The write half of an assessment, in one transaction (``conn``'s when
        given) with its ledger event. Returns (record, whether it wrote).
        ``once``: a claim no longer open, or already assessed on the same
        pair (scene names and dates, as stored with its assessment), is left
        as it is (False) instead of refused: a retried batch writes nothing
        twice.

        Raises:
            ClaimStateError: the claim is already decided (not with ``once``).
        """
        claim, policy, product, plot = loaded
        claim_id = claim.id
        result, loss = measured.result, measured.loss
        claimed_fraction = float(claim.claimed.get("damaged_fraction", 0.0))
        check = check_measured_damage(
            result.status,
            result.damaged_fraction,
            result.clear_fraction,
            claimed_fraction,
        )
        # Whether the pair can show this loss at all: a scene far from the event
        # measures the season (a harvest), not the loss.
        timing = check_scene_timing(
            claim.event_date or date.min,
            *taken,
            max_before_days=product.scene_before_days,
            max_after_days=product.scene_after_days,
        )
        area_claimed = float(
            claim.claimed.get("claimed_area_m2", claimed_fraction * plot.area_m2)
        )
        checks = [
            check,
            timing,
            check_claimed_area(
                area_claimed,
                plot.area_m2,
                result.damaged_area_m2 if result.status == "assessed" else None,
            ),
        ]
        after_harvest = any(
            c.code == "crop_season" and c.light == "red" for c in claim.checks
        )
        baseline_check: Check | None = None
        if result.status == "assessed":
            baseline_check = check_season_baseline(loss)
            checks.append(baseline_check)
        amount = Money.zero(policy.sum_insured.currency)
        lines: tuple[Line, ...] = (
            Line("indemnity.unmeasured", "", {"status": result.status}),
        )
        indemnity: Indemnity | None = None
        if after_harvest:
            lines = (Line("indemnity.after_harvest", ""),)
        elif timing.light != "green":
            lines = (Line("indemnity.scene_timing", ""),)
        elif baseline_check is not None and baseline_check.light != "green":
            lines = (Line("indemnity.season_baseline", ""),)
        elif result.status == "assessed":
            try:
                share = payable_fraction(claimed_fraction, result.damaged_fraction)
                indemnity = crop_indemnity(
                    product,
                    damaged_area_m2=Decimal(str(round(share * plot.area_m2, 2))),
                    insured_area_m2=Decimal(str(round(plot.area_m2, 2))),
                    loss_degree=Decimal(str(claim.claimed.get("loss_degree", "1"))),
                    growth_stage=claim.claimed.get("growth_stage"),
                )
            except IndemnityError as exc:  # pragma: no cover - validated at intake
                raise InvalidInputError(str(exc), field="claim_id") from exc
        with self.ledger.transaction(conn) as c:
            if once:
                current = self.store.get(claim_id, c, for_update=True)
                done = AssessmentStore().get(c, claim_id)
                if current.status not in OPEN or (
                    done is not None
                    and (done.before_scene, done.after_scene) == names
                    and (done.before_date, done.after_date) == taken
                ):
                    return current, False
            else:
                current = self._open_for_update(c, claim_id)
            if indemnity is not None:
                # What was paid before, read in the transaction that writes the amount.
                indemnity = limit_indemnity(
                    indemnity,
                    self._limits(
                        c,
                        policy,
                        product,
                        ("plot", claim.subject_id),
                        plot_area_m2=plot.area_m2,
                        excluding=claim_id,
                    ),
                )
                amount, lines = indemnity.amount, indemnity.lines
                if loss is not None:
                    lines = (
                        Line(
                            "indemnity.baseline",
                            "",
                            {
                                # to 0.01 as read, no "-0.00"
                                "expected": round(loss.baseline.expected_change, 2)
                                + 0.0,
                                "threshold": round(loss.damage_threshold, 3),
                            },
                        ),
                        *lines,
                    )
            store_assessment(
                c,
                claim_id,
                before_scene=names[0],
                after_scene=names[1],
                dates=taken,
                ndvi_before=result.ndvi_before,
                ndvi_after=result.ndvi_after,
                features=measured.damage,
                threshold=measured.threshold,
            )
            record = self._reassess(
                c,
                current,
                checks=_replace(current.checks, checks),
                amount=amount,
                indemnity=lines,
                actor=actor,
                event="claim.assessed",
                payload={
                    "before": names[0],
                    "after": names[1],
                    **{
                        k: v
                        for k, v in result.to_properties().items()
                        if k != "plot_id"
                    },
                    **(
                        {"baseline": baseline_check.params}
                        if baseline_check is not None
                        else {}
                    ),
                },
            )
        return record, True

    # --- decisions and payment -------------------------------------------------------

    def decide(
        self,
        claim_id: str,
        decision: Decision,
        *,
        actor: str,
        reason: str | None = None,
        grounds: Sequence[str] = (),
        conn: Connection | None = None,
    ) -> ClaimRecord:
        """Approve, reject or send a claim for a field survey (``claims.lifecycle``).

        A rejection and a survey request need a reason, and so does approving
        a claim whose light is amber or red: ``grounds`` (codes of the claim's
        checks that did not pass; each reader gets them in their language), a
        note in words (``reason``), or both. The decider is recorded: once
        approved, the four-eyes rule keeps them from recording the payment.

        Raises:
            NotFoundError: no such claim.
            ClaimStateError: the claim is already decided.
            InvalidInputError: a reason is needed and missing, or a ground is
                not a failed check of the claim (field ``reason`` / ``grounds``).
        """
        grounds = tuple(dict.fromkeys(grounds))  # once each, in the order given
        if reason is not None and reason.strip():
            # a note in words: plain text, as an application's decision reason
            reason = plain_text(reason, "reason", most=2000, note=True)
        target = decision_status(decision)
        with self.ledger.transaction(conn) as c:
            claim = self.store.get(claim_id, c, for_update=True)
            try:
                check_move(claim_id, claim.status, target)
                check_decision(
                    decision,
                    light=claim.light,
                    reason=reason,
                    grounds=grounds,
                    failed={x.code for x in claim.checks if x.light != "green"},
                )
            except TransitionError as exc:
                raise ClaimStateError(str(exc)) from exc
            except ReasonRequiredError as exc:
                raise InvalidInputError(
                    str(exc), field="grounds" if grounds else "reason"
                ) from exc
            if not self.store.move(
                c,
                claim_id,
                from_status=sources(target),
                to_status=target,
                values={
                    "reason": reason,
                    "decided_by": actor,
                    "grounds": json.dumps(list(grounds)) if grounds else None,
                },
            ):  # pragma: no cover - the row is locked and was checked above
                raise ClaimStateError(f"claim {claim_id} changed meanwhile")
            record = self.store.get(claim_id, c)
            kind = "claim.survey_requested" if target == "survey" else f"claim.{target}"
            extra = {"grounds": list(grounds)} if grounds else {}
            self._event(c, kind, record, actor, reason=reason, **extra)
        return record

    def _check_limits(self, conn: Connection, claim: ClaimRecord) -> None:
        """Refuse paying ``claim`` when it would pass its plot's or its policy's sum insured.

        Raises:
            ClaimStateError: the limit named, and what was paid under it.
        """
        policy = self.uw.policy(claim.policy_id, conn)
        product = self.uw.product(policy.product_code, conn)
        area = None
        if claim.subject_kind == "plot":
            plot = self.store.insured_plot(conn, claim.policy_id, claim.subject_id)
            area = plot.area_m2 if plot is not None else None
        limits = self._limits(
            conn,
            policy,
            product,
            (claim.subject_kind, claim.subject_id),
            plot_area_m2=area,
            excluding=claim.id,
        )
        try:
            check_within_limits(claim.amount, limits)
        except LimitError as exc:
            raise ClaimStateError(
                f"{exc}: send the claim back for a survey to assess it again "
                "(it then pays what is left)",
                field="amount",
            ) from exc

    def notice_check(self, conn: Connection, claim: ClaimRecord) -> Check:
        """The claim's ``public_notice`` check now (``claims.check_public_notice``).

        Its standing on the latest claims notice that lists it, on the farm's
        day at the ledger's clock (the farmer's region's time zone).
        """
        found = NoticeStore().standing(conn, claim.id)
        standing = (
            None
            if found is None
            else NoticeStanding(
                found.notice_id,
                found.objection_ends,
                found.amount_minor,
                found.open_objections,
                found.upheld,
            )
        )
        region = self.uw.farmer(claim.farmer_id, conn).region
        today = local_date(self.ledger.clock(), self.rules.zone(region))
        return check_public_notice(
            standing, today=today, amount_minor=claim.amount.minor
        )

    def pay(
        self,
        claim_id: str,
        *,
        actor: str,
        payment_ref: str,
        conn: Connection | None = None,
    ) -> tuple[ClaimRecord, bool]:
        """Pay an approved claim exactly once; returns (record, whether this call paid).

        A retried or concurrent call on a claim already paid returns it
        unchanged. Four-eyes: above the configured amount, the adjuster who
        approved may not record the payment. Public notice: the claim must be
        on a claims notice whose objection period has ended with no objection
        open or upheld, for the indemnity it now has (:meth:`notice_check`).
        Limits: under the policy's named
        lock (``claim:pay:<policy>``) the paid totals are read again, and a
        payment that would pass the plot's, the animal's or the policy's sum
        insured is refused. Such a claim stays approved and unpaid until an
        adjuster sends it back for a survey (``decide(..., "survey")``): a
        new assessment then reckons what is left.

        Raises:
            NotFoundError: no such claim.
            ClaimStateError: the claim is neither approved nor paid, its public
                notice does not let it be paid yet (the check's reason, in
                English), or paying it would pass a sum insured (``field``:
                ``amount``).
            ForbiddenError: the four-eyes rule (the payer approved the claim).
        """
        with self.ledger.transaction(conn) as c:
            # Which policy (a claim never changes it), to take its lock before the
            # row's (lock order: named locks, the claim row, the ledger head).
            policy_id = self.store.get(claim_id, c).policy_id
            lock(c, f"claim:pay:{policy_id}")
            claim = self.store.get(claim_id, c, for_update=True)
            if claim.status == "paid":
                return claim, False
            try:
                check_move(claim_id, claim.status, "paid")
                check_payment(
                    approver=claim.decided_by,
                    payer=actor,
                    amount_minor=claim.amount.minor,
                    four_eyes_above_minor=self.rules.four_eyes_above_minor,
                    notice=self.notice_check(c, claim),
                )
            except TransitionError as exc:
                raise ClaimStateError(str(exc)) from exc
            except FourEyesError as exc:
                raise ForbiddenError(str(exc)) from exc
            except NoticeError as exc:
                raise ClaimStateError(render_check(exc.check, "en")) from exc
            self._check_limits(c, claim)
            if not self.store.move(
                c,
                claim_id,
                from_status=sources("paid"),
                to_status="paid",
                values={"payment_ref": payment_ref},
            ):  # pragma: no cover - the row is locked and was checked above
                raise ClaimStateError(f"claim {claim_id} changed meanwhile")
            record = self.store.get(claim_id, c)
            self._event(c, "claim.paid", record, actor, payment_ref=payment_ref)
        return record, True
