"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note, Go's sumdb/note)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.errors import NoteFormatError, SignatureError

__all__ = [
    "NoteSigner",
    "NoteVerifier",
    "generate_key",
    "key_id",
    "open_note",
    "sign_note",
]

ALG_ED25519 = 0x01  # C2SP signed-note: signature type byte of Ed25519 keys
SIG_PREFIX = "\u2014 "  # em dash + space opens every signature line
MAX_SIGNATURES = 100  # Go's sumdb/note refuses notes with more signatures


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteFormatError(
            f"key name {name!r} must be non-empty, without spaces or '+'"
        )


def key_id(name: str, public_key: bytes) -> int:
    """Return the 32-bit key id: the first 4 bytes of SHA-256(name, 0x0A, 0x01, key).

    Examples:
        >>> hex(key_id("PeterNeumann", base64.b64decode(
        ...     "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]))
        '0xc74f20a3'
    """
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def _split_key(text: str, parts: int) -> list[str]:
    # Base64 may itself hold '+', so only the first parts - 1 separators count.
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise NoteFormatError(
            f"key {text[:40]!r}... has {len(fields)} '+' fields, want {parts}"
        )
    return fields


def _key_bytes(name: str, hex_id: str, b64: str) -> tuple[int, bytes]:
    _check_name(name)
    try:
        claimed = int(hex_id, 16)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteFormatError(
            f"key for {name!r} is not hex id + base64: {exc}"
        ) from exc
    if len(hex_id) != 8:
        raise NoteFormatError(f"key id {hex_id!r} must be 8 hex digits")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteFormatError(
            f"key for {name!r} must be 0x01 + 32 bytes of Ed25519, got {len(raw)} bytes"
        )
    return claimed, raw[1:]


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 verifier key: ``name+hexid+base64(0x01 || public key)``."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Parse a verifier key line, checking that its key id matches.

        Raises:
            NoteFormatError: malformed, wrong algorithm, or key id mismatch.
        """
        name, hex_id, b64 = _split_key(text, 3)
        claimed, public = _key_bytes(name, hex_id, b64)
        if key_id(name, public) != claimed:
            raise NoteFormatError(f"verifier key for {name!r} has the wrong key id")
        return cls(name, claimed, public)

    def __str__(self) -> str:
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature, message
            )
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 signer key: ``PRIVATE+KEY+name+hexid+base64(0x01 || seed)``."""

    name: str
    key_id: int
    seed: bytes

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        """Parse a signer key line (Go's ``note.NewSigner`` format).

        Raises:
            NoteFormatError: malformed, wrong algorithm, or key id mismatch.
        """
        private, key, name, hex_id, b64 = _split_key(text, 5)
        if (private, key) != ("PRIVATE", "KEY"):
            raise NoteFormatError("signer key must start with PRIVATE+KEY+")
        claimed, seed = _key_bytes(name, hex_id, b64)
        signer = cls(name, claimed, seed)
        if key_id(name, signer.verifier().public_key) != claimed:
            raise NoteFormatError(f"signer key for {name!r} has the wrong key id")
        return signer

    def __str__(self) -> str:
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{raw}"

    def verifier(self) -> NoteVerifier:
        """Return the matching verifier key."""
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return NoteVerifier(self.name, key_id(self.name, public), public)

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message`` (deterministic, 64 bytes)."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def generate_key(name: str) -> NoteSigner:
    """Return a new random Ed25519 signer key named ``name``."""
    _check_name(name)
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return NoteSigner(name, key_id(name, public), seed)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    if any((ord(c) < 0x20 and c != "\n") or c == "\x7f" for c in text):
        raise NoteFormatError("note text must not hold control characters")


def sign_note(text: str, signer: NoteSigner) -> str:
    """Return ``text`` signed by ``signer`` as a C2SP signed note.

    Requires ``text`` to end in a newline and hold no control characters but
    newlines.
    """
    _check_text(text)
    sig = signer.sign(text.encode())
    blob = base64.b64encode(struct.pack(">I", signer.key_id) + sig).decode()
    return f"{text}\n{SIG_PREFIX}{signer.name} {blob}\n"


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> tuple[str, list[str]]:
    """Verify a signed note and return its text and the names of the keys that signed.

    Signatures by keys not in ``verifiers`` are ignored, as C2SP requires.

    Raises:
        NoteFormatError: the note is malformed (no signature block, bad lines).
        SignatureError: a known key's signature is invalid, or no known key signed.
    """
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteFormatError("signed note must be text ending with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("signed note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"signed note has {len(lines)} signatures, at most 100")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteFormatError(f"signature line {line[:40]!r} lacks the em dash")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise NoteFormatError(f"signature of {name!r} is not base64") from exc
        if not name or len(blob) < 5:
            raise NoteFormatError(f"signature line for {name!r} is too short")
        (kid,) = struct.unpack(">I", blob[:4])
        verifier = known.get((name, kid))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), blob[4:]):
            raise SignatureError(f"signature by {name!r} does not verify")
        verified.append(name)
    if not verified:
        raise SignatureError("note has no valid signature from a trusted key")
    return text, verified
