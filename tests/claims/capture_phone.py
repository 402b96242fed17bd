"""A phone that signs captures as the agent's app does with WebCrypto (ECDSA P-256, P1363).

WebCrypto's ``sign({name: "ECDSA", hash: "SHA-256"}, key, bytes)`` returns
the raw ``r || s`` (32 bytes each); ``cryptography`` returns DER, so the
test phone converts it, exactly as the server converts back.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["Phone", "b64url"]


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWK and the app write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Phone:
    """A P-256 key pair and the app's signed capture messages."""

    def __init__(self, device_id: str = "dev_" + "0" * 32) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device_id = device_id

    def jwk(self) -> dict[str, Any]:
        """The public key as ``crypto.subtle.exportKey("jwk", publicKey)`` gives it."""
        n = self.key.public_key().public_numbers()
        return {
            "crv": "P-256",
            "ext": True,
            "key_ops": ["verify"],
            "kty": "EC",
            "x": b64url(n.x.to_bytes(32, "big")),
            "y": b64url(n.y.to_bytes(32, "big")),
        }

    def private_jwk(self) -> dict[str, Any]:
        """The private key as a JWK (what must never be sent)."""
        d = self.key.private_numbers().private_value
        return self.jwk() | {"d": b64url(d.to_bytes(32, "big")), "key_ops": ["sign"]}

    def message(
        self,
        agent: str,
        data: bytes,
        *,
        captured_at: str = "2026-11-30T06:51:04.123Z",
        lat: str | None = "40.843000",
        lon: str | None = "111.749000",
        accuracy_m: str | None = "12",
        device: str | None = None,
        source: str = "camera",
    ) -> str:
        """The signed message: key-sorted JSON, no whitespace, string values."""
        doc = {
            "accuracy_m": accuracy_m,
            "agent": agent,
            "captured_at": captured_at,
            "device": device or self.device_id,
            "lat": lat,
            "lon": lon,
            "photo_sha256": hashlib.sha256(data).hexdigest(),
            "source": source,
            "v": "1",
        }
        return json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def sign(self, message: str) -> str:
        """The P1363 ``r||s`` signature of the message's UTF-8 bytes, base64url."""
        der = self.key.sign(message.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def capture(self, agent: str, data: bytes, **fields: Any) -> tuple[str, str]:
        """(signed message, signature) for one photo."""
        message = self.message(agent, data, **fields)
        return message, self.sign(message)
