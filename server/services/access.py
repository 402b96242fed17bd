"""The access policy: who may do what, and whose records each viewer sees.

The one place that answers both questions, for the API's routes and the
services that read for a viewer (photos, maps, histories):

* :data:`ACTIONS` names, for each action, the roles that may take it; the
  claim lifecycle's actions come from :data:`claims.ACTORS` (``"claims.read"``
  is ``ACTORS["read"]``). :func:`may_do` answers for a viewer, and
  :func:`roles_for` gives the roles a route admits.
* :data:`STAFF` is the insurer's people: every role but ``farmer``.
* A farmer sees only the records that carry their own farmer id; staff see
  everyone's. :func:`may_see` answers for one record (or its owner's id),
  :func:`check_may_see` refuses with :class:`~server.errors.ForbiddenError`
  (403), and :func:`own_farmer` is the farmer a list is narrowed to (the
  stores of ``server/storage`` take it: None for staff, who see every farmer's).

Nothing else compares a viewer's role or farmer id
(``tests/server/test_access_policy.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from claims import ACTORS
from claims import Action as ClaimAction
from server.errors import ForbiddenError
from server.services.auth import ROLES, Role
from underwriting import Check

__all__ = [
    "ACTIONS",
    "STAFF",
    "Action",
    "Caller",
    "Owned",
    "Viewer",
    "check_for",
    "check_may_see",
    "check_may_see_region",
    "may_do",
    "may_see",
    "may_see_region",
    "own_farmer",
    "roles_for",
]

STAFF: tuple[Role, ...] = ("admin", "underwriter", "adjuster", "field_agent")
"""The insurer's people: every role but ``farmer``; they see every farmer's records."""

Action = Literal[
    "read",
    "users.manage",
    "farmers.register",
    "farmers.list",
    "products.add",
    "animals.enrol",
    "applications.submit",
    "applications.decide",
    "photos.check",
    "photos.evidence",
    "devices.register",
    "devices.list",
    "devices.approve",
    "devices.any_agent",
    "notices.publish",
    "notices.object",
    "notices.resolve",
    "claims.file",
    "claims.add_evidence",
    "claims.assess",
    "claims.decide",
    "claims.pay",
    "claims.read",
    "exports.read",
    "reports.read",
]
"""What a route or a service does on a viewer's behalf."""


def _claim_roles(action: ClaimAction) -> tuple[Role, ...]:
    """The roles the claim lifecycle lets take ``action``, sorted by name."""
    allowed = ACTORS[action]
    unknown = set(allowed) - set(ROLES)
    if unknown:  # pragma: no cover - a rule naming a role the API lacks
        raise ValueError(f"claims.ACTORS names unknown roles {sorted(unknown)}")
    return tuple(r for r in sorted(ROLES) if r in allowed)


ACTIONS: Mapping[Action, tuple[Role, ...]] = {
    "read": ROLES,  # products, one's records, maps, histories, receipts, scenes
    "users.manage": ("admin",),
    "farmers.register": ("admin",),
    "farmers.list": STAFF,
    "products.add": ("admin",),
    "animals.enrol": ("field_agent",),  # and later capture sessions
    "applications.submit": ("field_agent",),
    "applications.decide": ("underwriter",),
    "photos.check": ("field_agent",),
    # A claim's evidence photos; an animal's enrolment photos are "read".
    "photos.evidence": ("admin", "underwriter", "adjuster", "farmer"),
    "devices.register": ("field_agent",),  # and the offline gallery
    "devices.list": ("admin", "field_agent"),  # and revoke
    "devices.approve": ("admin",),
    "devices.any_agent": ("admin",),  # list and revoke any agent's devices
    # Public notices (公示): underwriters post the underwriting list, adjusters the
    # claim list; anyone with the notice objects (a farmer for their own region);
    # adjusters resolve objections (underwriters those of an underwriting notice).
    "notices.publish": ("underwriter", "adjuster"),
    "notices.object": ("admin", "underwriter", "adjuster", "field_agent", "farmer"),
    "notices.resolve": ("underwriter", "adjuster"),
    "claims.file": _claim_roles("file"),
    "claims.add_evidence": _claim_roles("add_evidence"),
    "claims.assess": _claim_roles("assess"),
    "claims.decide": _claim_roles("decide"),
    "claims.pay": _claim_roles("pay"),
    "claims.read": _claim_roles("read"),
    # Whole-portfolio files (plots, claims, policies, imagery): the insurer's desks.
    "exports.read": ("admin", "underwriter", "adjuster"),
    # Portfolio and checks reports (premium, claims, loss ratios, overrides).
    "reports.read": ("admin", "underwriter", "adjuster"),
}
"""The roles that may take each action, in the order a refusal names them."""


class Caller(Protocol):
    """Who asks: anything with a role and, for a farmer, a farmer id (a user, a viewer)."""

    @property
    def role(self) -> str:
        """One of :data:`server.services.auth.ROLES`."""

    @property
    def farmer_id(self) -> str | None:
        """The farmer id a farmer's records carry; None for staff."""


class Owned(Protocol):
    """A record that belongs to a farmer (an application, a policy, a claim...)."""

    @property
    def farmer_id(self) -> str:
        """The farmer it belongs to."""


@dataclass(frozen=True)
class Viewer:
    """Who asks, as the services take it: a role and, for a farmer, the farmer id."""

    role: str
    farmer_id: str | None = None


def roles_for(action: Action) -> tuple[Role, ...]:
    """The roles that may take ``action``."""
    return ACTIONS[action]


def may_do(viewer: Caller, action: Action) -> bool:
    """True when ``viewer``'s role may take ``action``."""
    return viewer.role in ACTIONS[action]


def _is_farmer(viewer: Caller) -> bool:
    return viewer.role == "farmer"


def own_farmer(viewer: Caller) -> str | None:
    """The farmer whose records alone ``viewer`` sees; None for staff, who see everyone's.

    A farmer's own farmer id (``""`` if none is set, which no record carries).
    """
    return (viewer.farmer_id or "") if _is_farmer(viewer) else None


def may_see(viewer: Caller, record: Owned | str | None) -> bool:
    """True when ``viewer`` may see a record of farmer ``record`` (or the record itself).

    Staff see every record; a farmer only those carrying their farmer id (an
    unknown owner, None, is nobody's: a farmer does not see it).
    """
    if not _is_farmer(viewer):
        return True
    owner = record if record is None or isinstance(record, str) else record.farmer_id
    return owner is not None and owner == viewer.farmer_id


def may_see_region(viewer: Caller, own_region: str | None, region: str) -> bool:
    """True when ``viewer`` may see a public notice of ``region``.

    Staff see every region's; a farmer only their own region's (``own_region``,
    the region of their farmer record: None or empty when they have none, which
    sees nothing).
    """
    if not _is_farmer(viewer):
        return True
    return bool(own_region) and own_region == region


def check_may_see_region(viewer: Caller, own_region: str | None, region: str) -> None:
    """Refuse a notice of a region ``viewer`` may not see.

    Raises:
        ForbiddenError: a farmer and another region's notice.
    """
    if not may_see_region(viewer, own_region, region):
        raise ForbiddenError("this notice is not of your region")


def check_may_see(viewer: Caller, record: Owned | str | None, what: str) -> None:
    """Refuse a record ``viewer`` may not see.

    Raises:
        ForbiddenError: a farmer and another farmer's record ("this {what} is not yours").
    """
    if not may_see(viewer, record):
        raise ForbiddenError(f"this {what} is not yours")


# Reasons that name another farmer's records: what a farmer reads instead, and
# the params that name them. A reason about the farmer's own record is kept.
_OTHERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "double_insurance.insured_plot": (
        "double_insurance.insured_plot_other",
        ("policy", "farmer"),
    ),
    "identity.other_farm": ("identity.other_farm_hidden", ("best",)),
    "photo_reuse.in_enrolment": ("photo_reuse.in_earlier", ("record",)),
    "photo_reuse.in_claim": ("photo_reuse.in_earlier", ("record",)),
    "animal.duplicate": ("animal.duplicate_other", ("match", "farm")),
    "animal.review": ("animal.review_other", ("match", "farm")),
    "animal.other_farm": ("animal.other_farm_hidden", ("farm",)),
}
# Of these, the reasons whose subject is the other farmer's record itself.
_OTHERS_SUBJECT = {"double_insurance.insured_plot"}


def check_for(viewer: Caller, check: Check) -> Check:
    """``check`` as ``viewer`` may read it: a farmer learns no other farmer's ids.

    Staff read every check as it is. For a farmer, a reason (or a detail's)
    that names another farmer's plot, policy, animal, claim or farmer id is
    replaced by one that says the same without naming them: "insured land of
    another farmer (0.40 ha, 35 %)". A reason naming the farmer's own record
    (``farmer`` or ``farm`` is theirs) is kept.
    """
    farmer = own_farmer(viewer)
    return check if farmer is None else _without_others(check, farmer)


def _without_others(check: Check, farmer: str) -> Check:
    details = tuple(_without_others(d, farmer) for d in check.details)
    rule = _OTHERS.get(check.message)
    owner = check.params.get("farmer", check.params.get("farm"))
    if rule is None or owner == farmer:
        return replace(check, details=details) if check.details else check
    key, naming = rule
    return replace(
        check,
        message=key,
        params={k: v for k, v in check.params.items() if k not in naming},
        subject=None if check.message in _OTHERS_SUBJECT else check.subject,
        details=details,
    )
