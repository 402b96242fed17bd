"""Ledger errors.

* LedgerError
  + EventValidationError (also ValueError)      an event's fields are invalid
  + ProofError (also ValueError)
    + ProofShapeError                            indices, sizes or lengths are impossible
    + RootMismatchError                          the proof leads to another root
  + NoteError (also ValueError)
    + NoteFormatError                            a signed note or key is malformed
    + SignatureError                             no trusted signature verifies
  + CheckpointError (also ValueError)
    + InconsistentCheckpointError                a checkpoint would fork the log
  + ReceiptError (also ValueError)               a receipt is malformed or does not verify
  + IntegrityError                               stored state does not match its hashes
  + EntryNotFoundError (also LookupError)
  + AnchorError
    + AnchorUnavailableError (also OSError)      the chain cannot be reached now
    + AnchorRejectedError                        the chain refused the anchor
    + AnchorConfigError (also ValueError)        wrong chain id, key or contract
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by the ledger package."""


class EventValidationError(LedgerError, ValueError):
    """An event's fields are missing, mistyped or out of range."""


class ProofError(LedgerError, ValueError):
    """A Merkle proof could not be computed or does not verify."""


class ProofShapeError(ProofError):
    """Indices, sizes or proof lengths are impossible for the tree."""


class RootMismatchError(ProofError):
    """A proof is well formed but leads to another root.

    Attributes:
        expected_root: the trusted root.
        calculated_root: the root the proof leads to.
    """

    def __init__(
        self, message: str, *, expected_root: bytes, calculated_root: bytes
    ) -> None:
        super().__init__(message)
        self.expected_root = expected_root
        self.calculated_root = calculated_root


class NoteError(LedgerError, ValueError):
    """A signed note, a key or a signature is unusable."""


class NoteFormatError(NoteError):
    """A signed note or key text is malformed."""


class SignatureError(NoteError):
    """No signature of a trusted key verifies the note."""


class CheckpointError(LedgerError, ValueError):
    """A checkpoint body is malformed or cannot be signed."""


class InconsistentCheckpointError(CheckpointError):
    """A checkpoint is not consistent with the previous one (it would fork the log).

    Attributes:
        previous_size: size of the previous checkpoint.
        size: size of the refused checkpoint.
    """

    def __init__(self, message: str, *, previous_size: int, size: int) -> None:
        super().__init__(message)
        self.previous_size = previous_size
        self.size = size


class ReceiptError(LedgerError, ValueError):
    """A receipt is malformed or does not verify; the message says which field."""


class IntegrityError(LedgerError):
    """Stored ledger state does not match its hashes.

    Attributes:
        index: the first bad entry index, or None when the problem is not an entry.
    """

    def __init__(self, message: str, *, index: int | None) -> None:
        super().__init__(message)
        self.index = index


class EntryNotFoundError(LedgerError, LookupError):
    """No entry at the requested index."""


class AnchorError(LedgerError):
    """Anchoring a checkpoint on the chain failed."""


class AnchorUnavailableError(AnchorError, OSError):
    """The chain cannot be reached now; anchoring will catch up later."""


class AnchorRejectedError(AnchorError):
    """The chain or the contract refused the anchor transaction."""


class AnchorConfigError(AnchorError, ValueError):
    """The anchor's chain id, key or contract address is wrong."""
