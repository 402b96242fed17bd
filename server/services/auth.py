"""Users, roles, argon2 password hashes and expiring access tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from server.storage.schema import api_tokens, users

__all__ = ["ROLES", "AuthError", "Role", "User", "UserStore"]

Role = Literal["field_agent", "underwriter", "adjuster", "farmer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_HASHER = PasswordHasher()  # argon2id with the library's current parameters


class AuthError(Exception):
    """A user cannot be created or authenticated (the message says why)."""


@dataclass(frozen=True)
class User:
    """An API user: one role; a farmer also has the farmer id their records carry."""

    id: str
    username: str
    role: Role
    farmer_id: str | None


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class UserStore:
    """Users and tokens in the database."""

    def __init__(self, engine: Engine, token_ttl_s: int = 8 * 3600) -> None:
        self.engine = engine
        self.token_ttl = timedelta(seconds=token_ttl_s)

    def create(
        self, username: str, password: str, role: str, farmer_id: str | None = None
    ) -> User:
        """Create a user; the password is stored only as an argon2id hash.

        Raises:
            AuthError: unknown role, a farmer without farmer id, a short password,
                or a username already taken.
        """
        if role not in ROLES:
            raise AuthError(f"role {role!r}: use one of {', '.join(ROLES)}")
        if role == "farmer" and not farmer_id:
            raise AuthError("a farmer user needs the farmer id of their records")
        if len(password) < 10:
            raise AuthError("passwords have at least 10 characters")
        user = User(str(uuid.uuid4()), username, role, farmer_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(users).values(
                        id=user.id,
                        username=username,
                        password_hash=_HASHER.hash(password),
                        role=role,
                        farmer_id=farmer_id,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError as exc:
            raise AuthError(f"username {username!r} is taken") from exc
        return user

    def login(self, username: str, password: str) -> tuple[str, datetime]:
        """Check the password and issue a token; returns (token, expiry).

        Raises:
            AuthError: unknown user or wrong password (one message for both).
        """
        with self.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(
                select(users).where(users.c.username == username)
            ).first()
        try:
            if row is None:
                raise VerificationError("unknown user")
            _HASHER.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthError("wrong username or password") from exc
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self.token_ttl
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_hash=_token_hash(token), user_id=row.id, expires_at=expires
                )
            )
        return token, expires

    def user_for(self, token: str) -> User | None:
        """The user a live token belongs to, or None (unknown or expired)."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(
                select(users, api_tokens.c.expires_at)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == _token_hash(token))
            ).first()
        if row is None:
            return None
        expires = row.expires_at
        if expires.tzinfo is None:  # SQLite returns naive UTC
            expires = expires.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            return None
        return User(row.id, row.username, row.role, row.farmer_id)

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[User], int]:
        """Users by username, one page; (users, total)."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            total = conn.execute(select(func.count()).select_from(users)).scalar_one()
            rows = conn.execute(
                select(users).order_by(users.c.username).offset(offset).limit(limit)
            ).all()
        return [User(r.id, r.username, r.role, r.farmer_id) for r in rows], total

    def revoke(self, token: str) -> None:
        """Forget a token (logout)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(api_tokens).where(api_tokens.c.token_hash == _token_hash(token))
            )
