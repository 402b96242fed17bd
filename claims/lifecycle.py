"""The claim state machine, and who may move a claim where.

```
filed ----> survey <---> approved ----> paid
  |           |
  |           +--------> rejected
  +--> approved | rejected
```

* ``filed``: intake checks ran; evidence and an assessment by map may follow.
* ``survey``: an adjuster sent it for a field survey; still open to evidence.
* ``approved`` / ``rejected``: decided; ``approved`` waits for its payment.
  An approved claim not yet paid can go back to ``survey`` (with a reason):
  when its payment is refused for a sum insured that other claims used up
  meanwhile, it is assessed again and pays what is left.
* ``paid``: the payment is recorded, exactly once.

Controls on a decision: a rejection and a survey request always need a
reason; approving a claim whose traffic light is amber or red (approving
against the checks) needs one too. Four-eyes: above a configured amount, the
adjuster who approved a claim may not record its payment. Public notice: a
claim is paid only once a claims notice listing it has passed its objection
period with no objection open (:mod:`claims.notices`).

Pure functions over plain values; the server looks up the claim, calls them,
and writes the move.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from claims.errors import (
    FourEyesError,
    NoticeError,
    ReasonRequiredError,
    TransitionError,
)
from underwriting.checks import Check

__all__ = [
    "ACTORS",
    "OPEN",
    "TRANSITIONS",
    "Action",
    "Decision",
    "Status",
    "can_move",
    "check_decision",
    "check_move",
    "check_payment",
    "decision_status",
    "may",
    "sources",
]

Status = Literal["filed", "survey", "approved", "rejected", "paid"]
Decision = Literal["approve", "reject", "survey"]
Action = Literal["file", "add_evidence", "assess", "decide", "pay", "read"]

# Where each status may move next (the diagram above).
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    "filed": frozenset({"survey", "approved", "rejected"}),
    "survey": frozenset({"approved", "rejected"}),
    "approved": frozenset({"paid", "survey"}),
    "rejected": frozenset(),
    "paid": frozenset(),
}

# Statuses awaiting a decision: evidence and assessments may still change the checks.
OPEN: frozenset[Status] = frozenset({"filed", "survey"})

# The roles that may take each action on a claim (a farmer only reads their own).
ACTORS: Mapping[Action, frozenset[str]] = {
    "file": frozenset({"field_agent"}),
    "add_evidence": frozenset({"field_agent"}),
    "assess": frozenset({"adjuster"}),
    "decide": frozenset({"adjuster"}),
    "pay": frozenset({"adjuster"}),
    "read": frozenset({"farmer", "field_agent", "adjuster", "admin"}),
}

_DECIDED: Mapping[Decision, Status] = {
    "approve": "approved",
    "reject": "rejected",
    "survey": "survey",
}


def may(role: str, action: Action) -> bool:
    """True when a user of ``role`` may take ``action`` on a claim."""
    return role in ACTORS[action]


def can_move(current: Status, target: Status) -> bool:
    """True when a claim in ``current`` may move to ``target``."""
    return target in TRANSITIONS[current]


def sources(target: Status) -> tuple[Status, ...]:
    """The statuses from which a claim may move to ``target``, sorted by name."""
    return tuple(sorted(s for s, nxt in TRANSITIONS.items() if target in nxt))


def decision_status(decision: Decision) -> Status:
    """The status an adjuster's ``decision`` moves a claim to."""
    return _DECIDED[decision]


def check_move(claim: str, current: Status, target: Status) -> None:
    """Refuse a move the state machine does not allow.

    Args:
        claim: the claim's id, named in the message.
        current: its status now.
        target: where it is asked to go.

    Raises:
        TransitionError: ``current`` does not lead to ``target``; the message
            says what the claim is.
    """
    if can_move(current, target):
        return
    if target == "paid":
        raise TransitionError(f"claim {claim} is {current}, not approved")
    if current in OPEN:  # pragma: no cover - only survey -> survey gets here
        raise TransitionError(f"claim {claim} is {current}: it cannot go to {target}")
    raise TransitionError(f"claim {claim} is {current}: it is already decided")


def check_decision(
    decision: Decision,
    *,
    light: str | None,
    reason: str | None,
    grounds: Sequence[str] = (),
    failed: Collection[str] = (),
) -> None:
    """Refuse a decision that lacks the reason it needs, or rests on grounds it does not have.

    A rejection and a survey request always need a reason; approving a claim
    whose traffic light is ``amber`` or ``red`` (against its checks) needs one
    too. The reason is the decision's ``grounds`` (codes of the claim's
    checks that did not pass, ``failed``: worded for each reader in their
    language), a note in words, or both. A note of only blanks is no note.

    Raises:
        ReasonRequiredError: the decision needs a reason and has none, or a
            ground is not the code of a check of the claim that did not pass.
    """
    unknown = [g for g in grounds if g not in failed]
    if unknown:
        raise ReasonRequiredError(
            f"grounds {', '.join(unknown)}: not a check of this claim that did not pass"
            + (f" (those are: {', '.join(sorted(failed))})" if failed else "")
        )
    if grounds or (reason is not None and reason.strip()):
        return
    if decision == "reject":
        raise ReasonRequiredError("a rejection needs a reason")
    if decision == "survey":
        raise ReasonRequiredError("a survey request needs a reason")
    if light in ("amber", "red"):
        raise ReasonRequiredError(
            f"approving a claim whose checks are {light} needs a reason"
        )


def check_payment(
    *,
    approver: str | None,
    payer: str,
    amount_minor: int,
    four_eyes_above_minor: int,
    notice: Check,
) -> None:
    """Four-eyes, then the public notice: may ``payer`` record this payment now?

    Four-eyes: above ``four_eyes_above_minor`` the approver may not record
    the payment. Public notice: the claim must have been posted on a claims
    notice whose objection period has passed with no objection open
    (``notice``, from :func:`claims.check_public_notice`, must be green).

    Args:
        approver: who approved the claim (None: not on record).
        payer: who records the payment.
        amount_minor: the indemnity, in minor units (fen, cents).
        four_eyes_above_minor: the amount above which the rule applies
            (0: every payment of a positive amount).
        notice: the claim's ``public_notice`` check.

    Raises:
        FourEyesError: the amount is above the threshold and the payer is the
            approver, or the approver is not on record (the rule cannot be
            confirmed).
        NoticeError: ``notice`` is not green (its check rides on the error).
    """
    _check_four_eyes(approver, payer, amount_minor, four_eyes_above_minor)
    if notice.light != "green":
        raise NoticeError(
            f"the claim's public notice does not let it be paid yet ({notice.message})",
            notice,
        )


def _check_four_eyes(
    approver: str | None, payer: str, amount_minor: int, four_eyes_above_minor: int
) -> None:
    if amount_minor <= four_eyes_above_minor:
        return
    if approver is None:
        raise FourEyesError(
            "four-eyes rule: the approver of this claim is not on record, "
            "so its payment cannot be confirmed by a second person"
        )
    if approver == payer:
        raise FourEyesError(
            f"four-eyes rule: {payer} approved this claim and may not also record "
            "its payment; another adjuster must"
        )
