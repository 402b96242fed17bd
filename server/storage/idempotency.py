"""Idempotency-Key: a retried POST gets the first response back, and changes nothing.

The stored response is written in the same transaction as the change it
describes, so either both exist or neither does. Two requests with the same
key at the same moment: the second one's transaction fails on the key's
primary key and is rolled back whole, and it replays the first's response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from server.storage.locks import lock
from server.storage.schema import idempotency_keys

__all__ = ["IdempotencyMismatch", "run_idempotent"]

Outcome = tuple[int, dict[str, Any]]


class IdempotencyMismatch(Exception):
    """The key was used before with a different request."""


def _hash(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(
        method.encode() + b" " + path.encode() + b"\n" + body
    ).digest()


def _stored(
    conn: Connection, user_id: str, key: str, request_hash: bytes
) -> Outcome | None:
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyMismatch(
            f"Idempotency-Key {key!r} was used before with a different request"
        )
    return int(row.status_code), json.loads(row.response)


def run_idempotent(
    engine: Engine,
    *,
    user_id: str,
    key: str | None,
    method: str,
    path: str,
    body: bytes,
    work: Callable[[Connection], Outcome],
) -> tuple[Outcome, bool]:
    """Run ``work`` in a transaction, once per (user, key); returns (outcome, replayed).

    Without a key, ``work`` simply runs in its own transaction.

    Raises:
        IdempotencyMismatch: the key was used with another method, path or body.
    """
    if key is None:
        with engine.begin() as conn:
            return work(conn), False
    request_hash = _hash(method, path, body)
    try:
        with engine.begin() as conn:
            # Requests with one key wait for each other here: the first does the
            # work, the others then find its answer (without the lock, each could
            # look before the first commits and get the work's own 409).
            lock(conn, f"idempotency:{user_id}:{key}")
            earlier = _stored(conn, user_id, key, request_hash)
            if earlier is not None:
                return earlier, True
            outcome = work(conn)
            conn.execute(
                insert(idempotency_keys).values(
                    user_id=user_id,
                    key=key,
                    request_hash=request_hash,
                    status_code=outcome[0],
                    response=json.dumps(outcome[1]),
                    created_at=datetime.now(UTC),
                )
            )
            return outcome, False
    except IntegrityError:
        # A concurrent request with the same key committed first: ours is rolled back.
        with engine.connect() as conn:
            earlier = _stored(conn, user_id, key, request_hash)
        if earlier is None:  # pragma: no cover - the conflict was on something else
            raise
        return earlier, True
