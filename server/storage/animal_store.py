"""The livestock registry's TemplateStore in the database (SQLite or PostgreSQL).

Templates are stored as little-endian float32 bytes and read back exactly;
the registry rebuilds its search index from :meth:`SqlTemplateStore.all` at
start. ``add_on`` writes on the caller's connection, so an enrolment and its
ledger entry can share one transaction.

Several processes share one database (API workers, the CLI), each with its
own registry and index. The store remembers which state of the ``animals``
table its registry's index holds (:data:`Version`: what grows when an animal
is added, gains a session or photos): the version read with the rows of
:meth:`SqlTemplateStore.all`, plus what this process's own writes added to
the index. :meth:`SqlTemplateStore.behind` tells when another process has
changed the animals since, and the index must be rebuilt before a search.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, func, insert, select, update

from livestock import AnimalRecord, Tag
from server.storage.schema import animals

__all__ = ["SqlTemplateStore", "Version"]

Version = tuple[int, int, int]
"""The state of the ``animals`` table as a search index sees it: (animals, bytes of
session templates, characters of photo hashes). Each grows with every animal
added, session added or photo re-enrolled; nothing else changes an animal's
search data but a re-embedding, which changes its model (the registry rebuilds
for that itself)."""


def _version(conn: Connection) -> Version:
    """The :data:`Version` of the animals as ``conn`` sees them (one aggregate read)."""
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(func.length(animals.c.sessions)), 0),
            func.coalesce(func.sum(func.length(animals.c.photo_hashes)), 0),
        ).select_from(animals)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _row(record: AnimalRecord) -> dict[str, Any]:
    return {
        "tag": record.tag.value,
        "scheme": record.tag.scheme,
        "farm": record.farm,
        "policy": record.policy,
        "template": _f4(record.template),
        "photos": record.photos,
        "photo_hashes": json.dumps(_hex(record.photo_hashes)),
        "enrolled_at": datetime.now(UTC),
        "model": record.model,
    }


def _sessions(blob: bytes, dim: int) -> tuple[npt.NDArray[np.float32], ...]:
    flat = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    return tuple(flat.reshape(-1, dim)) if len(flat) else ()


def _record(row: Any) -> AnimalRecord:
    template = np.frombuffer(row.template, dtype="<f4").astype(np.float32)
    return AnimalRecord(
        tag=Tag(row.scheme, row.tag),
        farm=row.farm,
        policy=row.policy,
        template=template,
        photos=row.photos,
        photo_hashes=tuple(int(h, 16) for h in json.loads(row.photo_hashes)),
        sessions=_sessions(bytes(row.sessions or b""), len(template)),
        model=row.model,
    )


def _f4(vector: npt.NDArray[np.float32]) -> bytes:
    """A template as stored: float32, little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()


def _hex(hashes: Sequence[int]) -> list[str]:
    """Photo hashes as stored: 16 hex digits each."""
    return [f"{h:016x}" for h in hashes]


def _locked(conn: Connection, tag: str) -> Any:
    """The animal's row, locked (PostgreSQL) so two changes to one animal never lose one.

    Raises:
        KeyError: nothing is enrolled under ``tag``.
    """
    row = conn.execute(
        select(animals).where(animals.c.tag == tag).with_for_update()
    ).first()
    if row is None:
        raise KeyError(tag)
    return row


def _more_hashes(row: Any, photo_hashes: Sequence[int]) -> str:
    """The row's photo hashes with ``photo_hashes`` added, as stored."""
    return json.dumps([*json.loads(row.photo_hashes), *_hex(photo_hashes)])


def _update(conn: Connection, tag: str, **values: Any) -> AnimalRecord:
    """Write ``values`` to the animal's row; the animal as it now is."""
    conn.execute(update(animals).where(animals.c.tag == tag).values(**values))
    return _record(conn.execute(select(animals).where(animals.c.tag == tag)).one())


class SqlTemplateStore:
    """A :class:`livestock.registry.TemplateStore` over the ``animals`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Per thread: the API serves requests from a thread pool, each with
        # its own transaction.
        self._local = threading.local()
        # The version of the animals the registry's index holds (None: unknown).
        self._seen: Version | None = None
        self._seen_lock = threading.Lock()

    def behind(self, conn: Connection | None = None) -> bool:
        """Whether the animals changed since the registry's index last read them.

        True when another process (or a transaction of this one that rolled
        back) changed them: rebuild the index (``Registry.rebuild_index``)
        before searching. Read on ``conn`` when given (the caller's
        transaction: under the registry's named lock, nothing can change
        between this read and the caller's commit), else on a read-only
        connection of its own.
        """
        if conn is not None:
            now = _version(conn)
        else:
            with self.engine.connect().execution_options(readonly=True) as own:
                now = _version(own)
        with self._seen_lock:
            return now != self._seen

    def _grown(self, animals_added: int, session_bytes: int, hash_chars: int) -> None:
        """Count a write of this process that its registry adds to its index itself."""
        with self._seen_lock:
            if self._seen is not None:
                a, s, h = self._seen
                self._seen = (a + animals_added, s + session_bytes, h + hash_chars)

    @property
    def _bound(self) -> Connection | None:
        conn: Connection | None = getattr(self._local, "conn", None)
        return conn

    @contextmanager
    def bound(self, conn: Connection) -> Iterator[None]:
        """Within the block, this thread's :meth:`add` and :meth:`get` use ``conn``.

        The registry stores an enrolled animal through :meth:`add`; binding
        lets the animal and its ledger event commit or roll back together.
        """
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The bound transaction's connection, else one of a transaction of its own."""
        bound = self._bound
        if bound is not None:
            yield bound
            return
        with self.engine.begin() as conn:
            yield conn

    def add(self, record: AnimalRecord) -> None:
        """Store a new animal (in the bound transaction, else in its own)."""
        with self._writing() as conn:
            self.add_on(conn, record)

    def add_on(self, conn: Connection, record: AnimalRecord) -> None:
        """Store a new animal on the caller's connection (and transaction).

        The registry indexes it at once: :meth:`behind` counts it as read.
        """
        row = _row(record)
        sessions = b"".join(_f4(t) for t in record.sessions)
        if sessions:
            row["sessions"] = sessions
        conn.execute(insert(animals).values(**row))
        self._grown(1, len(sessions), len(row["photo_hashes"]))

    def add_session(
        self, tag: str, template: npt.NDArray[np.float32], photo_hashes: Sequence[int]
    ) -> AnimalRecord:
        """Append a session template and its photos' hashes to an animal (bound transaction).

        Raises:
            KeyError: nothing is enrolled under ``tag``.
        """
        with self._writing() as conn:
            row = _locked(conn, tag)
            session = _f4(template)
            hashes = _more_hashes(row, photo_hashes)
            grown = _update(
                conn,
                tag,
                sessions=bytes(row.sessions or b"") + session,
                photo_hashes=hashes,
            )
        # The registry adds the session to its index itself.
        self._grown(0, len(session), len(hashes) - len(row.photo_hashes))
        return grown

    def replace_gallery(
        self,
        tag: str,
        template: npt.NDArray[np.float32],
        sessions: Sequence[npt.NDArray[np.float32]],
        model: str,
        photo_hashes: Sequence[int] = (),
    ) -> AnimalRecord:
        """Replace an animal's templates by ones of face-ID model ``model`` (bound transaction).

        ``photo_hashes`` are added to the animal's (the photos of a re-enrolment).
        The registry rebuilds its index after such a change: :meth:`behind`
        counts it as unread until then.

        Raises:
            KeyError: nothing is enrolled under ``tag``.
        """
        with self._writing() as conn:
            row = _locked(conn, tag)
            return _update(
                conn,
                tag,
                template=_f4(template),
                sessions=b"".join(_f4(t) for t in sessions),
                model=model,
                photo_hashes=_more_hashes(row, photo_hashes),
            )

    def get(self, tag: str) -> AnimalRecord | None:
        """The animal enrolled under ``tag``, if any."""
        query = select(animals).where(animals.c.tag == tag)
        bound = self._bound
        if bound is not None:
            row = bound.execute(query).first()
            return _record(row) if row is not None else None
        with self.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def page_after(
        self, cursor: str | None, limit: int
    ) -> tuple[list[AnimalRecord], str | None]:
        """Enrolled animals in tag order after ``cursor`` (a tag), and the next cursor.

        Returns:
            At most ``limit`` animals, and the last one's tag when more follow
            (None on the last page).
        """
        query = select(animals).order_by(animals.c.tag).limit(limit + 1)
        if cursor is not None:
            query = query.where(animals.c.tag > cursor)
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(query).all()
        records = [_record(r) for r in rows[:limit]]
        more = len(rows) > limit
        return records, records[-1].tag.value if more and records else None

    def all(self) -> Sequence[AnimalRecord]:
        """Every enrolled animal, in enrolment order (what the registry indexes).

        The version is read before the rows: under PostgreSQL's read committed
        each statement sees the latest commits, so the rows hold at least what
        the version counts (a later change is seen as unread, never the reverse).
        """
        with self.engine.connect().execution_options(readonly=True) as conn:
            version = _version(conn)
            rows = conn.execute(
                select(animals).order_by(animals.c.enrolled_at, animals.c.tag)
            ).all()
        with self._seen_lock:
            self._seen = version
        return [_record(r) for r in rows]
