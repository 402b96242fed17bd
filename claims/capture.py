"""Signed captures: the field agent's phone signs each photo it takes; the server checks it.

The phone holds a non-extractable WebCrypto key pair (ECDSA P-256); its
public key (a JWK) is registered as a device of the agent. At capture time
it signs a small JSON message naming the agent, the device, the instant,
the place and the SHA-256 of the photo's exact bytes. The server then knows
that the photo it received is the one taken then and there, on a device of
the agent who sends it.

The message is the UTF-8 bytes of a JSON object with its keys in sorted
order, no whitespace, and every value a string or ``null``
(``accuracy_m``, ``agent``, ``captured_at``, ``device``, ``lat``, ``lon``,
``photo_sha256``, ``source``, ``v``): JavaScript's ``JSON.stringify`` of a key-sorted
object and RFC 8785 write such an object identically, so the phone and the
server agree on the bytes without a canonicalisation library. The signature
is WebCrypto's: IEEE P1363 ``r || s`` (64 bytes), base64url without padding.

``source`` says how the photo came to the app: ``camera`` (taken by the
app's camera: the signed time and place are the capture's) or ``file``
(picked from the phone's files: the app signs it when it is picked, so the
signed time and place say nothing about when and where it was taken).

Everything here is pure but the signature check, which calls
``cryptography``. :func:`capture_verdict` gives each photo its light:
``green`` (taken by the app's camera and signed on an active device of the
sending agent, bytes, time and place as signed), ``amber`` (not signed;
signed but picked from the phone's files; signed on a device awaiting an
admin's approval), ``red`` (anything else). Only a green photo's signed time
and place are its capture's (:attr:`CaptureVerdict.attested`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from claims.errors import CaptureMessageError, DeviceKeyError
from underwriting.checks import Light, Param
from underwriting.text import shown

__all__ = [
    "AWAITING_APPROVAL",
    "FROM_FILES",
    "MAX_PLACE_DIFFERENCE_DEG",
    "MAX_TIME_DIFFERENCE_S",
    "MESSAGE_KEYS",
    "MESSAGE_VERSION",
    "SOURCES",
    "CaptureVerdict",
    "DeviceKey",
    "SignedCapture",
    "capture_verdict",
    "jwk_thumbprint",
    "parse_public_jwk",
    "parse_signed_capture",
    "unsigned_reason",
    "verify_signature",
]

MESSAGE_VERSION = "1"
MESSAGE_KEYS = (
    "accuracy_m",
    "agent",
    "captured_at",
    "device",
    "lat",
    "lon",
    "photo_sha256",
    "source",
    "v",
)
SOURCES = ("camera", "file")
"""How a photo came to the app: taken by its camera, or picked from the phone's files."""
MAX_AGENT_CHARS = 64
"""The longest username a signed message may name (the users table's limit)."""
_NULLABLE = {"accuracy_m", "lat", "lon"}
MAX_TIME_DIFFERENCE_S = 1.0
"""A capture time also sent unsigned may differ from the signed one by this much (s)."""
MAX_PLACE_DIFFERENCE_DEG = 1e-5
"""A position also sent unsigned may differ from the signed one by this much (degrees, ~1 m)."""

_B64URL_32 = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url, no padding
_B64URL_64 = re.compile(r"^[A-Za-z0-9_-]{86}$")  # 64 bytes, base64url, no padding
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_DEVICE_ID = re.compile(r"^dev_[0-9a-f]{32}$")  # DeviceStore.new_id()


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- device keys ---------------------------------------------------------------------


def parse_public_jwk(jwk: object) -> dict[str, str]:
    """The members of an EC P-256 public JWK that define it (kty, crv, x, y).

    Other members WebCrypto's ``exportKey("jwk")`` adds (``ext``, ``key_ops``,
    ``alg``) are allowed and dropped. The point must lie on the curve.

    Raises:
        DeviceKeyError: not a JSON object, a private key (``d``), another key
            type or curve, ``x``/``y`` not base64url of 32 bytes, or a point
            not on P-256 (the message names the member).
    """
    if not isinstance(jwk, Mapping):
        raise DeviceKeyError("public_key must be a JWK object")
    if "d" in jwk:
        raise DeviceKeyError(
            "public_key holds a private key (member d): send only the public key"
        )
    if jwk.get("kty") != "EC":
        raise DeviceKeyError(f"public_key: kty must be EC, not {shown(jwk.get('kty'))}")
    if jwk.get("crv") != "P-256":
        raise DeviceKeyError(
            f"public_key: crv must be P-256, not {shown(jwk.get('crv'))}"
        )
    for member in ("x", "y"):
        value = jwk.get(member)
        if not isinstance(value, str) or not _B64URL_32.fullmatch(value):
            raise DeviceKeyError(
                f"public_key: {member} must be 32 bytes in base64url without padding"
            )
    key = {"crv": "P-256", "kty": "EC", "x": str(jwk["x"]), "y": str(jwk["y"])}
    try:
        _public_key(key)
    except ValueError as exc:
        raise DeviceKeyError("public_key: the point (x, y) is not on P-256") from exc
    return key


def _public_key(jwk: Mapping[str, str]) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a JWK already checked by :func:`parse_public_jwk`."""
    x = int.from_bytes(_b64url(jwk["x"]), "big")
    y = int.from_bytes(_b64url(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC public JWK, base64url without padding.

    The hash is over the required members (crv, kty, x, y) in that order,
    no whitespace: the same key always has the same thumbprint, whatever
    else its JWK carries.
    """
    doc = json.dumps(
        {m: jwk[m] for m in ("crv", "kty", "x", "y")},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url_text(hashlib.sha256(doc.encode("utf-8")).digest())


@dataclass(frozen=True)
class DeviceKey:
    """A registered device as the verdict needs it.

    Attributes:
        device_id: ``dev_...``.
        agent: the username of the field agent it belongs to.
        public_key: its EC P-256 public JWK (kty, crv, x, y).
        status: ``active``, ``pending`` (awaiting an admin's approval) or ``revoked``.
        revoked_at: when it was revoked (aware), if it was.
    """

    device_id: str
    agent: str
    public_key: Mapping[str, str]
    status: Literal["active", "pending", "revoked"]
    revoked_at: datetime | None = None


def verify_signature(
    public_key: Mapping[str, str], message: bytes, signature: str
) -> bool:
    """True when ``signature`` (P1363 ``r||s``, base64url) signs ``message`` with the key.

    ECDSA P-256 with SHA-256, as WebCrypto signs. A signature that is not 64
    bytes of base64url is simply not valid.
    """
    if not _B64URL_64.fullmatch(signature):
        return False
    raw = _b64url(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    try:
        _public_key(public_key).verify(
            encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


# --- the signed message ----------------------------------------------------------------


@dataclass(frozen=True)
class SignedCapture:
    """What a signed message says about one photo.

    Attributes:
        agent: the username that signed.
        device: the device id that signed.
        captured_at: the capture instant (aware).
        lat: degrees north, or None when the phone had no position.
        lon: degrees east, or None.
        accuracy_m: the position's accuracy in metres, or None.
        photo_sha256: lower-case hex SHA-256 of the photo's bytes.
        source: ``camera`` (taken by the app: time and place are the
            capture's) or ``file`` (picked from the phone's files: time and
            place are when and where it was picked).
        message: the exact text that was signed.
    """

    agent: str
    device: str
    captured_at: datetime
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    photo_sha256: str
    source: Literal["camera", "file"]
    message: str


def _number(doc: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = doc[key]
    if value is None:
        return None
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise CaptureMessageError(f"{key} must be a decimal number as a string or null")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise CaptureMessageError(f"{key} {value} is outside [{low:g}, {high:g}]")
    return number


def parse_signed_capture(message: str) -> SignedCapture:
    """Read a signed capture message (version 1), refusing anything but its exact form.

    The message must be the canonical JSON: keys sorted, no whitespace,
    every value a string (``lat``, ``lon``, ``accuracy_m`` may be null), the
    nine keys of :data:`MESSAGE_KEYS` and no other. ``device`` must be a
    device id as the server makes them (``dev_`` and 32 lower-case hex
    digits), ``agent`` a username (1 to 64 characters, no control
    character), ``source`` one of :data:`SOURCES` (required: there is no
    default).

    Raises:
        CaptureMessageError: the problem, in words.
    """
    try:
        doc = json.loads(message)
    except (ValueError, RecursionError) as exc:
        raise CaptureMessageError("the signed message is not JSON") from exc
    if not isinstance(doc, dict):
        raise CaptureMessageError("the signed message is not a JSON object")
    if sorted(doc) != list(MESSAGE_KEYS):
        raise CaptureMessageError(
            f"the signed message must have exactly the keys {', '.join(MESSAGE_KEYS)}"
        )
    for key, value in doc.items():
        if not (isinstance(value, str) or (value is None and key in _NULLABLE)):
            raise CaptureMessageError(f"{key} in the signed message must be a string")
    canonical = json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    if canonical != message:
        raise CaptureMessageError(
            "the signed message is not in canonical form (sorted keys, no whitespace)"
        )
    if doc["v"] != MESSAGE_VERSION:
        raise CaptureMessageError(f"unknown signed message version {doc['v']!r}")
    if not _DEVICE_ID.fullmatch(doc["device"]):
        raise CaptureMessageError(
            f"device {doc['device'][:40]!r} is not a device id (dev_ and 32 hex digits)"
        )
    agent = doc["agent"]
    if not 1 <= len(agent) <= MAX_AGENT_CHARS:
        raise CaptureMessageError(
            f"agent must be 1 to {MAX_AGENT_CHARS} characters, not {len(agent)}"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in agent):
        raise CaptureMessageError("agent holds a control character")
    if doc["source"] not in SOURCES:
        raise CaptureMessageError(
            f"source must be one of {', '.join(SOURCES)}, not {doc['source'][:20]!r}"
        )
    if not _HEX_SHA256.fullmatch(doc["photo_sha256"]):
        raise CaptureMessageError("photo_sha256 must be 64 lower-case hex digits")
    try:
        captured = datetime.fromisoformat(doc["captured_at"])
    except ValueError as exc:
        raise CaptureMessageError(
            f"captured_at {doc['captured_at']!r} is not an ISO 8601 instant"
        ) from exc
    if captured.tzinfo is None:
        raise CaptureMessageError("captured_at must carry its offset (Z for UTC)")
    lat = _number(doc, "lat", -90, 90)
    lon = _number(doc, "lon", -180, 180)
    if (lat is None) != (lon is None):
        raise CaptureMessageError("lat and lon must both be given or both be null")
    return SignedCapture(
        agent=doc["agent"],
        device=doc["device"],
        captured_at=captured,
        lat=lat,
        lon=lon,
        accuracy_m=_number(doc, "accuracy_m", 0, 1e7),
        photo_sha256=doc["photo_sha256"],
        source=doc["source"],
        message=message,
    )


# --- the verdict ---------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureVerdict:
    """One photo's capture signature: its light and why.

    Attributes:
        light: ``green``, ``amber`` (unsigned) or ``red``.
        message: the reason's key in the message catalogues (``capture.*``).
        params: the values the reason names (device, agent, times, places).
        device: the device id the message names (None when unsigned or unreadable).
        signature: the signature sent (None when unsigned).
        capture: the signed message as read (None when unsigned or unreadable).
        agent_has_device: for an unsigned photo, whether its sender has a
            registered device (then an unsigned photo is a choice, and counts).
    """

    light: Light
    message: str
    params: Mapping[str, Param] = field(default_factory=dict)
    device: str | None = None
    signature: str | None = None
    capture: SignedCapture | None = None
    agent_has_device: bool = False

    @property
    def counts(self) -> bool:
        """Whether this photo brings its claim a ``capture_signature`` check.

        A photo sent with anything signed does, and so does an unsigned one
        from an agent who has a registered device (active, pending or
        revoked: leaving photos unsigned must not avoid the check). An
        unsigned photo from staff or from an agent without a device does not.
        """
        return (
            self.light != "amber"
            or self.signature is not None
            or (self.agent_has_device)
        )

    @property
    def attested(self) -> SignedCapture | None:
        """The signed message when its time and place are the capture's, else None.

        Only a green photo's: taken by the app's camera and signed on an
        active device of the sending agent. A photo picked from the phone's
        files, signed on a device awaiting approval, or red keeps the time
        and place the upload states or its EXIF holds.
        """
        return self.capture if self.light == "green" else None

    def to_json(self) -> dict[str, Any]:
        """What the ledger and the evidence record keep: light, reason (as data), device."""
        return {
            "light": self.light,
            "message": self.message,
            "params": dict(self.params),
            "device": self.device,
            "signature": self.signature,
        }


FROM_FILES = "capture.from_files"
"""The message of a photo signed on the agent's device but picked from its files (amber)."""
AWAITING_APPROVAL = "capture.awaiting_approval"
"""The message of a photo signed on a device an admin has not approved yet (amber)."""


def unsigned_reason(agent: str, has_device: bool) -> tuple[str, dict[str, Param]]:
    """Why an unsigned photo is amber (message, params): unsigned, or by an agent with a phone."""
    if has_device:
        return "capture.unsigned_has_device", {"agent": agent}
    return "capture.unsigned", {}


def capture_verdict(
    *,
    signed: str | None,
    signature: str | None,
    photo_sha256: str,
    agent: str,
    device: DeviceKey | None,
    stated_at: datetime | None = None,
    stated_place: tuple[float, float] | None = None,
    agent_has_device: bool = False,
) -> CaptureVerdict:
    """The light of one photo's capture signature.

    Args:
        signed: the exact signed message sent with the photo, or None.
        signature: its signature (P1363, base64url), or None.
        photo_sha256: lower-case hex SHA-256 of the bytes the server received.
        agent: the username of the logged-in agent sending the photo.
        device: the registered device the message names (looked up by the
            caller from the message's ``device``), or None if there is none.
        stated_at: a capture time the upload also states unsigned, if any.
        stated_place: a (lat, lon) the upload also states unsigned, if any.
        agent_has_device: whether ``agent`` has any registered device
            (active, pending or revoked): an unsigned photo's reason says so.

    Returns:
        ``amber`` when nothing is signed, when a valid signature is of a
        photo picked from the phone's files (:data:`FROM_FILES`), or of a
        device awaiting approval (:data:`AWAITING_APPROVAL`); ``red`` for a
        signature without a message or the reverse, an unreadable message, an
        unknown device, another agent's device or message, a signature that
        does not verify, bytes that differ from the signed hash, a revoked
        device, a stated time without its offset, or (for a camera photo) a
        stated time or place that differs from the signed one; else ``green``.
    """
    if signed is None and signature is None:
        message, params = unsigned_reason(agent, agent_has_device)
        return CaptureVerdict(
            "amber", message, params, agent_has_device=agent_has_device
        )
    if signed is None:
        return CaptureVerdict(
            "red", "capture.signature_without_message", {}, None, signature
        )
    if signature is None:
        return CaptureVerdict("red", "capture.message_without_signature")
    try:
        capture = parse_signed_capture(signed)
    except CaptureMessageError as exc:
        return CaptureVerdict(
            "red", "capture.unreadable", {"detail": str(exc)}, None, signature
        )
    on = {"device": capture.device}

    def red(message: str, params: Mapping[str, Param] = on) -> CaptureVerdict:
        return CaptureVerdict(
            "red", message, dict(params), capture.device, signature, capture
        )

    if device is None or device.device_id != capture.device:
        return red("capture.unknown_device")
    if device.agent != agent:
        return red("capture.other_agents_device")
    if capture.agent != agent:
        return red("capture.other_agent", {"signer": capture.agent, "sender": agent})
    if not verify_signature(device.public_key, signed.encode("utf-8"), signature):
        return red("capture.bad_signature")
    if capture.photo_sha256 != photo_sha256:
        return red("capture.bytes_differ")
    if device.status == "revoked":
        if device.revoked_at is None:
            return red("capture.revoked")
        return red(
            "capture.revoked_at",
            {**on, "when": f"{device.revoked_at:%Y-%m-%d %H:%M}"},
        )
    if stated_at is not None and stated_at.utcoffset() is None:
        return red("capture.time_without_offset", {"stated": stated_at.isoformat()})

    def amber(message: str) -> CaptureVerdict:
        return CaptureVerdict("amber", message, on, capture.device, signature, capture)

    if device.status != "active":
        return amber(AWAITING_APPROVAL)
    if capture.source == "file":
        # Signed when picked, not when taken: what the upload states (or the
        # photo's EXIF) is its time and place, as for an unsigned photo.
        return amber(FROM_FILES)
    if stated_at is not None:
        delta = abs((stated_at - capture.captured_at).total_seconds())
        if delta > MAX_TIME_DIFFERENCE_S:
            return red(
                "capture.time_differs",
                {"signed": capture.captured_at.isoformat(), "seconds": delta},
            )
    if stated_place is not None:
        if capture.lat is None or capture.lon is None:
            return red("capture.place_unsigned")
        if (
            abs(stated_place[0] - capture.lat) > MAX_PLACE_DIFFERENCE_DEG
            or abs(stated_place[1] - capture.lon) > MAX_PLACE_DIFFERENCE_DEG
        ):
            return red(
                "capture.place_differs",
                {
                    "signed_lat": capture.lat,
                    "signed_lon": capture.lon,
                    "sent_lat": stated_place[0],
                    "sent_lon": stated_place[1],
                },
            )
    return CaptureVerdict(
        "green",
        "capture.signed",
        {**on, "agent": agent},
        capture.device,
        signature,
        capture,
    )
