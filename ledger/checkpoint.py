"""Sign and open checkpoints, refusing any that would fork the log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ledger.errors import InconsistentCheckpointError, ProofError
from ledger.hashing import DEFAULT_HASHER, Hasher
from ledger.models import Checkpoint
from ledger.note import NoteSigner, NoteVerifier, open_note, sign_note
from ledger.proof import verify_consistency

__all__ = ["open_checkpoint", "sign_checkpoint"]


def sign_checkpoint(
    checkpoint: Checkpoint,
    signer: NoteSigner,
    *,
    previous: Checkpoint | None,
    proof: Sequence[bytes] = (),
    hasher: Hasher = DEFAULT_HASHER,
) -> str:
    """Return ``checkpoint`` as a signed note, if it extends ``previous``.

    Args:
        checkpoint: the new checkpoint.
        signer: the log's key.
        previous: the last checkpoint this key signed for the log, or None.
        proof: consistency proof from ``previous.size`` to ``checkpoint.size``.
        hasher: the tree hasher.

    Raises:
        InconsistentCheckpointError: another origin, a smaller size, or a proof
            that does not connect the two roots. Nothing is signed.
    """
    if previous is not None and previous.size > 0:
        if previous.origin != checkpoint.origin:
            raise InconsistentCheckpointError(
                f"origin {checkpoint.origin!r} differs from {previous.origin!r}",
                previous_size=previous.size,
                size=checkpoint.size,
            )
        try:
            verify_consistency(
                previous.size,
                checkpoint.size,
                proof,
                previous.root_hash,
                checkpoint.root_hash,
                hasher,
            )
        except ProofError as exc:
            raise InconsistentCheckpointError(
                f"refusing to sign size {checkpoint.size}: not consistent with the "
                f"checkpoint of size {previous.size} ({exc})",
                previous_size=previous.size,
                size=checkpoint.size,
            ) from exc
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(note: str, verifiers: Iterable[NoteVerifier]) -> Checkpoint:
    """Verify a signed checkpoint note and parse its body.

    Raises:
        NoteFormatError, SignatureError: the note is malformed or not signed by a
            trusted key.
        CheckpointError: the body is not a checkpoint.
    """
    text, _ = open_note(note, verifiers)
    return Checkpoint.parse(text)
