"""Capture signatures: device keys, the signed message, each photo's verdict, the claim check."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from claims import (
    CaptureVerdict,
    DeviceKey,
    DeviceKeyError,
    Light,
    capture_verdict,
    check_capture_signature,
    jwk_thumbprint,
    parse_public_jwk,
    parse_signed_capture,
    verify_signature,
)
from claims.errors import CaptureMessageError
from tests.claims.capture_phone import Phone, b64url
from tests.words import en, zh

PHOTO = b"\xff\xd8 the exact bytes of a JPEG \xff\xd9"
AGENT = "li.wei"


@pytest.mark.parametrize(
    ("photos", "light", "reason"),
    [
        (
            [
                ("a.jpg", "green", "capture.signed"),
                ("b.jpg", "green", "capture.signed"),
            ],
            "green",
            "all 2 photos",
        ),
        ([("a.jpg", "green", "capture.signed")], "green", "1 photo signed"),
        (
            [
                ("a.jpg", "green", "capture.signed"),
                ("b.jpg", "amber", "capture.unsigned"),
            ],
            "amber",
            "1 of 2 photos not attested: b.jpg: not signed by a registered device",
        ),
        (
            [
                ("a.jpg", "amber", "capture.unsigned"),
                ("b.jpg", "red", "capture.bytes_differ"),
            ],
            "red",
            "b.jpg: the photo bytes differ",
        ),
        (
            [
                ("a.jpg", "red", "capture.bad_signature"),
                ("b.jpg", "green", "capture.signed"),
                ("c.jpg", "red", "capture.bytes_differ"),
            ],
            "red",
            "a.jpg: the signature does not verify with the device's key; "
            "c.jpg: the photo bytes differ",
        ),
        (
            [("a.jpg", "amber", "capture.awaiting_approval")],
            "amber",
            "1 of 1 photo not attested: a.jpg: device awaiting approval",
        ),
        (
            [
                ("a.jpg", "amber", "capture.unsigned"),
                ("b.jpg", "amber", "capture.from_files"),
                ("c.jpg", "amber", "capture.unsigned"),
            ],
            "amber",
            "3 of 3 photos not attested: a.jpg, c.jpg: not signed by a registered "
            "device; b.jpg: signed on a registered device, but picked from",
        ),
    ],
)
def test_the_claim_check_is_the_worst_photo(
    photos: list[tuple[str, Light, str]], light: str, reason: str
) -> None:
    check = check_capture_signature(
        [(name, CaptureVerdict(lit, message)) for name, lit, message in photos]
    )
    assert (check.code, check.light) == ("capture_signature", light)
    assert reason in en(check)
    # Each photo of the worst light is a detail naming its photos, in any language.
    assert all(d.subject for d in check.details)
    assert "photo" not in zh(check)


def test_the_claim_check_needs_a_photo() -> None:
    with pytest.raises(ValueError, match="at least one photo"):
        check_capture_signature([])


# --- device keys -------------------------------------------------------------------


def test_a_webcrypto_public_jwk_is_accepted_and_kept_to_its_four_members() -> None:
    jwk = Phone().jwk()
    assert parse_public_jwk(jwk) == {k: jwk[k] for k in ("crv", "kty", "x", "y")}


def test_the_thumbprint_is_rfc_7638_and_ignores_other_members() -> None:
    jwk = Phone().jwk()
    required = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    expected = b64url(hashlib.sha256(required.encode()).digest())
    assert jwk_thumbprint(jwk) == expected
    assert jwk_thumbprint(parse_public_jwk(jwk)) == expected
    assert jwk_thumbprint(Phone().jwk()) != expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kty": "RSA"}, "kty must be EC"),
        ({"crv": "P-384"}, "crv must be P-256"),
        ({"x": "AAAA"}, "x must be 32 bytes"),
        ({"y": None}, "y must be 32 bytes"),
        ({"x": b64url(bytes(32))}, "not on P-256"),
    ],
)
def test_a_key_that_is_not_ec_p256_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(DeviceKeyError, match=message):
        parse_public_jwk(Phone().jwk() | change)


def test_a_private_key_is_refused() -> None:
    with pytest.raises(DeviceKeyError, match="private key"):
        parse_public_jwk(Phone().private_jwk())
    with pytest.raises(DeviceKeyError, match="JWK object"):
        parse_public_jwk("not a key")


# --- the signed message -------------------------------------------------------------


def test_the_signed_message_is_read_and_its_signature_verifies() -> None:
    phone = Phone()
    message, signature = phone.capture(AGENT, PHOTO)
    assert message.startswith('{"accuracy_m":"12","agent":"li.wei","captured_at":')
    assert message.endswith(',"source":"camera","v":"1"}')
    capture = parse_signed_capture(message)
    assert capture.source == "camera"
    # A 64-character username, non-ASCII included, is a username.
    assert parse_signed_capture(Phone().message("李" * 64, PHOTO)).agent == "李" * 64
    assert capture.captured_at == datetime(2026, 11, 30, 6, 51, 4, 123000, UTC)
    assert (capture.lat, capture.lon, capture.accuracy_m) == (40.843, 111.749, 12.0)
    assert capture.photo_sha256 == hashlib.sha256(PHOTO).hexdigest()
    key = parse_public_jwk(phone.jwk())
    assert verify_signature(key, message.encode(), signature)
    assert not verify_signature(key, message.encode() + b" ", signature)
    assert not verify_signature(
        parse_public_jwk(Phone().jwk()), message.encode(), signature
    )
    assert not verify_signature(key, message.encode(), signature[:-2])
    # A DER signature (what cryptography gives) is not WebCrypto's format.
    der = base64.urlsafe_b64encode(bytes(70)).rstrip(b"=").decode()
    assert not verify_signature(key, message.encode(), der)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"v":"1"}', "exactly the keys"),
        (
            Phone().message(AGENT, PHOTO).replace('"v":"1"', '"v":"2"'),
            "unknown signed message version",
        ),
        (
            json.dumps(json.loads(Phone().message(AGENT, PHOTO))),
            "canonical form",
        ),
        (Phone().message(AGENT, PHOTO, lat="north"), "lat must be a decimal"),
        (Phone().message(AGENT, PHOTO, lat="95.0"), "outside"),
        (Phone().message(AGENT, PHOTO, lat=None), "both be given"),
        (Phone().message(AGENT, PHOTO, captured_at="yesterday"), "not an ISO 8601"),
        (
            Phone().message(AGENT, PHOTO, captured_at="2026-11-30T06:51:04"),
            "offset",
        ),
        (
            Phone()
            .message(AGENT, PHOTO)
            .replace('"accuracy_m":"12"', '"accuracy_m":12'),
            "must be a string",
        ),
        # The device and agent reach the database: only the forms it can hold.
        (Phone().message(AGENT, PHOTO, device="dev_test"), "is not a device id"),
        (Phone().message(AGENT, PHOTO, device="dev_" + "0" * 31 + "\x00"), "device id"),
        (Phone().message(AGENT, PHOTO, device="dev_" + "0" * 33), "device id"),
        (Phone().message(AGENT, PHOTO, device="dev_" + "A" * 32), "device id"),
        (Phone().message(AGENT, PHOTO, device="dev_" + "0" * 32 + "\n"), "device id"),
        (Phone().message("a" * 65, PHOTO), "agent must be 1 to 64 characters, not 65"),
        (Phone().message("", PHOTO), "agent must be 1 to 64 characters, not 0"),
        (Phone().message("li\x00wei", PHOTO), "agent holds a control character"),
        (Phone().message("li.wei\u0085", PHOTO), "agent holds a control character"),
        # How the photo came to the app is said, and only as camera or file.
        (Phone().message(AGENT, PHOTO, source="gallery"), "source must be one of"),
        (
            Phone().message(AGENT, PHOTO).replace(',"source":"camera"', ""),
            "exactly the keys",
        ),
    ],
)
def test_a_message_not_in_its_exact_form_is_refused(text: str, problem: str) -> None:
    with pytest.raises(CaptureMessageError, match=problem):
        parse_signed_capture(text)


# --- the verdict of one photo -----------------------------------------------------------


def _device(phone: Phone, agent: str = AGENT, **kw: object) -> DeviceKey:
    return DeviceKey(
        phone.device_id,
        agent,
        parse_public_jwk(phone.jwk()),
        kw.get("status", "active"),  # type: ignore[arg-type]
        kw.get("revoked_at"),  # type: ignore[arg-type]
    )


def _verdict(phone: Phone, signed: str | None, signature: str | None, **kw: object):
    args: dict[str, object] = {
        "photo_sha256": hashlib.sha256(PHOTO).hexdigest(),
        "agent": AGENT,
        "device": _device(phone),
    }
    args.update(kw)
    return capture_verdict(signed=signed, signature=signature, **args)  # type: ignore[arg-type]


def test_a_photo_signed_on_the_agents_active_device_is_green() -> None:
    phone = Phone()
    signed, signature = phone.capture(AGENT, PHOTO)
    v = _verdict(
        phone,
        signed,
        signature,
        stated_at=datetime(2026, 11, 30, 6, 51, 4, 500000, UTC),
        stated_place=(40.8430001, 111.749),
    )
    assert v.light == "green", en(v)
    assert (v.device, v.signature) == (phone.device_id, signature)
    assert v.capture is not None and v.capture.lat == 40.843
    assert v.to_json() == {
        "light": "green",
        "message": "capture.signed",
        "params": {"device": phone.device_id, "agent": AGENT},
        "device": phone.device_id,
        "signature": signature,
    }
    assert en(v) == f"signed on device {phone.device_id} of {AGENT}"


def test_an_unsigned_photo_is_amber() -> None:
    v = _verdict(Phone(), None, None, device=None)
    assert (v.light, v.device, v.capture) == ("amber", None, None)
    assert en(v) == "not signed by a registered device"
    v = _verdict(Phone(), None, None, device=None, agent_has_device=True)
    assert (v.light, en(v)) == (
        "amber",
        "not signed, though agent li.wei has a registered phone",
    )


def test_a_green_photo_attests_its_time_and_place_and_others_do_not() -> None:
    phone = Phone()
    green = _verdict(phone, *phone.capture(AGENT, PHOTO))
    assert green.attested is not None and green.attested.lat == 40.843
    red = _verdict(phone, *phone.capture(AGENT, PHOTO), device=None)
    assert red.light == "red" and red.capture is not None and red.attested is None
    assert _verdict(phone, None, None).attested is None


def test_a_photo_picked_from_the_phones_files_is_amber_at_best() -> None:
    phone = Phone()
    signed, signature = phone.capture(AGENT, PHOTO, source="file")
    # Its signed time is when it was picked: a stated time (EXIF's or the
    # app's) that differs is no contradiction, and is what counts.
    v = _verdict(
        phone, signed, signature, stated_at=datetime(2024, 5, 1, 9, tzinfo=UTC)
    )
    assert (v.light, en(v)) == (
        "amber",
        "signed on a registered device, but picked from the phone's files: "
        "time and place not attested",
    )
    assert v.device == phone.device_id and v.attested is None
    # Everything that makes a camera photo red still does.
    assert _verdict(phone, signed, signature, device=None).light == "red"
    altered = signed.replace('"source":"file"', '"source":"camera"')
    v = _verdict(phone, altered, signature)
    assert v.light == "red" and "does not verify" in en(v)


def test_a_photo_signed_on_a_device_awaiting_approval_is_amber() -> None:
    phone = Phone()
    v = _verdict(
        phone, *phone.capture(AGENT, PHOTO), device=_device(phone, status="pending")
    )
    assert (v.light, en(v), v.attested) == (
        "amber",
        "device awaiting approval",
        None,
    )


def test_a_time_sent_without_its_offset_beside_a_signature_is_red() -> None:
    phone = Phone()
    v = _verdict(
        phone,
        *phone.capture(AGENT, PHOTO),
        stated_at=datetime(2026, 11, 30, 6, 51, 4),
    )
    assert v.light == "red"
    assert en(v) == (
        "the time sent beside the signed message (2026-11-30T06:51:04) has no "
        "offset (Z for UTC)"
    )


def _altered_time(phone: Phone) -> tuple[str, str]:
    signed, signature = phone.capture(AGENT, PHOTO)
    return signed.replace("06:51:04.123Z", "05:51:04.123Z"), signature


def _altered_place(phone: Phone) -> tuple[str, str]:
    signed, signature = phone.capture(AGENT, PHOTO)
    return signed.replace('"lat":"40.843000"', '"lat":"40.943000"'), signature


@pytest.mark.parametrize(
    ("make", "kw", "reason"),
    [
        (lambda p: (None, "sig"), {}, "a signature without its signed message"),
        (lambda p: (p.message(AGENT, PHOTO), None), {}, "without its signature"),
        (lambda p: ("{}", "sig"), {}, "exactly the keys"),
        (
            lambda p: p.capture(AGENT, PHOTO),
            {"photo_sha256": hashlib.sha256(PHOTO + b"x").hexdigest()},
            "the photo bytes differ from the signed hash",
        ),
        (_altered_time, {}, "the signature does not verify"),
        (_altered_place, {}, "the signature does not verify"),
        (
            lambda p: p.capture(AGENT, PHOTO),
            {"stated_at": datetime(2026, 11, 30, 7, 0, tzinfo=UTC)},
            "the signed time 2026-11-30T06:51:04.123000+00:00 differs",
        ),
        (
            lambda p: p.capture(AGENT, PHOTO),
            {"stated_place": (40.9, 111.749)},
            "the signed place (40.843000, 111.749000) differs",
        ),
        (
            lambda p: p.capture(AGENT, PHOTO, lat=None, lon=None),
            {"stated_place": (40.9, 111.749)},
            "the signed message has none",
        ),
        (lambda p: p.capture(AGENT, PHOTO), {"device": None}, "is not registered"),
        (
            lambda p: p.capture(AGENT, PHOTO, device="dev_" + "e" * 32),
            {},
            f"device dev_{'e' * 32} is not registered",
        ),
        (
            lambda p: p.capture(AGENT, PHOTO),
            {"device": "other-agent", "agent": AGENT},
            "belongs to another agent",
        ),
        (
            lambda p: p.capture("someone.else", PHOTO),
            {},
            "signed by agent someone.else, sent by li.wei",
        ),
        (
            lambda p: p.capture(AGENT, PHOTO),
            {"device": "revoked"},
            "was revoked on 2026-11-29 10:00 UTC",
        ),
        (
            lambda p: (p.capture(AGENT, PHOTO)[0], Phone().capture(AGENT, PHOTO)[1]),
            {},
            "the signature does not verify",
        ),
    ],
)
def test_anything_else_is_red(make, kw: dict[str, object], reason: str) -> None:
    phone = Phone()
    if kw.get("device") == "other-agent":
        kw = kw | {"device": _device(phone, agent="zhang.min")}
    elif kw.get("device") == "revoked":
        kw = kw | {
            "device": _device(
                phone,
                status="revoked",
                revoked_at=datetime(2026, 11, 29, 10, tzinfo=UTC),
            )
        }
    signed, signature = make(phone)
    v = _verdict(phone, signed, signature, **kw)
    assert v.light == "red"
    assert reason in en(v)
