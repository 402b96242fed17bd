"""A verifiable, append-only ledger: RFC 9162 Merkle tree, hash chain, C2SP checkpoints.

The ledger owns hashing, proofs, sequencing, signed checkpoints, receipts, the audit
and the anchor port. It stores nothing itself: storage adapters (``server``) and the
in-memory adapters here keep entries; ``ledger.adapters.evm`` anchors on a chain.
It sees events only as bytes plus the :class:`Event` envelope.
"""

from ledger.audit import AuditReport, audit_log
from ledger.checkpoint import open_checkpoint, sign_checkpoint
from ledger.errors import (
    AnchorConfigError,
    AnchorError,
    AnchorRejectedError,
    AnchorUnavailableError,
    CheckpointError,
    EntryNotFoundError,
    EventValidationError,
    InconsistentCheckpointError,
    IntegrityError,
    LedgerError,
    NoteError,
    NoteFormatError,
    ProofError,
    ProofShapeError,
    ReceiptError,
    RootMismatchError,
    SignatureError,
)
from ledger.hashing import (
    DEFAULT_HASHER,
    GENESIS_LINK,
    Hasher,
    Sha256Hasher,
    chain_link,
)
from ledger.log import consistency_proof, inclusion_proof, root_at
from ledger.models import AnchorReceipt, Checkpoint, Entry, Event, Receipt, log_id_for
from ledger.note import NoteSigner, NoteVerifier, generate_key, open_note, sign_note
from ledger.ports import Anchor, NodeReader, PendingAnchor
from ledger.proof import (
    NodeID,
    consistency_nodes,
    inclusion_nodes,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.receipt import verify_receipt
from ledger.tree import Head, node_location, sequence

__all__ = [
    "DEFAULT_HASHER",
    "GENESIS_LINK",
    "Anchor",
    "AnchorConfigError",
    "AnchorError",
    "AnchorReceipt",
    "AnchorRejectedError",
    "AnchorUnavailableError",
    "AuditReport",
    "Checkpoint",
    "CheckpointError",
    "Entry",
    "EntryNotFoundError",
    "Event",
    "EventValidationError",
    "Hasher",
    "Head",
    "InconsistentCheckpointError",
    "IntegrityError",
    "LedgerError",
    "NodeID",
    "NodeReader",
    "NoteError",
    "NoteFormatError",
    "NoteSigner",
    "NoteVerifier",
    "PendingAnchor",
    "ProofError",
    "ProofShapeError",
    "Receipt",
    "ReceiptError",
    "RootMismatchError",
    "Sha256Hasher",
    "SignatureError",
    "audit_log",
    "chain_link",
    "consistency_nodes",
    "consistency_proof",
    "generate_key",
    "inclusion_nodes",
    "inclusion_proof",
    "log_id_for",
    "node_location",
    "open_checkpoint",
    "open_note",
    "root_at",
    "root_from_inclusion_proof",
    "sequence",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
    "verify_receipt",
]
