"""What a production server refuses to start with: secrets others can read, or that everyone knows.

``agri serve`` with ``AGRI_ENVIRONMENT=production`` asks :func:`production_problems`
before it listens and refuses to start while any is found, each named with what
to do. Development (the demo, the tests) starts with anything.
"""

from __future__ import annotations

import functools
import stat
from pathlib import Path

from sqlalchemy import Engine

from server.config import Settings
from server.services.work import reading
from server.storage.users_store import UserRows

__all__ = ["DEMO_PASSWORD", "KNOWN_DATABASE_PASSWORDS", "production_problems"]

DEMO_PASSWORD = "demo-password-2025"
"""The password of every user ``agri demo`` creates (printed by ``make demo``)."""

KNOWN_DATABASE_PASSWORDS = frozenset({"postgres", "password", "agri", DEMO_PASSWORD})
"""Database passwords found in examples and images' defaults."""

_DEV_MNEMONIC = "test test test test test test test test test test test junk"
_MOST_ADMINS_CHECKED = 50  # each is one argon2 verification (tens of ms)


def production_problems(settings: Settings, engine: Engine) -> list[str]:
    """Why a production server must not start on these settings; empty when none.

    Checks that the ledger's and the anchoring account's key files are readable
    by their owner only, that the anchoring key is not a development chain's
    well-known account, that the database password is not a well-known default,
    and that no admin still has the demo's password. Development settings pass.

    Args:
        settings: the server's settings.
        engine: its database (read only: the admins' password hashes).
    """
    if settings.environment != "production":
        return []
    problems = [
        problem
        for name, path in (
            ("AGRI_LEDGER_KEY_FILE", settings.ledger_key_file),
            ("AGRI_CHAIN_KEY_FILE", settings.chain_key_file),
        )
        if path is not None and (problem := _shared_key_file(name, path))
    ]
    if settings.chain_key_file is not None and _is_development_key(
        settings.chain_key_file
    ):
        problems.append(
            f"AGRI_CHAIN_KEY_FILE {settings.chain_key_file} holds a development "
            "chain's well-known account key: anyone can spend from it; use a key "
            "of your own"
        )
    password = engine.url.password
    if password is not None and str(password) in KNOWN_DATABASE_PASSWORDS:
        problems.append(
            "AGRI_DATABASE_URL uses a well-known default password: set a "
            "password of your own on the database user"
        )
    demo_admins = _admins_with_demo_password(engine)
    if demo_admins:
        problems.append(
            "admin user(s) " + ", ".join(demo_admins) + " still have the demo's "
            "password: 'agri users passwd NAME' or 'agri users disable NAME'"
        )
    return problems


def _shared_key_file(name: str, path: Path) -> str | None:
    """A problem when ``path`` can be read or written by its group or others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        return f"{name} {path}: cannot read it ({exc.strerror})"
    if mode & 0o077:
        return (
            f"{name} {path} can be read by other users (mode {mode:04o}): "
            f"'chmod 600 {path}' and keep it owned by the server's user"
        )
    return None


@functools.cache
def _development_keys() -> frozenset[int]:
    """The private keys of eth-tester's accounts and of the Hardhat/Anvil test mnemonic."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    known = set(range(1, 1001))  # eth-tester: 1, 2, 3 ... and their like
    for i in range(20):
        account = Account.from_mnemonic(
            _DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}"
        )
        known.add(int.from_bytes(account.key, "big"))
    return frozenset(known)


def _is_development_key(path: Path) -> bool:
    """Whether the hex key in ``path`` is a well-known development account's."""
    try:
        text = path.read_text().strip().removeprefix("0x")
        key = int(text, 16)
    except (OSError, ValueError):
        return False  # unreadable or not hex: connecting to the chain says so
    return key in _development_keys()


def _admins_with_demo_password(engine: Engine) -> list[str]:
    """Usernames of active admins whose password is :data:`DEMO_PASSWORD`."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()
    with reading(engine) as conn:
        rows = UserRows().active_admin_hashes(conn, _MOST_ADMINS_CHECKED)
    found = []
    for username, password_hash in rows:
        try:
            hasher.verify(password_hash, DEMO_PASSWORD)
        except (VerificationError, InvalidHashError):
            continue
        found.append(username)
    return found
