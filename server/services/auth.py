"""Users, roles, argon2 password hashes, expiring access tokens and the login rate limit.

Login takes the same time whether or not the username exists (an unknown user's
password is verified against a dummy argon2 hash). Failed logins are counted in
the database, so every API worker applies the same progressive delay
(:class:`LoginLimits`): per client (a device cookie issued at a successful
login, else the address) and per username for clients without its cookie. A
device that logged in before is never held off by anyone else's failures.

An admin disables, enables, re-roles a user and resets their password
(:class:`UserAdmin`), each change with its ledger event in one transaction
(``user.disabled``, ``user.enabled``, ``user.role_changed``,
``user.password_reset``; never a password or its hash). A disabled user's
tokens are deleted and :meth:`UserStore.user_for` refuses any token of a
disabled user, so they stop at once; a password reset deletes every token too.
A disabled user who logs in with the right password is told the account is
disabled (:class:`DisabledUserError`); with a wrong one they get the answer
every wrong password gets, so only the password's holder learns the state. A
role change takes effect at the user's next request (the role is read with
the token), without a new login. The last active admin cannot be disabled or
given another role.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine

from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.services.ledger import LedgerService
from server.services.work import reading
from server.storage.locks import lock
from server.storage.users_store import UserRow, UserRows

__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "AuthError",
    "DisabledUserError",
    "LoginLimits",
    "Role",
    "TooManyAttemptsError",
    "UnknownFarmerError",
    "User",
    "UserAdmin",
    "UserStore",
]

Role = Literal["field_agent", "underwriter", "adjuster", "farmer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_DISABLED = "this account is disabled: ask an administrator"
_HASHER = PasswordHasher()  # argon2id with the library's current parameters
MIN_PASSWORD = 10
"""The fewest characters a password has (new users and password resets)."""
_ADMINS_LOCK = "users:admins"  # taken by every change that could leave no admin


class AuthError(Exception):
    """A user cannot be created or authenticated (the message says why).

    Attributes:
        field: the input at fault (``username``, ``role``...), when one is.
    """

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class UnknownFarmerError(AuthError):
    """A farmer user names a farmer id that is not registered (``field``: ``farmer_id``)."""

    field = "farmer_id"


class DisabledUserError(AuthError):
    """The password is right but an admin has disabled the account (the API answers 403)."""


class TooManyAttemptsError(AuthError):
    """Too many failed logins from this address (for this username): wait and retry.

    Attributes:
        retry_after_s: seconds until one more attempt is allowed (>= 1).
    """

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginLimits:
    """How failed logins slow the next attempts (a progressive delay, never a lockout).

    A client is a device cookie of the username it is for (issued at a
    successful login) or, without one, the client's address. After its free
    failures within the window (``free_failures`` for a device,
    ``free_failures_per_address`` for an address, which many people may
    share), a client's next attempt must wait ``min(delay_cap_s, 2 ** (n -
    free))`` seconds after its newest failure, ``n`` being its failures in the
    window. Clients without
    the username's device cookie are, together, a second client of the
    username (``free_failures_per_user`` free failures): guessing spread over
    many addresses is slowed the same way. A login with the username's device
    cookie is delayed only by that device's own failures, so nobody else, from
    the same address or any other, can hold the real user off.

    Attributes:
        free_failures: failures a device may make within the window before
            each further attempt is delayed.
        free_failures_per_address: the same for an address (any username).
        free_failures_per_user: failures on one username from clients without
            its device cookie before their attempts are delayed.
        delay_cap_s: the longest delay, in seconds.
        window_s: the window, in seconds; a failure older than this is forgotten.
        devices_kept: device cookies remembered per user (the newest).
    """

    free_failures: int = 5
    free_failures_per_address: int = 20
    free_failures_per_user: int = 20
    delay_cap_s: int = 300
    window_s: int = 900
    devices_kept: int = 20

    def delay_s(self, failures: int, free: int) -> float:
        """Seconds to wait after the newest of ``failures`` failures (0: none)."""
        if failures < free:
            return 0.0
        return float(min(self.delay_cap_s, 2 ** min(failures - free, 30)))


_DEVICE_KEY = "d:"  # failures of a device cookie are kept under "d:" + its hash


def _device_key(device_hash: bytes) -> str:
    return _DEVICE_KEY + device_hash.hex()[:32]


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that path costs one
    # argon2 verification too and timing does not tell which usernames exist.
    return _HASHER.hash(secrets.token_urlsafe(24))


@dataclass(frozen=True)
class User:
    """An API user: one role; a farmer also has the farmer id their records carry.

    ``disabled_at``: when an admin disabled the user (None: active).
    """

    id: str
    username: str
    role: Role
    farmer_id: str | None
    disabled_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        """Whether an admin has disabled the user."""
        return self.disabled_at is not None


def _public(row: UserRow) -> User:
    """A stored user as the API knows them (no hash)."""
    role: Role = row.role  # type: ignore[assignment]  # the store keeps ROLES only
    return User(row.id, row.username, role, row.farmer_id, row.disabled_at)


def _username_problem(username: str) -> str | None:
    """Why a new username is refused, or None (it is shown on pages and in the ledger)."""
    if not username.strip():
        return "username: must not be blank"
    if len(username) > 64:
        return "username: at most 64 characters"
    if username != username.strip():
        return "username: no spaces at its start or end"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in username):
        return "username: no control characters"
    return None


def _password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"passwords have at least {MIN_PASSWORD} characters"
    return None


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class UserStore:
    """Users and tokens in the database."""

    def __init__(
        self,
        engine: Engine,
        token_ttl_s: int = 8 * 3600,
        limits: LoginLimits | None = None,
    ) -> None:
        self.engine = engine
        self.token_ttl = timedelta(seconds=token_ttl_s)
        self.limits = limits or LoginLimits()
        self.rows = UserRows()
        _dummy_hash()  # hashed now, so that no login pays for it

    def create(
        self,
        username: str,
        password: str,
        role: str,
        farmer_id: str | None = None,
        *,
        farmer_registered: Callable[[str], bool] | None = None,
    ) -> User:
        """Create a user; the password is stored only as an argon2id hash.

        Args:
            username: unique, as the user logs in.
            password: at least 10 characters.
            role: one of :data:`ROLES`.
            farmer_id: for a farmer, the farmer id their records carry.
            farmer_registered: whether a farmer id is registered; given, a farmer
                user must name a registered farmer (the CLI and the API pass it).

        Raises:
            UnknownFarmerError: a farmer user whose farmer id ``farmer_registered``
                does not know.
            AuthError: unknown role, a farmer without farmer id, a short password,
                or a username already taken.
        """
        problem = _username_problem(username)
        if problem:
            raise AuthError(problem, field="username")
        if role not in ROLES:
            raise AuthError(
                f"role {role!r}: use one of {', '.join(ROLES)}", field="role"
            )
        if role == "farmer" and not farmer_id:
            raise AuthError(
                "a farmer user needs the farmer id of their records", field="farmer_id"
            )
        if role != "farmer" and farmer_id:
            raise AuthError(
                f"role {role}: only a farmer user has a farmer id", field="farmer_id"
            )
        problem = _password_problem(password)
        if problem:
            raise AuthError(problem, field="password")
        if (
            role == "farmer"
            and farmer_id
            and farmer_registered is not None
            and not farmer_registered(farmer_id)
        ):
            raise UnknownFarmerError(
                f"farmer id {farmer_id!r} is not registered: register the farmer "
                "first, then their user"
            )
        user = User(str(uuid.uuid4()), username, role, farmer_id)
        row = UserRow(user.id, username, role, farmer_id, _HASHER.hash(password))
        try:
            with self.engine.begin() as conn:
                self.rows.insert_user(conn, row, datetime.now(UTC))
        except ConflictError as exc:
            raise AuthError(str(exc), field="username") from exc
        return user

    def login(
        self,
        username: str,
        password: str,
        address: str = "unknown",
        device: str | None = None,
    ) -> tuple[str, datetime, str]:
        """Check the password and issue a token; returns (token, expiry, device cookie).

        Takes one argon2 verification whether or not ``username`` exists. A
        failure is recorded for the client (``device`` when it is a device
        cookie of ``username``, else ``address``); a success forgets that
        client's failures on ``username`` and returns a device cookie for it
        (``device`` itself when it was valid, else a new one). See
        :class:`LoginLimits` for the delays. Concurrent attempts may each pass
        the delay check before any failure is recorded, so a client can make
        as many attempts at once as it has requests in flight.

        Args:
            username: as typed (at most 64 characters are kept).
            password: as typed.
            address: the client's address (IP).
            device: the device cookie the client sent, if any (any string:
                one that was not issued for ``username`` is ignored).

        Raises:
            TooManyAttemptsError: the client must wait; nothing was checked.
            DisabledUserError: the password is right, the user disabled (not
                counted as a failure).
            AuthError: unknown user or wrong password (one message for both),
                also when the password was reset while it was being checked.
        """
        username = username[:64]
        address = address[:64]
        now = datetime.now(UTC)
        device_hash = _token_hash(device[:128]) if device else None
        with reading(self.engine) as conn:
            row = self.rows.by_username(conn, username)
            trusted = (
                row is not None
                and device_hash is not None
                and self.rows.device_user(conn, device_hash) == row.id
            )
            client = _device_key(device_hash) if trusted and device_hash else address
            retry_after = self._retry_after(conn, username, client, trusted, now)
        if retry_after:
            raise TooManyAttemptsError(
                f"too many failed logins: try again in {retry_after} s",
                retry_after_s=retry_after,
            )
        try:
            _HASHER.verify(row.password_hash if row else _dummy_hash(), password)
            if row is None:  # the dummy hash's password is random: never here
                raise VerificationError("unknown user")
        except (VerificationError, InvalidHashError) as exc:
            self._record_failure(username, client, now)
            raise AuthError("wrong username or password") from exc
        if row.disabled_at is not None:
            raise DisabledUserError(_DISABLED)
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self.token_ttl
        cookie = device if trusted and device else secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            # Read again under a share lock: a reset or a disabling that
            # committed while argon2 ran must not get a token issued after it.
            now_row = self.rows.by_id_for_share(conn, row.id)
            if now_row is None or now_row.password_hash != row.password_hash:
                raise AuthError("wrong username or password")
            if now_row.disabled_at is not None:
                raise DisabledUserError(_DISABLED)
            self.rows.insert_token(conn, _token_hash(token), row.id, expires)
            self.rows.forget_failures(conn, username, client)
            if not trusted:
                self.rows.insert_device(
                    conn, _token_hash(cookie), row.id, now, self.limits.devices_kept
                )
        return token, expires, cookie

    def _retry_after(
        self,
        conn: Connection,
        username: str,
        client: str,
        trusted: bool,
        now: datetime,
    ) -> int:
        """Seconds until ``client`` may try ``username`` again; 0 if it may now."""
        limits = self.limits
        since = now - timedelta(seconds=limits.window_s)
        counts = [
            # the client itself, whatever usernames it tried
            (
                self.rows.failures(conn, username=None, address=client, since=since),
                limits.free_failures if trusted else limits.free_failures_per_address,
            )
        ]
        if not trusted:  # every client without the username's device cookie
            counts.append(
                (
                    self.rows.failures(
                        conn,
                        username=username,
                        address=None,
                        since=since,
                        without_prefix=_DEVICE_KEY,
                    ),
                    limits.free_failures_per_user,
                )
            )
        wait = 0.0
        for (failures, newest), free in counts:
            if newest is not None:
                until = newest + timedelta(seconds=limits.delay_s(failures, free))
                wait = max(wait, (until - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def _record_failure(self, username: str, client: str, now: datetime) -> None:
        """Record a failed login of ``client`` and forget failures older than the window."""
        since = now - timedelta(seconds=self.limits.window_s)
        with self.engine.begin() as conn:
            self.rows.record_failure(conn, username, client, now, since)

    def user_for(self, token: str) -> User | None:
        """The user a live token belongs to, or None (unknown, expired, or the user disabled)."""
        with reading(self.engine) as conn:
            found = self.rows.by_token(conn, _token_hash(token))
        if found is None:
            return None
        row, expires = found
        if expires <= datetime.now(UTC) or row.disabled_at is not None:
            return None
        return _public(row)

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[User], int]:
        """Users by username, one page; (users, total)."""
        with reading(self.engine) as conn:
            rows, total = self.rows.page(conn, offset, limit)
        return [_public(r) for r in rows], total

    def revoke(self, token: str) -> None:
        """Forget a token (logout)."""
        with self.engine.begin() as conn:
            self.rows.delete_token(conn, _token_hash(token))


class UserAdmin:
    """What an admin does to users: disable, enable, change the role, reset the password.

    Each change and its ledger event (subject ``user``: the username; actor:
    the admin) are written in one transaction; an operation that changes
    nothing (disabling a disabled user, giving the role a user has) appends
    nothing. Every refusal is a :class:`~server.errors.ServiceError` naming
    the field: ``username`` (unknown: 404; the last active admin: 409),
    ``role``, ``farmer_id`` or ``password`` (422).

    Args:
        ledger: the ledger, on the users' database.
        farmer_registered: whether a farmer id is registered; given, a farmer
            must name a registered farmer (the CLI and the API pass it).
    """

    def __init__(
        self,
        ledger: LedgerService,
        *,
        farmer_registered: Callable[[str], bool] | None = None,
    ) -> None:
        self.ledger = ledger
        self.rows = UserRows()
        self.farmer_registered = farmer_registered

    def user(self, username: str) -> User:
        """The user called ``username``.

        Raises:
            NotFoundError: no such user (field ``username``).
        """
        with reading(self.ledger.store.engine) as conn:
            row = self.rows.by_username(conn, username)
        if row is None:
            raise _unknown(username)
        return _public(row)

    def disable(
        self, username: str, actor: str, *, conn: Connection | None = None
    ) -> User:
        """Disable the user: no login, and every token of theirs ends now.

        Disabling a disabled user changes nothing.

        Raises:
            NotFoundError: no such user.
            ConflictError: the user is the last active admin.
        """
        with self.ledger.transaction(conn) as c:
            row = self._target(c, username)
            if row.disabled_at is not None:
                return _public(row)
            self._keep_an_admin(c, row, "disable")
            when = datetime.now(UTC)
            self.rows.set_disabled(c, row.id, when)
            revoked = self.rows.delete_tokens_of(c, row.id)
            self._event(c, "user.disabled", row, actor, tokens_revoked=revoked)
            return _public(_replace(row, disabled_at=when))

    def enable(
        self, username: str, actor: str, *, conn: Connection | None = None
    ) -> User:
        """Enable a disabled user again: they log in anew (their old tokens are gone).

        Enabling an active user changes nothing.

        Raises:
            NotFoundError: no such user.
        """
        with self.ledger.transaction(conn) as c:
            row = self._target(c, username)
            if row.disabled_at is None:
                return _public(row)
            self.rows.set_disabled(c, row.id, None)
            self._event(c, "user.enabled", row, actor)
            return _public(_replace(row, disabled_at=None))

    def set_role(
        self,
        username: str,
        role: str,
        farmer_id: str | None,
        actor: str,
        *,
        conn: Connection | None = None,
    ) -> User:
        """Give the user ``role``; a farmer names the registered farmer of their records.

        The new role applies from the user's next request. A staff role takes
        no farmer id (a former farmer's is cleared). The role and farmer id the
        user has already change nothing.

        Raises:
            NotFoundError: no such user.
            InvalidInputError: an unknown role (field ``role``), a farmer
                without a registered farmer id, or a farmer id for staff
                (field ``farmer_id``).
            ConflictError: the user is the last active admin and ``role`` is
                another.
        """
        if role not in ROLES:
            raise InvalidInputError(
                f"role {role!r}: use one of {', '.join(ROLES)}", field="role"
            )
        farmer_id = (farmer_id or "").strip() or None
        if role == "farmer":
            if farmer_id is None:
                raise InvalidInputError(
                    "a farmer user needs the farmer id of their records",
                    field="farmer_id",
                )
            if self.farmer_registered is not None and not self.farmer_registered(
                farmer_id
            ):
                raise InvalidInputError(
                    f"farmer id {farmer_id!r} is not registered: register the "
                    "farmer first, then give the user the role",
                    field="farmer_id",
                )
        elif farmer_id is not None:
            raise InvalidInputError(
                f"only a farmer user has a farmer id, not role {role}",
                field="farmer_id",
            )
        with self.ledger.transaction(conn) as c:
            row = self._target(c, username)
            if (row.role, row.farmer_id) == (role, farmer_id):
                return _public(row)
            if role != "admin":
                self._keep_an_admin(c, row, "give another role to")
            self.rows.set_role(c, row.id, role, farmer_id)
            payload: dict[str, str | None] = {
                "role": role,
                "previous_role": row.role,
            }
            if farmer_id is not None or row.farmer_id is not None:
                payload["farmer_id"] = farmer_id
                payload["previous_farmer_id"] = row.farmer_id
            self._event(c, "user.role_changed", row, actor, **payload)
            return _public(_replace(row, role=role, farmer_id=farmer_id))

    def reset_password(
        self,
        username: str,
        new_password: str,
        actor: str,
        *,
        conn: Connection | None = None,
    ) -> User:
        """Set a new password (the rules of new users); every token of the user ends.

        A disabled user stays disabled. The event names neither the password
        nor its hash.

        Raises:
            NotFoundError: no such user.
            InvalidInputError: the password breaks a rule (field ``password``).
        """
        problem = _password_problem(new_password)
        if problem:
            raise InvalidInputError(problem, field="password")
        new_hash = _HASHER.hash(new_password)  # outside the transaction: slow
        with self.ledger.transaction(conn) as c:
            row = self._target(c, username)
            self.rows.set_password_hash(c, row.id, new_hash)
            revoked = self.rows.delete_tokens_of(c, row.id)
            self.rows.delete_devices_of(c, row.id)
            self._event(c, "user.password_reset", row, actor, tokens_revoked=revoked)
            return _public(row)

    def _target(self, conn: Connection, username: str) -> UserRow:
        """The user to change, locked until the transaction ends."""
        # Any change that could leave no active admin runs alone.
        lock(conn, _ADMINS_LOCK)
        row = self.rows.by_username(conn, username, for_update=True)
        if row is None:
            raise _unknown(username)
        return row

    def _keep_an_admin(self, conn: Connection, row: UserRow, verb: str) -> None:
        """Refuse a change that would leave no active admin."""
        if row.role != "admin" or row.disabled_at is not None:
            return
        if self.rows.count_active_admins(conn) <= 1:
            raise ConflictError(
                f"{row.username} is the last active admin: make another user "
                f"admin before you {verb} them",
                field="username",
            )

    def _event(
        self, conn: Connection, kind: str, row: UserRow, actor: str, **payload: Any
    ) -> None:
        self.ledger.record(conn, kind, {"user": row.username}, actor, payload)


def _unknown(username: str) -> NotFoundError:
    return NotFoundError(f"user {username!r} is not known", field="username")


def _replace(row: UserRow, **changes: Any) -> UserRow:
    return dataclasses.replace(row, **changes)
