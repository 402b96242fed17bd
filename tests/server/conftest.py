"""Database fixtures: every storage test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger import generate_key
from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context, write_keypair
from server.http.app import create_app
from server.services.auth import ROLES, UserStore
from server.services.underwriting import UnderwritingService
from underwriting import CropProduct, LivestockProduct, Money, SubsidyShares

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def _postgres_base() -> str:
    """The test server's URL (``AGRI_TEST_POSTGRES_URL``).

    Under pytest-xdist each worker has a database of its own (the URL's name
    plus ``_gw0``, ``_gw1``..., created on first use and kept for the next run):
    PostgreSQL's advisory locks, which the services take by name, are per
    database, so two workers' tests in one database would hold each other's.
    """
    base = os.environ.get("AGRI_TEST_POSTGRES_URL", DEFAULT_PG)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return base
    url = make_url(base)
    name = f"{url.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            conn = engine.connect()
        except Exception:  # any driver error means "no server here": callers say so
            return base
        with conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not found:  # a server that refuses this fails the run: no sharing
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agri.db'}"
        return
    base = _postgres_base()
    try:
        admin = create_engine(base)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "no server here"
        if os.environ.get("AGRI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {base}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    skey, _ = write_keypair(generate_key("test.example/ledger"), tmp_path / "keys")
    return skey


@pytest.fixture
def make_settings(
    db_url: str, tmp_path: Path, key_file: Path
) -> Callable[..., Settings]:
    def inner(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "var",
            "database_url": db_url,
            "ledger_key_file": key_file,
            "checkpoint_every": 1_000_000,
            "anchor_enabled": False,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return inner


@pytest.fixture
def anchor() -> InMemoryAnchor:
    return InMemoryAnchor()


@pytest.fixture
def app(
    make_settings: Callable[..., Settings], anchor: InMemoryAnchor
) -> Iterator[AppContext]:
    ctx = build_context(
        make_settings(), chain=ChainContext(anchor, ephemeral=False, contract="mem")
    )
    yield ctx
    ctx.close()


SLOVENIA = "sentinel2/slovenia"


@pytest.fixture
def stacked(
    make_settings: Callable[..., Settings], shared_data: Path
) -> Iterator[AppContext]:
    """An app whose NDVI stack is the Slovenian 2015-2017 series (with its cloud mask)."""
    folder = shared_data / SLOVENIA
    ctx = build_context(
        make_settings(
            ndvi_stack=folder / "ndvi_timeseries_2015-2017.tif",
            ndvi_clouds=folder / "cloudmask_timeseries_2015-2017.tif",
            ndvi_dates=folder / "timestamps.json",
        ),
        chain=False,
    )
    yield ctx
    ctx.close()


@pytest.fixture
def uw(app: AppContext) -> UnderwritingService:
    """The underwriting service with farmers F-1, F-2 and products WHEAT (per mu) and COW."""
    service = app.underwriting
    for fid in ("F-1", "F-2"):
        service.register_farmer(fid, f"farmer {fid}", "Shaanxi", actor="admin")
    service.add_product(
        CropProduct(
            "WHEAT",
            Money.parse("900"),
            "mu",
            Decimal("0.06"),
            Decimal("0.1"),
            {"maturity": Decimal("1")},
            SubsidyShares(Decimal("0.4"), Decimal("0.25"), Decimal("0.15")),
            # The tests' Sentinel-2 pair lies 85 days before a September loss:
            # these terms accept it, so the indemnity is reckoned on real pixels.
            scene_before_days=100,
        ),
        actor="admin",
    )
    service.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    return service


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    """The app over HTTP, with one user per role (password ``PASSWORD`` of the API
    tests; the farmer is F-1). Modules with other users define their own."""
    from tests.server.test_api_flows import PASSWORD

    store = UserStore(app.engine)
    for role in ROLES:
        store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c
