"""Claims: how a claim is checked, decided and paid (pure rules, no I/O).

* :mod:`claims.checks`: the intake and evidence checks (notice, cover, covered,
  earlier claims and the same-event window, identity, photo reuse, place and
  time of photos, measured damage), each a light and a reason as data; the traffic
  light they add up to, and the worst of per-photo checks.
* :mod:`claims.rules`: the insurer's thresholds (:class:`ClaimRules`), what a
  claim must state, and which checks a claim's intake and evidence get.
* :mod:`claims.lifecycle`: the state machine (filed -> survey | approved |
  rejected; survey -> approved | rejected; approved -> paid), which role may
  take which action, the reasons a decision needs and the four-eyes rule.
* :mod:`claims.indemnity`: crop and livestock indemnities with their breakdown,
  and the damaged share paid (the lesser of claimed and measured).
* :mod:`claims.capture`: signed captures: device keys (EC P-256 JWK, RFC 7638
  thumbprint), the signed message, the signature check and each photo's verdict.
* :mod:`claims.dates`: the farm's calendar (time zone) that every date rule uses.
* :mod:`claims.photo_hashes`: near-duplicate search of photo hashes by
  multi-index hashing (bands, probes, confirmation).

The server gathers the facts (policies, earlier claims, face-ID matches,
stored hashes, imagery), calls these functions, and writes what they decide.
"""

from claims.capture import (
    AWAITING_APPROVAL,
    FROM_FILES,
    SOURCES,
    CaptureVerdict,
    DeviceKey,
    SignedCapture,
    capture_verdict,
    jwk_thumbprint,
    parse_public_jwk,
    parse_signed_capture,
    unsigned_reason,
    verify_signature,
)
from claims.checks import (
    Check,
    Light,
    Param,
    check_capture_signature,
    check_capture_time,
    check_claimed_area,
    check_cover,
    check_covered,
    check_earlier_claims,
    check_identity,
    check_measured_damage,
    check_notice,
    check_photo_location,
    check_photo_reuse,
    is_same_event,
    traffic_light,
    worst,
)
from claims.dates import (
    DEFAULT_FARM_TIMEZONE,
    farm_zone,
    is_future_event,
    local_date,
    on_farm_clock,
)
from claims.errors import (
    CaptureMessageError,
    ClaimInputError,
    ClaimsError,
    DeviceKeyError,
    FourEyesError,
    IndemnityError,
    LifecycleError,
    ReasonRequiredError,
    TransitionError,
)
from claims.indemnity import (
    Indemnity,
    Line,
    crop_indemnity,
    livestock_indemnity,
    payable_fraction,
)
from claims.lifecycle import (
    ACTORS,
    OPEN,
    TRANSITIONS,
    Action,
    Decision,
    Status,
    can_move,
    check_decision,
    check_move,
    check_payment,
    decision_status,
    may,
    sources,
)
from claims.photo_hashes import (
    BAND_BITS,
    BANDS,
    band_probes,
    band_radius,
    bands,
    hamming,
    near_duplicates,
    probe_sets,
)
from claims.rules import (
    ClaimRules,
    EarlierClaim,
    IdentityEvidence,
    PhotoFacts,
    animal_intake_checks,
    evidence_checks,
    plot_intake_checks,
    validate_crop_claim,
    validate_livestock_claim,
)

__all__ = [
    "ACTORS",
    "AWAITING_APPROVAL",
    "BANDS",
    "BAND_BITS",
    "DEFAULT_FARM_TIMEZONE",
    "FROM_FILES",
    "OPEN",
    "SOURCES",
    "TRANSITIONS",
    "Action",
    "CaptureMessageError",
    "CaptureVerdict",
    "Check",
    "ClaimInputError",
    "ClaimRules",
    "ClaimsError",
    "Decision",
    "DeviceKey",
    "DeviceKeyError",
    "EarlierClaim",
    "FourEyesError",
    "IdentityEvidence",
    "Indemnity",
    "IndemnityError",
    "LifecycleError",
    "Light",
    "Line",
    "Param",
    "PhotoFacts",
    "ReasonRequiredError",
    "SignedCapture",
    "Status",
    "TransitionError",
    "animal_intake_checks",
    "band_probes",
    "band_radius",
    "bands",
    "can_move",
    "capture_verdict",
    "check_capture_signature",
    "check_capture_time",
    "check_claimed_area",
    "check_cover",
    "check_covered",
    "check_decision",
    "check_earlier_claims",
    "check_identity",
    "check_measured_damage",
    "check_move",
    "check_notice",
    "check_payment",
    "check_photo_location",
    "check_photo_reuse",
    "crop_indemnity",
    "decision_status",
    "evidence_checks",
    "farm_zone",
    "hamming",
    "is_future_event",
    "is_same_event",
    "jwk_thumbprint",
    "livestock_indemnity",
    "local_date",
    "may",
    "near_duplicates",
    "on_farm_clock",
    "parse_public_jwk",
    "parse_signed_capture",
    "payable_fraction",
    "plot_intake_checks",
    "probe_sets",
    "sources",
    "traffic_light",
    "unsigned_reason",
    "validate_crop_claim",
    "validate_livestock_claim",
    "verify_signature",
    "worst",
]
