"""Domain-separated SHA-256 hashing of leaves, nodes and the entry hash chain."""

from __future__ import annotations

import hashlib
from typing import Final, Protocol

__all__ = [
    "CHAIN_PREFIX",
    "DEFAULT_HASHER",
    "GENESIS_LINK",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "Hasher",
    "Sha256Hasher",
    "chain_link",
]

LEAF_PREFIX: Final = b"\x00"  # RFC 9162 §2.1.1 (RFC 6962 §2.1): leaf domain separation
NODE_PREFIX: Final = b"\x01"  # RFC 9162 §2.1.1: interior node domain separation
# Our own prefix for the hash chain, distinct from both tree prefixes so that a chain
# link can never be passed off as a leaf or a node hash.
CHAIN_PREFIX: Final = b"\x02"
GENESIS_LINK: Final = bytes(32)  # the "previous entry hash" of entry 0


class Hasher(Protocol):
    """A Merkle tree hasher (transparency-dev/merkle ``LogHasher``).

    Implementations must be deterministic and return digests of ``size`` bytes.
    """

    size: int

    def empty_root(self) -> bytes:
        """Return the root of the empty tree."""
        ...

    def hash_leaf(self, data: bytes) -> bytes:
        """Return the hash of a leaf holding ``data``."""
        ...

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """Return the hash of an interior node with children ``left`` and ``right``."""
        ...


class Sha256Hasher:
    """The RFC 9162 SHA-256 hasher.

    Examples:
        >>> Sha256Hasher().empty_root().hex()[:16]
        'e3b0c44298fc1c14'
        >>> Sha256Hasher().hash_leaf(b"").hex()[:16]
        '6e340b9cffb37a98'
    """

    size: int = 32

    def empty_root(self) -> bytes:
        """Return SHA-256 of the empty string (RFC 9162 §2.1.1)."""
        return hashlib.sha256(b"").digest()

    def hash_leaf(self, data: bytes) -> bytes:
        """Return SHA-256(0x00 || data)."""
        return hashlib.sha256(LEAF_PREFIX + data).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """Return SHA-256(0x01 || left || right)."""
        return hashlib.sha256(NODE_PREFIX + left + right).digest()


DEFAULT_HASHER: Final = Sha256Hasher()


def chain_link(previous_link: bytes, leaf_hash: bytes) -> bytes:
    """Return the hash-chain link of an entry: SHA-256(0x02 || previous || leaf_hash).

    Args:
        previous_link: the previous entry's link, or ``GENESIS_LINK`` for entry 0.
        leaf_hash: the entry's RFC 9162 leaf hash.

    Returns:
        32 bytes. Changing, dropping or reordering any earlier entry changes every
        later link.

    Examples:
        >>> len(chain_link(GENESIS_LINK, bytes(32)))
        32
    """
    return hashlib.sha256(CHAIN_PREFIX + previous_link + leaf_hash).digest()
