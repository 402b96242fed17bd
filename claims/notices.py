"""Public notices (公示) of the underwriting and claim lists, and the rule they set on payment.

Before an indemnity is paid, the village sees the list: a notice of kind
``underwriting`` (承保公示: the policies issued in a period) or ``claims``
(理赔公示: the claims approved in a period and not yet paid), per region (the
farmer's village or township), posted for an objection period. A notice shows
no coordinates, no full ids and no phone numbers: names are masked
(:func:`mask_name`: 刘*军, L** Jun), farmer ids keep their ends only
(:func:`mask_id`), records are named by the first 8 characters of their id
(:func:`short_id`) and an animal by the last 4 digits of its ear tag.

The payment rule (:func:`check_public_notice`): a claim is paid only when the
latest claims notice listing it was published for its current indemnity, its
objection period has ended (the farm's day after :attr:`NoticeStanding.objection_ends`)
and no objection to its row is open or was upheld. The answer is a
:class:`~underwriting.Check` (code ``public_notice``), worded at the edge in
the reader's language; :func:`claims.check_payment` refuses any but a green one.

Pure functions over plain values: the server gathers the rows and the
standing of a claim, and writes what these decide.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, get_args

from underwriting.checks import Check
from underwriting.products import M2_PER_UNIT

__all__ = [
    "MAX_OBJECTION_DAYS",
    "MIN_OBJECTION_DAYS",
    "NOTICE_KINDS",
    "ClaimRow",
    "NoticeKind",
    "NoticeStanding",
    "UnderwritingRow",
    "area_text",
    "check_objection_days",
    "check_public_notice",
    "mask_id",
    "mask_name",
    "notice_document",
    "objection_ends",
    "record_digest",
    "short_id",
    "tag_tail",
]

NoticeKind = Literal["underwriting", "claims"]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)

MIN_OBJECTION_DAYS = 3
"""The shortest objection period a notice may set, in days (the insurer may not post for less)."""

MAX_OBJECTION_DAYS = 30
"""The longest objection period a notice may set, in days (payment waits no longer than this)."""

_MASK = "*"


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY"))


def mask_name(name: str) -> str:
    """A person's name as a public notice shows it: enough for them to know it, not a stranger.

    A Chinese name keeps its first and last characters (刘建军 -> 刘*军, 刘军 -> 刘*,
    欧阳建国 -> 欧**国; typed with spaces, 王 芳 -> 王*). A name in Latin letters
    keeps its last word and the first letter of each other word, each other letter
    a ``*`` (Liu Jun -> L** Jun); a single word keeps its first letter
    (Gruber -> G*****). Blanks at the ends are dropped; an empty name stays empty.

    Examples:
        >>> mask_name("刘建军"), mask_name("Liu Jun"), mask_name("Gruber")
        ('刘*军', 'L** Jun', 'G*****')
    """
    name = " ".join(name.split())
    if not name:
        return ""
    if any(_is_cjk(c) for c in name):
        # Chinese names are written without spaces: one typed with them (王 芳) is
        # still one name, masked as one (not word by word, which would show 芳 whole).
        name = name.replace(" ", "")
        if len(name) <= 2:
            return name[0] + _MASK * (len(name) - 1)
        return name[0] + _MASK * (len(name) - 2) + name[-1]
    words = name.split(" ")
    if len(words) == 1:
        return words[0][0] + _MASK * (len(words[0]) - 1)
    return " ".join([*(w[0] + _MASK * (len(w) - 1) for w in words[:-1]), words[-1]])


def mask_id(value: str) -> str:
    """A farmer id with its middle masked: a quarter of it (1 to 4 characters) kept at each end.

    F-0001 -> F****1; an 18-digit ID number keeps its first and last four
    digits. Ids of 2 characters or fewer are masked whole.

    Examples:
        >>> mask_id("F-0001"), mask_id("110101199003070011")
        ('F****1', '1101**********0011')
    """
    n = len(value)
    if n <= 2:
        return _MASK * n
    keep = max(1, min(4, n // 4))
    return value[:keep] + _MASK * (n - 2 * keep) + value[-keep:]


def short_id(value: str) -> str:
    """A record's id as a notice names it: its first 8 characters (a UUID's first block)."""
    return value[:8]


def tag_tail(tag: str) -> str:
    """An ear tag as a notice names it: ``…`` and its last 4 digits."""
    return "\u2026" + tag[-4:]


def record_digest(kind: str, record_id: str) -> str:
    """SHA-256 of ``kind:record_id``, hex: ties a notice's row to its record without naming it.

    An auditor who holds the record's id recomputes it; a reader of the
    notice learns nothing from it (ids are random UUIDs).
    """
    return hashlib.sha256(f"{kind}:{record_id}".encode()).hexdigest()


def _round(value: Decimal, places: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def area_text(area_m2: float) -> tuple[str, str]:
    """An area in mu (2 decimals) and hectares (4 decimals), as decimal strings."""
    m2 = Decimal(str(round(area_m2, 2)))
    return _round(m2 / M2_PER_UNIT["mu"], 2), _round(m2 / M2_PER_UNIT["ha"], 4)


@dataclass(frozen=True)
class UnderwritingRow:
    """One policy on an underwriting notice (承保公示), as posted: masked, amounts as text.

    Attributes:
        farmer: the holder's masked name (:func:`mask_name`).
        farmer_id: the holder's masked id (:func:`mask_id`).
        policy: the policy's short id (:func:`short_id`).
        product: the product's code.
        animals: head insured (livestock), else None.
        area_mu: area insured in mu, 2 decimals (crops), else None.
        area_ha: the same in hectares, 4 decimals, else None.
        sum_insured: the sum insured in major units (``8000.00``).
        premium: the whole premium, major units.
        farmer_share: the part of the premium the farmer pays, major units.
        currency: ISO 4217 code of the amounts.
        digest: :func:`record_digest` of the policy.
    """

    farmer: str
    farmer_id: str
    policy: str
    product: str
    animals: int | None
    area_mu: str | None
    area_ha: str | None
    sum_insured: str
    premium: str
    farmer_share: str
    currency: str
    digest: str

    def to_json(self) -> dict[str, Any]:
        """The row as the notice's canonical JSON holds it."""
        return {
            "farmer": self.farmer,
            "farmer_id": self.farmer_id,
            "policy": self.policy,
            "product": self.product,
            "animals": self.animals,
            "area_mu": self.area_mu,
            "area_ha": self.area_ha,
            "sum_insured": self.sum_insured,
            "premium": self.premium,
            "farmer_share": self.farmer_share,
            "currency": self.currency,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class ClaimRow:
    """One claim on a claims notice (理赔公示), as posted: masked, amounts as text.

    Attributes:
        farmer: the claimant's masked name.
        farmer_id: the claimant's masked id.
        claim: the claim's short id; ``policy`` the policy's.
        policy: the policy's short id.
        subject: ``animal`` (``tag`` is set) or ``plot`` (``area_mu``/``area_ha`` are set).
        tag: the ear tag's last 4 digits (:func:`tag_tail`), else None.
        area_mu: the plot's insured area in mu, else None.
        area_ha: the same in hectares, else None.
        loss_date: the day of the loss, ISO 8601.
        peril: ``animal_death`` or ``crop_loss`` (claims state no finer peril yet).
        event: the catastrophe event the claim belongs to, or None.
        assessed_loss: the loss assessed before the deductible, major units
            (livestock: the lesser of value and sum insured; crops: the loss on
            the damaged area), or None when the breakdown has none.
        indemnity: what will be paid, major units.
        amount_minor: the indemnity in minor units (the payment rule compares it).
        currency: ISO 4217 code of the amounts.
        digest: :func:`record_digest` of the claim.
    """

    farmer: str
    farmer_id: str
    claim: str
    policy: str
    subject: str
    tag: str | None
    area_mu: str | None
    area_ha: str | None
    loss_date: str
    peril: str
    event: str | None
    assessed_loss: str | None
    indemnity: str
    amount_minor: int
    currency: str
    digest: str

    def to_json(self) -> dict[str, Any]:
        """The row as the notice's canonical JSON holds it."""
        return {
            "farmer": self.farmer,
            "farmer_id": self.farmer_id,
            "claim": self.claim,
            "policy": self.policy,
            "subject": self.subject,
            "tag": self.tag,
            "area_mu": self.area_mu,
            "area_ha": self.area_ha,
            "loss_date": self.loss_date,
            "peril": self.peril,
            "event": self.event,
            "assessed_loss": self.assessed_loss,
            "indemnity": self.indemnity,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "digest": self.digest,
        }


def check_objection_days(days: int) -> None:
    """Refuse an objection period outside [:data:`MIN_OBJECTION_DAYS`, :data:`MAX_OBJECTION_DAYS`].

    Raises:
        ValueError: ``days`` is not a whole number of days within the bounds.
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValueError("the objection period is a whole number of days")
    if not MIN_OBJECTION_DAYS <= days <= MAX_OBJECTION_DAYS:
        raise ValueError(
            f"the objection period must be {MIN_OBJECTION_DAYS} to "
            f"{MAX_OBJECTION_DAYS} days, not {days}"
        )


def objection_ends(published: date, days: int) -> date:
    """The last day objections are taken: ``days`` days after the farm's day of publication.

    Published on 1 May with 7 days: objections through 8 May, payment from 9 May.

    Raises:
        ValueError: ``days`` outside the bounds (:func:`check_objection_days`).
    """
    check_objection_days(days)
    return published + timedelta(days=days)


def notice_document(
    *,
    notice_id: str,
    kind: NoticeKind,
    region: str,
    start: date,
    end: date,
    published: date,
    ends: date,
    rows: Sequence[UnderwritingRow | ClaimRow],
) -> dict[str, Any]:
    """The notice as the ledger keeps it (``notice.published``'s payload; RFC 8785 on append).

    Rows are numbered from 1 in the order given. Nothing in it names a
    person in full, a full id or a place finer than the region.

    Raises:
        ValueError: an unknown kind, a period that ends before it starts or
            after the day of publication, or a row of the other kind.
    """
    if kind not in NOTICE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(NOTICE_KINDS)}, not {kind!r}")
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if end > published:
        raise ValueError(
            f"the period ends ({end}) after the day of publication ({published})"
        )
    row_type = UnderwritingRow if kind == "underwriting" else ClaimRow
    if any(not isinstance(r, row_type) for r in rows):
        raise ValueError(f"a {kind} notice holds {row_type.__name__}s only")
    return {
        "notice": notice_id,
        "kind": kind,
        "region": region,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "published": published.isoformat(),
        "objection_ends": ends.isoformat(),
        "rows": [{"row": i, **r.to_json()} for i, r in enumerate(rows, 1)],
    }


@dataclass(frozen=True)
class NoticeStanding:
    """Where a claim stands on the latest claims notice that lists it.

    Attributes:
        notice: the notice's id.
        objection_ends: the last day objections were taken (the farm's calendar).
        noticed_minor: the indemnity the notice posted, in minor units.
        open_objections: objections to the claim's row not yet resolved.
        upheld: whether an objection to the claim's row was upheld.
    """

    notice: str
    objection_ends: date
    noticed_minor: int
    open_objections: int = 0
    upheld: bool = False


def check_public_notice(
    standing: NoticeStanding | None, *, today: date, amount_minor: int
) -> Check:
    """Whether a claim's public notice lets it be paid on the farm's day ``today``.

    Args:
        standing: the latest claims notice listing the claim, or None when no
            notice lists it.
        today: the farm's date (its time zone) at the payment.
        amount_minor: the claim's indemnity now, in minor units.

    Returns:
        ``public_notice`` green ``public_notice.cleared`` (params ``notice``,
        ``ended``); otherwise red: ``public_notice.missing`` (never on a
        notice), ``public_notice.changed`` (the indemnity differs from the
        one posted: ``posted`` and ``amount``, major units), ``public_notice.upheld``
        (an objection to it was upheld: it needs a new notice),
        ``public_notice.period`` (the period runs until ``ends``) or
        ``public_notice.objection_open`` (``count`` objections await a
        decision). Params name the notice (``notice``) and ISO dates.

    Examples:
        >>> s = NoticeStanding("ntc_1", date(2025, 5, 8), 740000)
        >>> check_public_notice(s, today=date(2025, 5, 8), amount_minor=740000).message
        'public_notice.period'
        >>> check_public_notice(s, today=date(2025, 5, 9), amount_minor=740000).light
        'green'
    """
    if standing is None:
        return Check("public_notice", "red", "public_notice.missing")
    ids: Mapping[str, str] = {"notice": standing.notice}
    if standing.noticed_minor != amount_minor:
        return Check(
            "public_notice",
            "red",
            "public_notice.changed",
            {
                **ids,
                "posted": str(Decimal(standing.noticed_minor).scaleb(-2)),
                "amount": str(Decimal(amount_minor).scaleb(-2)),
            },
        )
    if standing.upheld:
        return Check("public_notice", "red", "public_notice.upheld", dict(ids))
    ends = standing.objection_ends.isoformat()
    if today <= standing.objection_ends:
        return Check(
            "public_notice", "red", "public_notice.period", {**ids, "ends": ends}
        )
    if standing.open_objections:
        return Check(
            "public_notice",
            "red",
            "public_notice.objection_open",
            {**ids, "count": standing.open_objections},
        )
    return Check(
        "public_notice", "green", "public_notice.cleared", {**ids, "ended": ends}
    )
