"""Ledger value types: events, stored entries, checkpoints, anchors and receipts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import rfc8785

from ledger.errors import CheckpointError, EventValidationError, ReceiptError

__all__ = [
    "AnchorReceipt",
    "Checkpoint",
    "Entry",
    "Event",
    "Receipt",
    "log_id_for",
]

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
HASH_SIZE = 32  # SHA-256 digest bytes


def _utc_text(ts: datetime) -> str:
    """RFC 3339 UTC text with microseconds, so that it sorts and round-trips."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Event:
    """A lifecycle event, the unit that goes into the ledger.

    Attributes:
        type: dotted lower-case name, ``<area>.<verb>`` (``animal.enrolled``).
        subjects: ids of what the event is about, by kind
            (``{"animal": "998230000006455", "policy": "P-1"}``); at least one.
        actor: who caused it (a user id, or ``system``/``operator:<name>``).
        timestamp: timezone-aware time of the event; stored as UTC.
        payload: JSON-compatible details. Floats are allowed by RFC 8785 but
            money must be integer minor units or decimal strings.
    """

    type: str
    subjects: Mapping[str, str]
    actor: str
    timestamp: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not _EVENT_TYPE.match(self.type):
            raise EventValidationError(
                f"event type {self.type!r} must be dotted lower case, "
                "like 'claim.filed'"
            )
        if not self.subjects or not all(
            isinstance(k, str) and isinstance(v, str) and k and v
            for k, v in self.subjects.items()
        ):
            raise EventValidationError(
                "event subjects must be a non-empty mapping of non-empty strings, "
                f"got {self.subjects!r}"
            )
        if not isinstance(self.actor, str) or not self.actor:
            raise EventValidationError("event actor must be a non-empty string")
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise EventValidationError(
                f"event timestamp must be timezone-aware, got {self.timestamp!r}"
            )
        if not isinstance(self.payload, Mapping):
            raise EventValidationError("event payload must be a JSON object")

    def to_canonical_bytes(self) -> bytes:
        """Return the RFC 8785 (JCS) encoding, the bytes that are hashed.

        Raises:
            EventValidationError: the payload holds something JSON cannot encode.
        """
        doc: Any = {
            "v": 1,
            "type": self.type,
            "subjects": dict(self.subjects),
            "actor": self.actor,
            "timestamp": _utc_text(self.timestamp),
            "payload": dict(self.payload),
        }
        try:
            return bytes(rfc8785.dumps(doc))
        except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
            raise EventValidationError(f"event payload is not JSON: {exc}") from exc

    @classmethod
    def from_canonical_bytes(cls, data: bytes) -> Event:
        """Parse bytes made by :meth:`to_canonical_bytes`.

        Raises:
            EventValidationError: the bytes are not an event document.
        """
        try:
            doc = json.loads(data)
            return cls(
                type=doc["type"],
                subjects=doc["subjects"],
                actor=doc["actor"],
                timestamp=datetime.fromisoformat(doc["timestamp"]),
                payload=doc["payload"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EventValidationError(f"not a ledger event: {exc}") from exc


class Entry(NamedTuple):
    """One stored ledger entry (a tuple, so storage can bind it as it is).

    Attributes:
        index: 0-based position in the log.
        data: the entry's bytes (an event's canonical JSON, or any bytes).
        leaf_hash: RFC 9162 leaf hash of ``data``.
        prev_link: the hash-chain link of the previous entry (32 zero bytes for
            entry 0). An entry's own link, SHA-256(0x02 || prev_link || leaf_hash),
            is the next entry's ``prev_link`` (the head's link for the last one).
        nodes: hashes of the perfect subtrees that end at this entry, levels
            1, 2, ... concatenated (``32 * trailing_zeros(index + 1)`` bytes).
    """

    index: int  # type: ignore[assignment]  # the RFC's word; shadows tuple.index
    data: bytes
    leaf_hash: bytes
    prev_link: bytes
    nodes: bytes


def log_id_for(origin: str) -> bytes:
    """Return the 32-byte log id anchored on chain: SHA-256 of the origin line.

    Examples:
        >>> log_id_for("example.com/log").hex()[:8]
        '4d3203c8'
    """
    return hashlib.sha256(origin.encode()).digest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size and root hash.

    Attributes:
        origin: the log's unique name (first line of the body).
        size: number of entries.
        root_hash: RFC 9162 root of the first ``size`` entries.
        extensions: optional extra lines, kept verbatim (without newlines).
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if not isinstance(self.size, int) or self.size < 0:
            raise CheckpointError(f"checkpoint size must be >= 0, got {self.size!r}")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(
                f"checkpoint root has {len(self.root_hash)} bytes, want {HASH_SIZE}"
            )
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("checkpoint extension lines must be non-empty")

    @property
    def log_id(self) -> bytes:
        """The on-chain id of this checkpoint's log (:func:`log_id_for`)."""
        return log_id_for(self.origin)

    def body(self) -> str:
        """Return the note text: origin, decimal size, base64 root, extensions.

        Examples:
            >>> print(Checkpoint("example.com/log", 2, bytes(32)).body(), end="")
            example.com/log
            2
            AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
        """
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(f"{line}\n" for line in [*lines, *self.extensions])

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the text of its signed note).

        Raises:
            CheckpointError: fewer than three lines, a size that is not a canonical
                decimal, or a root that is not base64 of 32 bytes.
        """
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(
                f"checkpoint body has {len(lines)} lines, want at least 3"
            )
        origin, size_text, root_text, *ext = lines
        if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise CheckpointError(
                f"checkpoint root {root_text!r} is not base64"
            ) from exc
        return cls(origin, int(size_text), root, tuple(ext))


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """Where a checkpoint was anchored on an EVM chain."""

    chain_id: int
    tx_hash: str
    block_number: int

    def to_json(self) -> dict[str, Any]:
        """Return the receipt's ``anchor`` object."""
        return {
            "chain_id": self.chain_id,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
        }


_RECEIPT_KEYS = {
    "index",
    "tree_size",
    "entry",
    "leaf_hash",
    "inclusion_proof",
    "checkpoint",
    "anchor",
}


def _b64(doc: Mapping[str, Any], key: str, *, size: int | None = None) -> bytes:
    value = doc[key]
    if not isinstance(value, str):
        raise ReceiptError(f"{key} must be a base64 string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ReceiptError(f"{key} is not standard base64: {exc}") from exc
    if size is not None and len(raw) != size:
        raise ReceiptError(f"{key} has {len(raw)} bytes, want {size}")
    return raw


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReceiptError(f"{key} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that an entry is in the log: everything to verify it offline.

    Attributes:
        index: the entry's index.
        tree_size: size of the checkpoint the proof is against.
        entry: the entry's bytes.
        leaf_hash: RFC 9162 leaf hash of ``entry``.
        inclusion_proof: audit path, deepest first.
        checkpoint: the signed checkpoint note covering ``index``.
        anchor: where that checkpoint was anchored, if it was.
    """

    index: int
    tree_size: int
    entry: bytes
    leaf_hash: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str
    anchor: AnchorReceipt | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the receipt as the JSON object the CLI and the API print."""
        enc = base64.b64encode
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "entry": enc(self.entry).decode(),
            "leaf_hash": enc(self.leaf_hash).decode(),
            "inclusion_proof": [enc(h).decode() for h in self.inclusion_proof],
            "checkpoint": self.checkpoint,
            "anchor": self.anchor.to_json() if self.anchor else None,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Receipt:
        """Parse and type-check a receipt JSON object.

        Raises:
            ReceiptError: a field is missing, extra, of the wrong type, not base64,
                or a hash is not 32 bytes. The message names the field.
        """
        if not isinstance(doc, Mapping):
            raise ReceiptError("receipt must be a JSON object")
        missing = _RECEIPT_KEYS - doc.keys()
        if missing:
            raise ReceiptError(f"receipt lacks field(s): {', '.join(sorted(missing))}")
        extra = doc.keys() - _RECEIPT_KEYS
        if extra:
            raise ReceiptError(
                f"receipt has unknown field(s): {', '.join(sorted(extra))}"
            )
        proof = doc["inclusion_proof"]
        if not isinstance(proof, list):
            raise ReceiptError("inclusion_proof must be a list of base64 strings")
        hashes = tuple(
            _b64({f"inclusion_proof[{i}]": h}, f"inclusion_proof[{i}]", size=HASH_SIZE)
            for i, h in enumerate(proof)
        )
        if not isinstance(doc["checkpoint"], str):
            raise ReceiptError("checkpoint must be the signed note text")
        anchor = doc["anchor"]
        parsed_anchor = None
        if anchor is not None:
            if (
                not isinstance(anchor, Mapping)
                or not {
                    "chain_id",
                    "tx_hash",
                    "block_number",
                }
                <= anchor.keys()
            ):
                raise ReceiptError(
                    "anchor must be null or {chain_id, tx_hash, block_number}"
                )
            tx = anchor["tx_hash"]
            if not isinstance(tx, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", tx):
                raise ReceiptError(f"anchor.tx_hash {tx!r} is not a 32-byte hex hash")
            parsed_anchor = AnchorReceipt(
                _int(anchor, "chain_id"), tx, _int(anchor, "block_number")
            )
        return cls(
            index=_int(doc, "index"),
            tree_size=_int(doc, "tree_size"),
            entry=_b64(doc, "entry"),
            leaf_hash=_b64(doc, "leaf_hash", size=HASH_SIZE),
            inclusion_proof=hashes,
            checkpoint=doc["checkpoint"],
            anchor=parsed_anchor,
        )
