"""``agri users``: API users, their roles and passwords, and whether they may log in.

``add`` creates a user and ``list`` prints them all; ``disable`` stops a
user's login and every token of theirs at once, ``enable`` lets them log in
again; ``role`` gives another role (a farmer names a registered farmer);
``passwd`` sets a new password (prompted twice, or read from a file) and ends
every token of the user. Each of the last four appends its ledger event
(``user.disabled``, ``user.enabled``, ``user.role_changed``,
``user.password_reset``; never the password). The last active admin cannot be
disabled or given another role.

Exit codes: 0 success, 2 input refused (one line: ``Error: ...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from server.cli.common import app_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.context import AppContext
    from server.services.auth import User, UserAdmin

__all__ = ["users"]

ROLE_NAMES = ("field_agent", "underwriter", "adjuster", "farmer", "admin")


class Refused(click.ClickException):
    """Input the command refuses: one line to stderr (``Error: ...``), exit code 2."""

    exit_code = 2


def _echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _registered(app: AppContext) -> Callable[[str], bool]:
    """Whether a farmer id is registered in ``app``'s database."""
    from server.errors import NotFoundError

    def registered(farmer_id: str) -> bool:
        try:
            app.underwriting.farmer(farmer_id)
        except NotFoundError:
            return False
        return True

    return registered


def _admin(ctx: click.Context) -> UserAdmin:
    from server.services.auth import UserAdmin

    app = app_context(ctx)
    return UserAdmin(app.ledger, farmer_registered=_registered(app))


def _user_doc(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "farmer_id": user.farmer_id,
        "disabled": user.disabled,
    }


def _run(change: Callable[[], User]) -> None:
    """Make the change and print the user as it is now; a refusal is one line, exit 2."""
    from server.errors import ServiceError

    try:
        user = change()
    except ServiceError as exc:
        raise Refused(str(exc)) from exc
    _echo_json(_user_doc(user))


_ACTOR = click.option(
    "--actor",
    default="operator",
    show_default=True,
    help="Who makes the change (named on the ledger event).",
)


@click.group()
def users() -> None:
    """API users: add, list, disable, enable, change the role, reset the password."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True)
@click.option(
    "--farmer-id",
    help="For farmers: the id of a registered farmer (their records carry it).",
)
@click.password_option(
    envvar="AGRI_NEW_PASSWORD", help="The password (prompted if not given)."
)
@click.pass_context
def users_add(
    ctx: click.Context, username: str, role: str, farmer_id: str | None, password: str
) -> None:
    """Create an API user (the password is stored as an argon2id hash)."""
    from server.services.auth import AuthError, UserStore

    app = app_context(ctx)
    try:
        user = UserStore(app.engine).create(
            username, password, role, farmer_id, farmer_registered=_registered(app)
        )
    except AuthError as exc:
        raise Refused(str(exc)) from exc
    _echo_json({"id": user.id, "username": user.username, "role": user.role})


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Print every user by name (JSON: username, role, farmer_id, disabled)."""
    from server.services.auth import UserStore

    store = UserStore(app_context(ctx).engine)
    found: list[dict[str, Any]] = []
    while True:
        page, total = store.list(offset=len(found), limit=500)
        found += [_user_doc(u) for u in page]
        if not page or len(found) >= total:
            break
    _echo_json(found)


@users.command("disable")
@click.argument("username")
@_ACTOR
@click.pass_context
def users_disable(ctx: click.Context, username: str, actor: str) -> None:
    """Disable USERNAME: no login, and every token of theirs is refused at once."""
    admin = _admin(ctx)
    _run(lambda: admin.disable(username, actor))


@users.command("enable")
@click.argument("username")
@_ACTOR
@click.pass_context
def users_enable(ctx: click.Context, username: str, actor: str) -> None:
    """Enable USERNAME again: they may log in (anew: their old tokens are gone)."""
    admin = _admin(ctx)
    _run(lambda: admin.enable(username, actor))


@users.command("role")
@click.argument("username")
@click.argument("role", metavar="ROLE")
@click.option(
    "--farmer-id",
    help="With ROLE farmer: the id of a registered farmer (their records carry it).",
)
@_ACTOR
@click.pass_context
def users_role(
    ctx: click.Context, username: str, role: str, farmer_id: str | None, actor: str
) -> None:
    """Give USERNAME the role ROLE (field_agent, underwriter, adjuster, farmer, admin).

    The new role applies from the user's next request. A farmer needs
    --farmer-id; other roles take none.
    """
    admin = _admin(ctx)
    _run(lambda: admin.set_role(username, role, farmer_id, actor))


@users.command("passwd")
@click.argument("username")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the new password from this file (its first line); else prompted twice.",
)
@_ACTOR
@click.pass_context
def users_passwd(
    ctx: click.Context, username: str, password_file: Path | None, actor: str
) -> None:
    """Set a new password for USERNAME (at least 10 characters); their tokens end now."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise Refused(f"--password-file {password_file}: {reason}") from exc
        password = text.splitlines()[0] if text else ""
    else:
        password = click.prompt(
            "New password", hide_input=True, confirmation_prompt=True
        )
    admin = _admin(ctx)
    _run(lambda: admin.reset_password(username, password, actor))
