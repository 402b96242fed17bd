"""Audit (fsck) a stored log: re-hash every entry and check everything stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ledger.errors import IntegrityError
from ledger.hashing import DEFAULT_HASHER, GENESIS_LINK, Hasher, chain_link
from ledger.models import Checkpoint, Entry
from ledger.proof import root_of_range
from ledger.tree import Head

__all__ = ["AuditReport", "audit_log"]


@dataclass(slots=True)
class AuditReport:
    """What a clean audit saw.

    Attributes:
        size: entries re-hashed.
        root_hash: the rebuilt root of all of them.
        checkpoints: checkpoint sizes whose roots matched.
        unsigned_tail: entries after the latest checkpoint (not yet signed).
    """

    size: int
    root_hash: bytes
    checkpoints: list[int] = field(default_factory=list)
    unsigned_tail: int = 0


def audit_log(
    entries: Iterable[Entry],
    *,
    head: Head,
    checkpoints: Sequence[Checkpoint],
    hasher: Hasher = DEFAULT_HASHER,
) -> AuditReport:
    """Rebuild the tree and hash chain from stored entries and compare every hash.

    Args:
        entries: stored entries in ascending index order (streamed; constant memory).
        head: the stored sequencer head.
        checkpoints: verified checkpoints (signatures already checked), any order.
        hasher: the tree hasher.

    Returns:
        The report of a clean log.

    Raises:
        IntegrityError: at the first inconsistency, with ``index`` set to the first
            bad entry where one can be named: a gap or an extra index (row deleted
            or inserted), a leaf hash that is not the hash of the data (row
            changed), a broken chain link (rows swapped or removed), a stored
            subtree hash that differs from the rebuilt one, a checkpoint root that
            differs from the rebuilt root, or a head that disagrees with the rows.
    """
    by_size: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_size.setdefault(cp.size, []).append(cp)
    frontier: list[bytes] = []
    link = GENESIS_LINK
    expected = 0
    matched: list[int] = []
    last_good = 0  # size of the last checkpoint that matched

    def check_checkpoints(size: int) -> None:
        nonlocal last_good
        for cp in by_size.get(size, ()):
            root = root_of_range(frontier, hasher) if size else hasher.empty_root()
            if root != cp.root_hash:
                raise IntegrityError(
                    f"checkpoint of size {size} does not match the rebuilt root: an "
                    f"entry in [{last_good}, {size}) was changed",
                    index=last_good,
                )
            matched.append(size)
            last_good = size

    check_checkpoints(0)
    for entry in entries:
        i = entry.index
        if i != expected:
            what = "missing (deleted?)" if i > expected else "repeated or out of order"
            raise IntegrityError(f"entry {expected} is {what}", index=min(i, expected))
        leaf = hasher.hash_leaf(entry.data)
        if leaf != entry.leaf_hash:
            raise IntegrityError(
                f"entry {i}: data does not match its leaf hash (changed?)", index=i
            )
        if entry.prev_link != link:
            raise IntegrityError(
                f"entry {i}: previous-entry hash does not match entry {i - 1} "
                "(rows removed, inserted or swapped?)",
                index=i,
            )
        link = chain_link(link, leaf)
        node, n, completed = leaf, i, []
        while n & 1:
            node = hasher.hash_children(frontier.pop(), node)
            completed.append(node)
            n >>= 1
        frontier.append(node)
        if b"".join(completed) != entry.nodes:
            raise IntegrityError(f"entry {i}: stored subtree hashes are wrong", index=i)
        expected += 1
        check_checkpoints(expected)

    if head.size != expected:
        raise IntegrityError(
            f"head says {head.size} entries but {expected} are stored",
            index=min(head.size, expected),
        )
    if head.link != link or list(head.frontier) != frontier:
        raise IntegrityError("head hashes disagree with the entries", index=None)
    beyond = [cp.size for cp in checkpoints if cp.size > expected]
    if beyond:
        raise IntegrityError(
            f"checkpoint of size {max(beyond)} covers entries that are not stored "
            f"(log has {expected}: entries deleted?)",
            index=expected,
        )
    return AuditReport(
        size=expected,
        root_hash=root_of_range(frontier, hasher) if expected else hasher.empty_root(),
        checkpoints=matched,
        unsigned_tail=expected - (max(matched) if matched else 0),
    )
