"""Shared setup of the pages' records tests: users, a livestock claim with photos, a crop claim.

Real data only: cow faces from ``shared_data/cattle_faces`` (read where they
lie, never copied), the Austrian fields and the Sentinel-2 pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import rasterio
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio import features

from livestock import Photo
from livestock.data import Capture, capture_time, scan_folder, split_enrol_query
from remote_sensing import ImageSpec, plots_from_geometries, read_plots
from server.context import AppContext
from server.services.auth import UserStore
from server.services.claims import ClaimRecord, EvidencePhoto
from tests.cattle import sample_animals
from underwriting import CropProduct, LivestockProduct, Money

PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]
FARM_1, FARM_2 = (40.842, 111.749), (40.700, 111.150)
START, END = date(2025, 4, 1), date(2026, 3, 31)
USERS = (
    ("admin", "admin", None),
    ("underwriter", "underwriter", None),
    ("adjuster", "adjuster", None),
    ("adjuster2", "adjuster", None),
    ("field_agent", "field_agent", None),
    ("farmer", "farmer", "F-1"),
    ("farmer2", "farmer", "F-2"),
    ("farmer5", "farmer", "F-5"),
)


def add_users(app: AppContext) -> None:
    store = UserStore(app.engine)
    for name, role, farmer in USERS:
        store.create(name, PASSWORD, role, farmer)


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass(frozen=True)
class Cows:
    """Two cows the model never trained on: enrolment photos and dated later photos."""

    tags: list[str]
    enrol: dict[str, list[Capture]]
    later: dict[str, list[Capture]]


def pick_cows(shared_data: Path) -> Cows:

    held = sample_animals(shared_data)
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held]
    )
    dated = [
        a
        for a in held
        if any(c.day and c.day >= date(2025, 4, 14) for c in split.query[a])
    ][:2]
    later = {
        a: [c for c in split.query[a] if c.day and c.day >= date(2025, 4, 14)]
        for a in dated
    }
    return Cows(dated, {a: split.enrol[a] for a in dated}, later)


@dataclass(frozen=True)
class Herd:
    """F-1 insures cow 0, F-2 cow 1; one policy each."""

    policies: dict[str, str]


def insure_herd(app: AppContext, cows: Cows) -> Herd:
    uw = app.underwriting
    for fid, (lat, lon) in (("F-1", FARM_1), ("F-2", FARM_2)):
        uw.register_farmer(fid, fid, "Hohhot", lat=lat, lon=lon, actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    policies = {}
    for farmer, tag in (("F-1", cows.tags[0]), ("F-2", cows.tags[1])):
        photos = [Photo(c.path.name, c.path) for c in cows.enrol[tag]]
        result = app.enrolment.enrol_animal(
            tag, photos, farmer_id=farmer, actor="agent"
        )
        assert result.status == "enrolled"
        a = uw.apply_livestock(
            farmer, "COW", [tag], start=START, end=END, actor="agent"
        )
        policies[farmer] = uw.decide(a.id, "approve", actor="uw").policy_id or ""
    return Herd(policies)


def animal_claim(
    app: AppContext, cows: Cows, herd: Herd, farmer: str = "F-1", n: int = 3
) -> tuple[ClaimRecord, list[Capture]]:
    """A claim on the farmer's cow with ``n`` later photos as evidence."""
    i = 0 if farmer == "F-1" else 1
    tag = cows.tags[i]
    farm = FARM_1 if farmer == "F-1" else FARM_2
    caps = cows.later[tag][:n]
    day = min(c.day for c in caps if c.day) or date(2025, 4, 14)
    claim = app.claims.file(
        policy_id=herd.policies[farmer],
        farmer_id=farmer,
        subject_kind="animal",
        subject_id=tag,
        event_date=day,
        reported_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        market_value=Money.parse("7600"),
        actor="agent",
    )
    claim = app.claims.add_evidence(
        claim.id,
        [
            EvidencePhoto(
                Photo(c.path.name, c.path),
                capture_time(c.path.name),
                farm[0] + 0.001,
                farm[1],
            )
            for c in caps
        ],
        actor="agent",
    )
    return claim, caps


AUSTRIA_SCENE = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"
AUSTRIA_FIELDS = REPO / "tests/remote_sensing/data/austria_fields.gpkg"


WHEAT = CropProduct(
    "WHEAT",
    Money.parse("900"),
    "mu",
    Decimal("0.06"),
    Decimal("0.1"),
    {"heading": Decimal("0.7"), "maturity": Decimal("1")},
)
"""Wheat per mu, with growth-stage caps and the default scene terms (20 days each way)."""


def crop_policy(
    app: AppContext,
    ids: list[str],
    farmer: str = "F-5",
    start: date | None = None,
    product: CropProduct = WHEAT,
) -> tuple[str, str]:
    """An approved crop application of the Austrian fields ``ids``: (application, policy)."""
    uw = app.underwriting
    try:
        uw.register_farmer(farmer, farmer, "Upper Austria", actor="admin")
    except Exception:  # registered by an earlier call
        pass
    try:
        uw.add_product(product, actor="admin")
    except Exception:  # created by an earlier call
        pass
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    idx = [fields.ids.index(i) for i in ids]
    mine = plots_from_geometries(
        fields.geometry[idx], 4326, ids=ids, declared_m2=fields.area_m2[idx] * 1.5
    )
    a = uw.apply_crop(
        farmer,
        product.code,
        mine,
        start=start or date(2021, 4, 1),
        end=date(2021, 10, 31),
        actor="agent",
    )
    decided = uw.decide(a.id, "approve", actor="uw", reason="checked on the map")
    return a.id, decided.policy_id or ""


PEERS = [f"AT-{i:04d}" for i in range(2, 10)]
"""Fields insured beside the claimed ones: the crop's peers on a pair."""

HAIL_EVENT = date(2021, 6, 20)
"""The loss date of :func:`hail_pair`: between its two dates, 3 and 7 days away."""


def hail_pair(
    shared_data: Path, folder: Path, hit: Sequence[str], nir_factor: float = 0.25
) -> tuple[ImageSpec, ImageSpec]:
    """A before/after pair 10 days apart with hail planted on the fields ``hit``.

    Real pixels: the before-image is the Austrian scene of 2021-06-17; the
    after-image (dated 2021-06-27 by the file's name) is the same scene with
    the NIR of the ``hit`` fields scaled by ``nir_factor``, as hail or flood
    does. Every other field keeps its NDVI: the peers show no change.
    """
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    idx = [fields.ids.index(i) for i in hit]
    path = folder / "austria_hail_2021-06-17_2021-06-27.tif"
    with rasterio.open(shared_data / AUSTRIA_SCENE) as src:
        june = src.read([1, 2, 3, 4])
        profile = src.profile | {"count": 8}
        to_raster = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        shapes = [
            shapely.transform(
                g, lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1]))
            )
            for g in fields.geometry[idx]
        ]
        hit_mask = features.geometry_mask(
            shapes, (src.height, src.width), src.transform, invert=True
        )
    after = june.copy()
    after[3] = np.where(hit_mask, after[3] * nir_factor, after[3]).astype(june.dtype)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.concatenate([june, after]))
    return (
        ImageSpec(path, {"red": 1, "nir": 4, "blue": 3}, 0.0001),
        ImageSpec(path, {"red": 5, "nir": 8, "blue": 7}, 0.0001),
    )


def crop_claim(
    app: AppContext,
    policy: str,
    plot: str = "AT-0488",
    *,
    event: date = HAIL_EVENT,
    claimed: float = 0.8,
    stage: str | None = "heading",
) -> ClaimRecord:
    """A hail claim of farmer F-5 on ``plot``, reported two days after ``event``; not assessed."""
    return app.claims.file(
        policy_id=policy,
        farmer_id="F-5",
        subject_kind="plot",
        subject_id=plot,
        event_date=event,
        reported_at=datetime.combine(
            event + timedelta(days=2), datetime.min.time(), UTC
        ),
        claimed_fraction=claimed,
        growth_stage=stage,
        actor="agent",
    )


def assessed_crop_claim(
    app: AppContext, shared_data: Path, policy: str, plot: str = "AT-0488"
) -> ClaimRecord:
    """A hail claim on ``plot`` assessed on the real Sentinel-2 pair (June / September)."""
    c = crop_claim(app, policy, plot, event=date(2021, 9, 10), stage="maturity")
    scene = shared_data / AUSTRIA_SCENE
    before = ImageSpec(scene, {"red": 1, "nir": 4}, 0.0001)
    after = ImageSpec(scene, {"red": 5, "nir": 8}, 0.0001)
    record, _ = app.claims.assess_by_map(c.id, before, after, actor="adjuster")
    return record
