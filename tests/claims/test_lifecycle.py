"""The claim state machine and its controls, as tables."""

from __future__ import annotations

import pytest

from claims import (
    ACTORS,
    Check,
    FourEyesError,
    ReasonRequiredError,
    TransitionError,
    can_move,
    check_decision,
    check_move,
    check_payment,
    decision_status,
    may,
    sources,
)

STATUSES = ("filed", "survey", "approved", "rejected", "paid")
ALLOWED = {
    ("filed", "survey"),
    ("filed", "approved"),
    ("filed", "rejected"),
    ("survey", "approved"),
    ("survey", "rejected"),
    ("approved", "paid"),
    # back to a survey before payment: a payment refused for a sum insured used up
    ("approved", "survey"),
}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_the_state_machine_allows_exactly_these_moves(
    current: str, target: str
) -> None:
    allowed = (current, target) in ALLOWED
    assert can_move(current, target) is allowed  # type: ignore[arg-type]
    if allowed:
        check_move("C-1", current, target)  # type: ignore[arg-type]
    else:
        with pytest.raises(TransitionError):
            check_move("C-1", current, target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("filed", "paid", "claim C-1 is filed, not approved"),
        ("rejected", "paid", "claim C-1 is rejected, not approved"),
        ("approved", "rejected", "claim C-1 is approved: it is already decided"),
        ("paid", "approved", "claim C-1 is paid: it is already decided"),
        ("rejected", "approved", "claim C-1 is rejected: it is already decided"),
    ],
)
def test_a_refused_move_says_what_the_claim_is(
    current: str, target: str, message: str
) -> None:
    with pytest.raises(TransitionError, match=message):
        check_move("C-1", current, target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "from_"),
    [
        ("approved", ("filed", "survey")),
        ("rejected", ("filed", "survey")),
        ("survey", ("approved", "filed")),
        ("paid", ("approved",)),
        ("filed", ()),
    ],
)
def test_sources(target: str, from_: tuple[str, ...]) -> None:
    assert sources(target) == from_  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decision", "status"),
    [("approve", "approved"), ("reject", "rejected"), ("survey", "survey")],
)
def test_decision_status(decision: str, status: str) -> None:
    assert decision_status(decision) == status  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decision", "light", "reason", "refused"),
    [
        ("approve", "green", None, None),
        ("approve", None, None, None),
        ("approve", "amber", None, "checks are amber needs a reason"),
        ("approve", "red", None, "checks are red needs a reason"),
        ("approve", "red", "   ", "checks are red needs a reason"),
        ("approve", "red", "vet confirmed the death", None),
        ("approve", "amber", "photos reviewed", None),
        ("reject", "green", None, "a rejection needs a reason"),
        ("reject", "red", "", "a rejection needs a reason"),
        ("reject", "red", "another farmer's cow", None),
        ("survey", "amber", None, "a survey request needs a reason"),
        ("survey", "amber", "walk the field", None),
    ],
)
def test_which_decisions_need_a_reason(
    decision: str, light: str | None, reason: str | None, refused: str | None
) -> None:
    if refused is None:
        check_decision(decision, light=light, reason=reason)  # type: ignore[arg-type]
    else:
        with pytest.raises(ReasonRequiredError, match=refused):
            check_decision(decision, light=light, reason=reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decision", "grounds", "reason", "refused"),
    [
        ("reject", ["duplicate_claim"], None, None),  # grounds are a reason
        ("survey", ["measured_damage"], "  ", None),
        ("approve", ["identity"], None, None),  # approving against a flag
        ("reject", ["duplicate_claim", "identity"], "note", None),
        ("reject", ["notice"], None, "grounds notice: not a check"),  # it passed
        ("reject", ["nothing_like_it"], "typed too", "not a check of this claim"),
        ("reject", [], None, "a rejection needs a reason"),
    ],
)
def test_a_decision_rests_on_checks_that_did_not_pass(
    decision: str, grounds: list[str], reason: str | None, refused: str | None
) -> None:
    failed = {"duplicate_claim", "identity", "measured_damage"}
    kwargs = {"light": "red", "reason": reason, "grounds": grounds, "failed": failed}
    if refused is None:
        check_decision(decision, **kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(ReasonRequiredError, match=refused):
            check_decision(decision, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("approver", "payer", "amount", "above", "refused"),
    [
        ("wang", "zhao", 740_000, 0, False),
        ("wang", "wang", 740_000, 0, True),  # default 0: every payment
        ("wang", "wang", 0, 0, False),  # nothing to pay
        ("wang", "wang", 100_000, 100_000, False),  # at the threshold: allowed
        ("wang", "wang", 100_001, 100_000, True),
        (None, "zhao", 740_000, 0, True),  # approver not on record: unconfirmable
        (None, "zhao", 50_000, 100_000, False),
    ],
)
def test_four_eyes(
    approver: str | None, payer: str, amount: int, above: int, refused: bool
) -> None:
    kwargs = {
        "approver": approver,
        "payer": payer,
        "amount_minor": amount,
        "four_eyes_above_minor": above,
        "notice": Check("public_notice", "green", "objection period over"),
    }
    if refused:
        with pytest.raises(FourEyesError, match="four-eyes rule"):
            check_payment(**kwargs)  # type: ignore[arg-type]
    else:
        check_payment(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("field_agent", "file", True),
        ("adjuster", "file", False),
        ("field_agent", "add_evidence", True),
        ("adjuster", "assess", True),
        ("field_agent", "assess", False),
        ("adjuster", "decide", True),
        ("underwriter", "decide", False),
        ("farmer", "decide", False),
        ("adjuster", "pay", True),
        ("field_agent", "pay", False),
        ("farmer", "read", True),
        ("admin", "read", True),
    ],
)
def test_who_may_do_what(role: str, action: str, allowed: bool) -> None:
    assert may(role, action) is allowed  # type: ignore[arg-type]
    assert set(ACTORS) == {"file", "add_evidence", "assess", "decide", "pay", "read"}
