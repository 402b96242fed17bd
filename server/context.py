"""Build the application's services from settings (the composition root)."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ledger import LedgerError, NoteSigner, generate_key
from server.chain import ChainContext, connect_chain
from server.config import Settings
from server.services.ledger import CheckpointPolicy, LedgerService
from server.storage.ledger_store import SqlLedgerStore
from server.storage.migrate import upgrade
from server.storage.schema import make_engine

if TYPE_CHECKING:
    # Imported where used: they load numpy, shapely, GDAL and torch, which the
    # ledger-only commands of ``agri`` never need (fast start).
    from livestock import Registry
    from server.services.claims import ClaimsService
    from server.services.devices import DeviceService
    from server.services.enrolment import EnrolmentService
    from server.services.maps import NdviStack
    from server.services.photos import PhotoService
    from server.services.underwriting import UnderwritingService

__all__ = ["AppContext", "build_context", "load_or_create_signer", "write_keypair"]

logger = logging.getLogger(__name__)
_REGISTRY_LOCK = threading.Lock()


@dataclass
class AppContext:
    """The wired application: settings, engine and services.

    The face-ID registry is built on first use (the model loads in about a
    second) and rebuilds its search index from the ``animals`` table. Each
    process has its own; they catch up with each other's enrolments through
    the database (see DESIGN.md), so several API workers may share one.
    """

    settings: Settings
    engine: Engine
    ledger: LedgerService

    def registry(self) -> Registry:
        """The face-ID registry over the database's templates (built once per process).

        Thread-safe: concurrent first requests wait for one registry instead of
        each loading the model and indexing the templates.
        """
        with _REGISTRY_LOCK:
            if "_registry" not in self.__dict__:
                from livestock import FaceID, Registry
                from server.storage.animal_store import SqlTemplateStore

                self.__dict__["_registry"] = Registry(
                    FaceID.load(), SqlTemplateStore(self.engine)
                )
        registry: Registry = self.__dict__["_registry"]
        return registry

    @cached_property
    def photos(self) -> PhotoService:
        """Kept photos (AGRI_PHOTO_DIR): written when received, shown by role."""
        from server.services.photos import PhotoService
        from server.storage.photo_store import PhotoFiles

        return PhotoService(self.engine, PhotoFiles(self.settings.resolved_photo_dir()))

    @cached_property
    def devices(self) -> DeviceService:
        """Field agents' devices, and the capture signatures of their photos."""
        from server.services.devices import DeviceService

        return DeviceService(self.ledger)

    @cached_property
    def underwriting(self) -> UnderwritingService:
        """Farmers, products, applications and policies."""
        from server.services.underwriting import UnderwritingService

        return UnderwritingService(self.ledger)

    @cached_property
    def enrolment(self) -> EnrolmentService:
        """Animals into the face-ID registry, their later visits, re-embedding."""
        from server.services.enrolment import EnrolmentService

        return EnrolmentService(
            self.ledger,
            self.underwriting,
            self.registry,
            photos=self.photos,
            devices=self.devices,
        )

    @cached_property
    def ndvi_stack(self) -> NdviStack | None:
        """The multi-date NDVI stack (``AGRI_NDVI_*``), if one is configured."""
        from server.services.maps import NdviStack

        s = self.settings
        if s.ndvi_stack is None:
            return None
        return NdviStack(s.ndvi_stack, s.ndvi_clouds, s.ndvi_dates, s.ndvi_scale)

    @cached_property
    def claims(self) -> ClaimsService:
        """Claims: intake, evidence, assessment by map, decisions and payment."""
        from claims import ClaimRules
        from server.services.claims import ClaimsService

        return ClaimsService(
            self.ledger,
            self.underwriting,
            self.registry,
            ClaimRules(
                notice_days=self.settings.claim_notice_days,
                max_photo_km=self.settings.photo_max_km,
                farm_timezone=self.settings.farm_timezone,
                farm_timezones=self.settings.farm_timezones,
                four_eyes_above_minor=self.settings.four_eyes_above_minor,
                objection_days=self.settings.notice_objection_days,
            ),
            devices=self.devices,
            photos=self.photos,
            ndvi=self.ndvi_stack,
        )

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def key_stem(name: str) -> str:
    """A file-name-safe stem for a key name (``a.b/c`` -> ``a.b_c``)."""
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def write_keypair(signer: NoteSigner, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<stem>.key`` (signer, mode 0600) and ``<stem>.pub`` (verifier)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = key_stem(signer.name)
    skey, vkey = out_dir / f"{stem}.key", out_dir / f"{stem}.pub"
    fd = os.open(skey, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{signer}\n")
    vkey.write_text(f"{signer.verifier()}\n")
    return skey, vkey


def load_or_create_signer(settings: Settings) -> NoteSigner:
    """Load the ledger's signer key; in development, generate one on first use.

    Raises:
        LedgerError: the key file is missing (production) or unreadable.
    """
    path = settings.ledger_key_file
    if path is None:
        path = settings.data_dir / f"{key_stem(settings.ledger_key_name)}.key"
        if not path.exists():
            skey, vkey = write_keypair(
                generate_key(settings.ledger_key_name), path.parent
            )
            logger.info("generated ledger key %s (verifier key %s)", skey, vkey)
    try:
        return NoteSigner.parse(path.read_text())
    except OSError as exc:
        raise LedgerError(f"cannot read ledger key file {path}: {exc}") from exc


def build_context(
    settings: Settings | None = None,
    *,
    chain: ChainContext | bool | None = True,
    migrate: bool = True,
) -> AppContext:
    """Wire engine, schema, key and chain from settings.

    Args:
        settings: defaults to ``Settings()`` (environment and ``.env``).
        chain: True to connect as configured, False for none, or a ready context.
        migrate: bring the schema up to date first.
    """
    settings = settings or Settings()
    engine = make_engine(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
    )
    if migrate:
        upgrade(engine)
    chain_ctx: ChainContext | None
    if chain is True:
        chain_ctx = connect_chain(settings)
    elif chain is False:
        chain_ctx = None
    else:
        chain_ctx = chain
    ledger = LedgerService(
        SqlLedgerStore(engine),
        load_or_create_signer(settings),
        chain=chain_ctx,
        policy=CheckpointPolicy(
            settings.checkpoint_every, settings.checkpoint_interval_s
        ),
    )
    return AppContext(settings, engine, ledger)
