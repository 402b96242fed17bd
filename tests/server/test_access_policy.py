"""The one access policy (server/services/access.py): table tests, and that it is the only one."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pytest

from claims import ACTORS
from server.errors import ForbiddenError
from server.i18n import Lang, render_check
from server.services.access import (
    ACTIONS,
    STAFF,
    Action,
    Viewer,
    check_for,
    check_may_see,
    may_do,
    may_see,
    own_farmer,
    roles_for,
)
from server.services.auth import ROLES, User
from underwriting import Check

REPO = Path(__file__).resolve().parents[2]
ACCESS = REPO / "server/services/access.py"
# Where a viewer is checked: every module of the API, and the services that
# read for a viewer. They ask server/services/access.py and compare nothing.
GUARDED = sorted(
    [
        *(REPO / "server/http").rglob("*.py"),
        *(
            REPO / "server/services" / name
            for name in ("__init__.py", "photos.py", "maps.py", "history.py")
        ),
    ]
)

FARMER = Viewer("farmer", "F-1")


@dataclass(frozen=True)
class Record:
    farmer_id: str


# --- may_do: who may take each action ------------------------------------------------

A, U, J, G, F = "admin", "underwriter", "adjuster", "field_agent", "farmer"
EXPECTED: dict[str, set[str]] = {
    "read": {A, U, J, G, F},
    "users.manage": {A},
    "farmers.register": {A},
    "farmers.list": {A, U, J, G},
    "products.add": {A},
    "animals.enrol": {G},
    "applications.submit": {G},
    "applications.decide": {U},
    "photos.check": {G},
    "photos.evidence": {A, U, J, F},
    "devices.register": {G},
    "devices.list": {A, G},
    "devices.approve": {A},
    "devices.any_agent": {A},
    "notices.publish": {U, J},
    "notices.object": {A, U, J, G, F},
    "notices.resolve": {U, J},
    "claims.file": {G},
    "claims.add_evidence": {G},
    "claims.assess": {J},
    "claims.decide": {J},
    "claims.pay": {J},
    "claims.read": {A, J, G, F},
    "exports.read": {A, U, J},
    "reports.read": {A, U, J},
}


def test_every_action_has_its_roles() -> None:
    assert set(ACTIONS) == set(get_args(Action)) == set(EXPECTED)
    for action, roles in ACTIONS.items():
        assert set(roles) <= set(ROLES), action
        assert len(set(roles)) == len(roles), action


@pytest.mark.parametrize(
    ("role", "action"), [(r, a) for r in ROLES for a in get_args(Action)]
)
def test_may_do(role: str, action: Action) -> None:
    viewer = Viewer(role, "F-1" if role == F else None)
    assert may_do(viewer, action) is (role in EXPECTED[action])
    assert (role in roles_for(action)) is (role in EXPECTED[action])


def test_claim_actions_are_the_claim_lifecycle_s() -> None:
    for action, roles in ACTORS.items():
        assert roles_for(f"claims.{action}") == tuple(sorted(roles))  # type: ignore[arg-type]


def test_staff_is_every_role_but_farmer() -> None:
    assert set(STAFF) == set(ROLES) - {F}
    assert roles_for("farmers.list") == STAFF


def test_a_refusal_names_the_roles_in_a_fixed_order() -> None:
    """The 403's "allowed: ..." text is what it was before the policy moved."""
    assert roles_for("farmers.list") == (A, U, J, G)
    assert roles_for("photos.evidence") == (A, U, J, F)
    assert roles_for("devices.list") == (A, G)
    assert roles_for("claims.read") == (J, A, F, G)
    assert roles_for("read") == ROLES


# --- may_see: whose records ------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("owner", ["F-1", "F-2", None, Record("F-2")])
def test_staff_see_every_record(role: str, owner: str | Record | None) -> None:
    viewer = Viewer(role)
    assert may_see(viewer, owner)
    check_may_see(viewer, owner, "claim")
    assert own_farmer(viewer) is None


@pytest.mark.parametrize(
    ("owner", "seen"),
    [
        ("F-1", True),
        (Record("F-1"), True),
        ("F-2", False),
        (Record("F-2"), False),
        ("", False),
        (None, False),  # an unknown owner is nobody's
    ],
)
def test_a_farmer_sees_only_their_own(owner: str | Record | None, seen: bool) -> None:
    assert may_see(FARMER, owner) is seen
    if seen:
        check_may_see(FARMER, owner, "policy")
    else:
        with pytest.raises(ForbiddenError, match=r"^this policy is not yours$"):
            check_may_see(FARMER, owner, "policy")


def test_a_farmer_without_a_farmer_id_sees_nothing() -> None:
    lost = Viewer("farmer", None)
    assert not may_see(lost, None)
    assert not may_see(lost, "F-1")
    assert own_farmer(lost) == ""


def test_a_user_is_a_viewer() -> None:
    user = User("u1", "liu", "farmer", "F-1")
    assert may_see(user, Record("F-1")) and not may_see(user, Record("F-2"))
    assert may_do(user, "claims.read") and not may_do(user, "claims.file")
    assert own_farmer(user) == "F-1"


def test_a_list_is_narrowed_by_a_farmer_id_not_by_sql() -> None:
    """Stores take ``own_farmer(viewer)``; the policy itself builds no SQL condition."""
    assert own_farmer(FARMER) == "F-1"
    imported = {
        node.module
        for node in ast.walk(ast.parse(ACCESS.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in imported if m.split(".")[0] == "sqlalchemy"}


# --- the only place ----------------------------------------------------------------------


def _mentions_viewer_field(node: ast.AST) -> str | None:
    """``farmer_id`` or ``role`` when ``node`` reads one (an attribute, a name, a key)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ("farmer_id", "role"):
            return sub.attr
        if isinstance(sub, ast.Name) and sub.id == "farmer_id":
            return sub.id
        if isinstance(sub, ast.Constant) and sub.value == "farmer_id":
            return "farmer_id"
    return None


def _comparisons(path: Path) -> list[str]:
    """Each comparison in ``path`` that reads a farmer id or a role, as ``line: code``."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            _mentions_viewer_field(x) for x in (node.left, *node.comparators)
        ):
            found.append(f"{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


@pytest.mark.parametrize("path", GUARDED, ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_access_policy_compares_farmer_ids_and_roles(path: Path) -> None:
    """``viewer.role == "farmer"``, ``user.farmer_id != record.farmer_id``... live in access.py."""
    found = _comparisons(path)
    assert not found, (
        f"{path.relative_to(REPO)} compares a farmer id or a role: ask "
        f"server.services.access (may_see, check_may_see, own_farmer, may_do) "
        f"instead: {found}"
    )


@pytest.mark.parametrize("path", GUARDED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_second_policy(path: Path) -> None:
    """No module keeps its own STAFF, ``_own`` or ``_may_see``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.name not in ("_own", "_may_see"), f"{path}:{node.lineno}"
        if isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            assert not names & {"STAFF", "staff"}, f"{path}:{node.lineno}"


def test_the_architecture_test_sees_a_comparison(tmp_path: Path) -> None:
    """The scan above finds the spellings it forbids (and access.py has them)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(user, record, row):\n"
        "    if user.role == 'farmer' and user.farmer_id != record.farmer_id:\n"
        "        return 1\n"
        "    return row['farmer_id'] == farmer_id\n"
    )
    assert len(_comparisons(bad)) == 3
    assert _comparisons(ACCESS)


# --- what a farmer reads of checks that name other farmers' records --------------------


def _double_insurance(owner: str) -> Check:
    return Check(
        "double_insurance",
        "red",
        "double_insurance.plot",
        {"count": 1},
        "AT-0002",
        (
            Check(
                "double_insurance",
                "red",
                "double_insurance.insured_plot",
                {"policy": "c1dc37d9", "farmer": owner, "ha": 0.4, "share": 0.35},
                "AT-0001",
            ),
        ),
    )


OTHERS_CHECKS = [
    _double_insurance("F-1"),
    Check(
        "identity",
        "red",
        "identity.other_farm",
        {"score": 0.41, "basis": "session", "best": "CN-777", "best_score": 0.83},
        "CN-123",
    ),
    Check(
        "photo_reuse",
        "red",
        "photo_reuse.found",
        {"count": 1},
        None,
        (
            Check(
                "photo_reuse", "red", "photo_reuse.in_claim", {"record": "C-F1"}, "p1"
            ),
        ),
    ),
    Check(
        "animal", "red", "animal.duplicate", {"match": "CN-777", "farm": "F-1"}, "CN-9"
    ),
    Check(
        "animal", "amber", "animal.review", {"match": "CN-777", "farm": "F-1"}, "CN-9"
    ),
    Check("animal", "red", "animal.other_farm", {"farm": "F-1"}, "CN-9"),
]


@pytest.mark.parametrize("check", OTHERS_CHECKS, ids=lambda c: c.message)
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_farmer_reads_no_other_farmers_ids_in_a_check(
    check: Check, lang: Lang
) -> None:
    farmer = Viewer("farmer", "F-2")
    seen = check_for(farmer, check)
    words = render_check(seen, lang)
    shown = json.dumps([words, _params(seen)], ensure_ascii=False)
    for other in ("F-1", "CN-777", "C-F1", "AT-0001", "c1dc37d9"):
        assert other not in shown, (other, shown)
    assert seen.code == check.code and seen.light == check.light
    assert render_check(check_for(Viewer("adjuster"), check), lang) == render_check(
        check, lang
    )  # staff read it whole


def test_a_check_naming_the_farmers_own_record_is_kept() -> None:
    own = _double_insurance("F-2")
    assert check_for(Viewer("farmer", "F-2"), own) == own
    assert "AT-0001" in render_check(check_for(Viewer("farmer", "F-2"), own), "en")


def _params(check: Check) -> list[object]:
    return [dict(check.params), check.subject, *(_params(d) for d in check.details)]
