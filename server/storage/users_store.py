"""The SQL of users, tokens, login devices and failed logins (the rules: ``server.services.auth``).

Tokens are kept only as their SHA-256; passwords only as argon2 hashes (made
by the caller). Every function runs on the caller's connection. A disabled
user keeps their row (``disabled_at`` set): their name stays on the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from server.errors import ConflictError
from server.storage.schema import api_tokens, login_devices, login_failures, users
from server.storage.unique import insert_or_conflict

__all__ = ["UserRow", "UserRows"]


# Built once: every authenticated request runs it (building a statement and its
# cache key costs more than SQLite's lookup).
_BY_TOKEN = (
    select(users, api_tokens.c.expires_at)
    .join(api_tokens, api_tokens.c.user_id == users.c.id)
    .where(api_tokens.c.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class UserRow:
    """A stored user: id, username, role, farmer id (farmers only), argon2 hash.

    ``disabled_at``: when an admin disabled the user; None while active.
    """

    id: str
    username: str
    role: str
    farmer_id: str | None
    password_hash: str
    disabled_at: datetime | None = None


def _user(row: Any) -> UserRow:
    return UserRow(
        row.id,
        row.username,
        row.role,
        row.farmer_id,
        row.password_hash,
        row.disabled_at,
    )


class UserRows:
    """Users, tokens and failed logins."""

    def insert_user(
        self, conn: Connection, user: UserRow, created_at: datetime
    ) -> None:
        """Store a user.

        Raises:
            ConflictError: the username is taken (field ``username``).
        """
        insert_or_conflict(
            conn,
            insert(users).values(
                id=user.id,
                username=user.username,
                password_hash=user.password_hash,
                role=user.role,
                farmer_id=user.farmer_id,
                created_at=created_at,
            ),
            ConflictError(f"username {user.username!r} is taken", field="username"),
        )

    def by_username(
        self, conn: Connection, username: str, *, for_update: bool = False
    ) -> UserRow | None:
        """The user called ``username``, or None.

        With ``for_update`` the row stays locked until the transaction ends
        (PostgreSQL ``FOR UPDATE``; SQLite's write transactions run alone).
        """
        query = select(users).where(users.c.username == username)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return _user(row) if row is not None else None

    def by_id_for_share(self, conn: Connection, user_id: str) -> UserRow | None:
        """The user ``user_id``, share-locked until the transaction ends (``FOR SHARE``).

        A login reads it again so in the transaction that stores its token:
        a password reset or a disabling that commits meanwhile is seen (the
        lock waits for it), and one that starts meanwhile waits for the token
        and then deletes it.
        """
        row = conn.execute(
            select(users).where(users.c.id == user_id).with_for_update(read=True)
        ).first()
        return _user(row) if row is not None else None

    def by_token(
        self, conn: Connection, token_hash: bytes
    ) -> tuple[UserRow, datetime] | None:
        """The user a token (by its hash) belongs to and the token's expiry, or None."""
        row = conn.execute(_BY_TOKEN, {"token_hash": token_hash}).first()
        return (_user(row), row.expires_at) if row is not None else None

    def page(
        self, conn: Connection, offset: int, limit: int
    ) -> tuple[list[UserRow], int]:
        """Users by username: one page and the total."""
        total = conn.execute(select(func.count()).select_from(users)).scalar_one()
        rows = conn.execute(
            select(users).order_by(users.c.username).offset(offset).limit(limit)
        ).all()
        return [_user(r) for r in rows], int(total)

    def active_admin_hashes(
        self, conn: Connection, limit: int
    ) -> list[tuple[str, str]]:
        """(username, argon2 hash) of the first ``limit`` active admins by username."""
        rows = conn.execute(
            select(users.c.username, users.c.password_hash)
            .where(users.c.role == "admin", users.c.disabled_at.is_(None))
            .order_by(users.c.username)
            .limit(limit)
        ).all()
        return [(r.username, r.password_hash) for r in rows]

    def count_active_admins(self, conn: Connection) -> int:
        """How many users are admins and not disabled."""
        found = conn.execute(
            select(func.count())
            .select_from(users)
            .where(users.c.role == "admin", users.c.disabled_at.is_(None))
        ).scalar_one()
        return int(found)

    def set_disabled(
        self, conn: Connection, user_id: str, disabled_at: datetime | None
    ) -> None:
        """Disable the user since ``disabled_at``, or enable them (None)."""
        conn.execute(
            update(users).where(users.c.id == user_id).values(disabled_at=disabled_at)
        )

    def set_role(
        self, conn: Connection, user_id: str, role: str, farmer_id: str | None
    ) -> None:
        """Give the user ``role`` (and ``farmer_id``: a farmer's, else None)."""
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(role=role, farmer_id=farmer_id)
        )

    def set_password_hash(
        self, conn: Connection, user_id: str, password_hash: str
    ) -> None:
        """Replace the user's argon2 hash."""
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash)
        )

    def delete_tokens_of(self, conn: Connection, user_id: str) -> int:
        """Forget every token of ``user_id``; how many there were (expired ones too)."""
        done = conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
        return int(done.rowcount)

    def insert_token(
        self, conn: Connection, token_hash: bytes, user_id: str, expires_at: datetime
    ) -> None:
        """Store a token (its hash) of ``user_id`` until ``expires_at``."""
        conn.execute(
            insert(api_tokens).values(
                token_hash=token_hash, user_id=user_id, expires_at=expires_at
            )
        )

    def delete_token(self, conn: Connection, token_hash: bytes) -> None:
        """Forget a token (by its hash)."""
        conn.execute(delete(api_tokens).where(api_tokens.c.token_hash == token_hash))

    def failures(
        self,
        conn: Connection,
        *,
        username: str | None,
        address: str | None,
        since: datetime,
        without_prefix: str | None = None,
    ) -> tuple[int, datetime | None]:
        """Failed logins after ``since`` (by username, address or both): (count, newest).

        ``without_prefix``: leave out failures whose address starts with it.
        """
        where = [login_failures.c.failed_at > since]
        if username is not None:
            where.append(login_failures.c.username == username)
        if address is not None:
            where.append(login_failures.c.address == address)
        if without_prefix is not None:
            where.append(~login_failures.c.address.startswith(without_prefix))
        row = conn.execute(
            select(func.count(), func.max(login_failures.c.failed_at)).where(*where)
        ).one()
        return int(row[0]), row[1]  # max() keeps the column's type: aware UTC

    def device_user(self, conn: Connection, device_hash: bytes) -> str | None:
        """The id of the user a device cookie (by its hash) was issued to, if any."""
        found: str | None = conn.execute(
            select(login_devices.c.user_id).where(
                login_devices.c.device_hash == device_hash
            )
        ).scalar()
        return found

    def insert_device(
        self,
        conn: Connection,
        device_hash: bytes,
        user_id: str,
        at: datetime,
        keep: int,
    ) -> None:
        """Remember a device cookie of ``user_id``; keep only the ``keep`` newest."""
        conn.execute(
            insert(login_devices).values(
                device_hash=device_hash, user_id=user_id, created_at=at
            )
        )
        newest = (
            select(login_devices.c.device_hash)
            .where(login_devices.c.user_id == user_id)
            .order_by(login_devices.c.created_at.desc())
            .limit(keep)
        )
        conn.execute(
            delete(login_devices).where(
                login_devices.c.user_id == user_id,
                login_devices.c.device_hash.not_in(newest.scalar_subquery()),
            )
        )

    def delete_devices_of(self, conn: Connection, user_id: str) -> None:
        """Forget every device cookie of ``user_id`` (after a password reset)."""
        conn.execute(delete(login_devices).where(login_devices.c.user_id == user_id))

    def record_failure(
        self,
        conn: Connection,
        username: str,
        address: str,
        at: datetime,
        since: datetime,
    ) -> None:
        """Record a failed login at ``at`` and forget failures at or before ``since``."""
        conn.execute(delete(login_failures).where(login_failures.c.failed_at <= since))
        conn.execute(
            insert(login_failures).values(
                username=username, address=address, failed_at=at
            )
        )

    def forget_failures(self, conn: Connection, username: str, address: str) -> None:
        """Forget the failed logins of (``username``, ``address``)."""
        conn.execute(
            delete(login_failures).where(
                login_failures.c.username == username,
                login_failures.c.address == address,
            )
        )
