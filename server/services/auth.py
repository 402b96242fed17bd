"""Users, roles, argon2 password hashes, expiring access tokens and the login rate limit.

Login takes the same time whether or not the username exists (an unknown user's
password is verified against a dummy argon2 hash), and failed logins are counted
in the database, per username and client address and per address, so every API
worker applies one limit (:class:`LoginLimits`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine

from server.errors import ConflictError
from server.services.work import reading
from server.storage.users_store import UserRow, UserRows

__all__ = [
    "ROLES",
    "AuthError",
    "LoginLimits",
    "Role",
    "TooManyAttemptsError",
    "UnknownFarmerError",
    "User",
    "UserStore",
]

Role = Literal["field_agent", "underwriter", "adjuster", "farmer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_HASHER = PasswordHasher()  # argon2id with the library's current parameters


class AuthError(Exception):
    """A user cannot be created or authenticated (the message says why)."""


class UnknownFarmerError(AuthError):
    """A farmer user names a farmer id that is not registered (``field``: ``farmer_id``)."""

    field = "farmer_id"


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
    """How many failed logins are allowed within a sliding window.

    Attributes:
        max_failures: failures per (username, client address) within the window.
        max_failures_per_address: failures per client address, any username.
        max_failures_per_user: failures per username, from any address: it bounds
            guessing spread over many addresses (at the price that anyone can hold
            a username off for one window by failing on purpose).
        window_s: the window, in seconds; a failure older than this is forgotten.
    """

    max_failures: int = 5
    max_failures_per_address: int = 50
    window_s: int = 900
    max_failures_per_user: int = 20


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that path costs one
    # argon2 verification too and timing does not tell which usernames exist.
    return _HASHER.hash(secrets.token_urlsafe(24))


@dataclass(frozen=True)
class User:
    """An API user: one role; a farmer also has the farmer id their records carry."""

    id: str
    username: str
    role: Role
    farmer_id: str | None


def _public(row: UserRow) -> User:
    """A stored user as the API knows them (no hash)."""
    return User(row.id, row.username, row.role, row.farmer_id)  # type: ignore[arg-type]


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
        if role not in ROLES:
            raise AuthError(f"role {role!r}: use one of {', '.join(ROLES)}")
        if role == "farmer" and not farmer_id:
            raise AuthError("a farmer user needs the farmer id of their records")
        if len(password) < 10:
            raise AuthError("passwords have at least 10 characters")
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
            raise AuthError(str(exc)) from exc
        return user

    def login(
        self, username: str, password: str, address: str = "unknown"
    ) -> tuple[str, datetime]:
        """Check the password and issue a token; returns (token, expiry).

        Takes one argon2 verification whether or not ``username`` exists. A
        failure is recorded for (``username``, ``address``); a success forgets
        that pair's failures. Concurrent attempts may each pass the limit check
        before any is recorded, so the limit can be exceeded by the number of
        requests in flight at once.

        Args:
            username: as typed (at most 64 characters are kept).
            password: as typed.
            address: the client's address (IP), for the rate limit.

        Raises:
            TooManyAttemptsError: the rate limit is reached; nothing was checked.
            AuthError: unknown user or wrong password (one message for both).
        """
        username = username[:64]
        address = address[:64]
        now = datetime.now(UTC)
        with reading(self.engine) as conn:
            retry_after = self._retry_after(conn, username, address, now)
            row = None if retry_after else self.rows.by_username(conn, username)
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
            self._record_failure(username, address, now)
            raise AuthError("wrong username or password") from exc
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self.token_ttl
        with self.engine.begin() as conn:
            self.rows.insert_token(conn, _token_hash(token), row.id, expires)
            self.rows.forget_failures(conn, username, address)
        return token, expires

    def _retry_after(
        self, conn: Connection, username: str, address: str, now: datetime
    ) -> int:
        """Seconds until the next attempt is allowed; 0 if it is allowed now."""
        since = now - timedelta(seconds=self.limits.window_s)
        waits = [0.0]
        for who, where, most in (
            (username, address, self.limits.max_failures),
            (None, address, self.limits.max_failures_per_address),
            (username, None, self.limits.max_failures_per_user),
        ):
            # The most-th newest failure in the window: once it ages out, one more try.
            oldest_counted = self.rows.nth_newest_failure(
                conn, username=who, address=where, since=since, n=most
            )
            if oldest_counted is not None:
                waits.append((oldest_counted - since).total_seconds())
        wait = max(waits)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def _record_failure(self, username: str, address: str, now: datetime) -> None:
        """Record a failed login and forget failures older than the window."""
        since = now - timedelta(seconds=self.limits.window_s)
        with self.engine.begin() as conn:
            self.rows.record_failure(conn, username, address, now, since)

    def user_for(self, token: str) -> User | None:
        """The user a live token belongs to, or None (unknown or expired)."""
        with reading(self.engine) as conn:
            found = self.rows.by_token(conn, _token_hash(token))
        if found is None:
            return None
        row, expires = found
        if expires <= datetime.now(UTC):
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
