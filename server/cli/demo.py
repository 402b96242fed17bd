"""``agri demo``: the whole story on real data and embedded defaults, as each user sees it.

Users for each role; ten real cows enrolled from the photos of their first
capture day; livestock policies; parcels from the Austrian register and a
crop policy; an application with an inflated declared area and a plot
overlapping an insured one; claims (a genuine death paid once, the same cow
again, another farmer's cow under an insured tag, a reused photo, a loss in
the waiting period; crop claims on real Sentinel-2 scenes: hail after the
wheat harvest (not covered), hail in June on a pair three months apart (the
imagery cannot tell: field survey), hail on a Slovenian meadow decided by the
map against its peers); then the ledger audit and a farmer's receipt fetched
over the API and verified offline. The story replays 2025 (cows), 2021 and
2015 (imagery) on its own clock: ``reported_at`` is the day the photos were
taken, not today.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from claims import Line
from ledger import NoteVerifier, Receipt, verify_receipt
from livestock import Capture, Photo, capture_time, scan_folder, split_enrol_query
from remote_sensing import DamageAssessment, PlotSet, plots_from_geometries, read_plots
from server.chain import in_process_chain
from server.config import Settings
from server.context import AppContext, build_context
from server.errors import ConflictError, ForbiddenError
from server.i18n import cli_lang, render_check, render_line
from server.services.access import Viewer
from server.services.auth import UserStore
from server.services.claims import ClaimRecord, EvidencePhoto
from server.services.notices import NoticesService
from server.services.startup import DEMO_PASSWORD
from server.services.underwriting import ApplicationRecord, PolicyRecord
from underwriting import (
    Check,
    CropCalendar,
    CropProduct,
    LivestockProduct,
    Money,
    MonthDay,
    SubsidyShares,
)

__all__ = ["DemoDataError", "closing_hints", "run_demo"]

PASSWORD = DEMO_PASSWORD
SUBSIDY = SubsidyShares(Decimal("0.40"), Decimal("0.25"), Decimal("0.15"))
FARMS = {  # id: (name, region, lat, lon)
    "F-0001": ("Liu Jun", "Hohhot, Inner Mongolia", 40.842, 111.749),
    "F-0002": ("Chen Hua", "Tumed Left Banner, Inner Mongolia", 40.700, 111.150),
    "F-0003": ("Hofer cooperative", "Lower Austria", 48.10, 15.90),
    "F-0004": ("Gruber", "Lower Austria", 48.10, 15.90),
    "F-0005": ("Huber", "Upper Austria", 48.29, 13.14),
    "F-0006": ("Zhao Lei", "Hohhot, Inner Mongolia", 40.900, 111.800),
    "F-0007": ("Novak", "Central Slovenia", 45.870, 14.558),
}
LIGHT = {"green": "GREEN", "amber": "AMBER", "red": "RED  "}
# Two clear Sentinel-2 L1C scenes of a Slovenian patch, ten days apart (TOA reflectance 0-1).
SLOVENIA_DAYS = ("2015-08-30", "2015-09-09")
# Winter wheat in Upper Austria: sown in October, heading in May, cut from
# mid-July to early August.
WINTER_WHEAT = CropCalendar(
    MonthDay(10, 1), MonthDay(5, 20), MonthDay(7, 10), MonthDay(8, 10)
)
LANG = cli_lang()
"""The language of the checks' reasons: the shell's locale (``LANG=zh_CN.UTF-8``: Chinese)."""


class DemoDataError(Exception):
    """The shared data the demo runs on is missing (the message names what)."""


@dataclass(frozen=True)
class DemoData:
    """Where the real data lies."""

    cattle: Path
    register: Path
    scene: Path
    fields: Path
    slovenia: Path

    @classmethod
    def locate(cls, shared: Path, repo: Path) -> DemoData:
        data = cls(
            shared / "cattle_faces",
            shared / "parcels" / "at" / "inspire_schlaege_2025-1_polygon.gpkg.zip",
            shared / "sentinel2" / "austria_T33UUP_2021-06-17_2021-09-25.tif",
            repo / "tests" / "remote_sensing" / "data" / "austria_fields.gpkg",
            shared / "sentinel2" / "slovenia",
        )
        for path in (
            data.cattle,
            data.register,
            data.scene,
            data.fields,
            *(data.slovenia / f"S2_L1C_{day}.tif" for day in SLOVENIA_DAYS),
            data.slovenia / "landuse_parcels_RABA.gpkg",
        ):
            if not path.exists():
                raise DemoDataError(f"the demo needs {path}: it is missing")
        return data


def _say(title: str) -> None:
    print(f"\n== {title}")


def _lines(lines: Sequence[Line]) -> str:
    return "; ".join(" ".join(render_line(x, LANG)).strip() for x in lines)


def _checks(checks: Sequence[Check], indent: str = "   ") -> None:
    for c in checks:
        print(f"{indent}{LIGHT[c.light]} {c.code:<17} {render_check(c, LANG)}")


def _claim(label: str, c: ClaimRecord) -> None:
    light = c.light.upper() if c.light else "-"
    print(f"-- {label}")
    print(
        f"   claim {c.id[:8]}  {c.subject_kind} {c.subject_id}  light {light}"
        f"  indemnity {c.amount} {c.amount.currency}  status {c.status}"
    )
    _checks(c.checks)


def _photos(caps: Sequence[Capture]) -> list[Photo]:
    return [Photo(c.path.name, c.path) for c in caps]


def _taken(c: Capture) -> datetime:
    """Capture time from the file name (YYYYMMDDhhmmss...), as the phone recorded it."""
    when = capture_time(c.path.name)
    assert when is not None, c.path  # dated captures only
    return when


def _evidence(
    caps: Sequence[Capture], near: tuple[float, float]
) -> list[EvidencePhoto]:
    lat, lon = near
    return [
        EvidencePhoto(
            Photo(c.path.name, c.path), _taken(c), lat + 0.001 * i, lon + 0.001
        )
        for i, c in enumerate(caps)
    ]


def _on_day(caps: Sequence[Capture], day: date, n: int = 3) -> list[Capture]:
    return [c for c in caps if c.day == day][:n]


def run_demo(data_dir: Path, shared: Path | None = None) -> int:
    """Run the story in ``data_dir`` (its database is recreated); return the exit code."""
    repo = Path(__file__).resolve().parents[2]  # server/cli/demo.py -> the repository
    try:
        default = Path(
            os.environ.get("AGRI_SHARED_DATA", repo.parent / "shared" / "data")
        )
        data = DemoData.locate(shared or default, repo)
    except DemoDataError as exc:
        print(f"error: {exc}")
        return 2
    for name in ("agri.db", "agri.db-wal", "agri.db-shm", "receipt.json"):
        (data_dir / name).unlink(missing_ok=True)
    settings = Settings(data_dir=data_dir, checkpoint_every=16, database_url=None)
    _say("Setting up: SQLite database, ledger key, in-process EVM chain")
    chain = in_process_chain()
    app = build_context(settings, chain=chain)
    print(f"database   {settings.resolved_database_url()}")
    print(f"ledger     {app.ledger.origin}, verifier key {app.ledger.verifier}")
    print(
        f"anchoring  LedgerAnchor at {chain.contract} (chain id {chain.anchor.chain_id})"
    )
    try:
        ok = _story(app, data, data_dir)
    finally:
        app.close()
    _say("Try it yourself")
    for line in closing_hints(data_dir):
        print(line)
    return 0 if ok else 1


def closing_hints(data_dir: Path) -> list[str]:
    """The commands the demo ends with, each on the database it used (in ``data_dir``)."""
    env = f"AGRI_DATA_DIR={shlex.quote(str(data_dir))}"
    return [
        f"  {env} .venv/bin/agri serve   # the API and the pages on this database"
        f" ({data_dir / 'agri.db'})",
        "  open http://127.0.0.1:8000/api/v1/docs   # every endpoint, with examples",
        f"  log in as any user above with the password {PASSWORD!r}",
        f"  {env} .venv/bin/agri ledger verify",
    ]


class _StoryClock:
    """The story's time: the ledger's events of the replayed seasons carry it, not today's.

    Checkpoints are still signed at the real time; ``at`` None is now.
    """

    def __init__(self) -> None:
        self.at: datetime | None = None

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)

    def on(self, day: date, hour: int = 9) -> None:
        self.at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _story(app: AppContext, data: DemoData, data_dir: Path) -> bool:
    uw, cl = app.underwriting, app.claims
    flags: dict[str, bool] = {}

    _say("Users, one per role (passwords stored as argon2id hashes)")
    users = UserStore(app.engine)
    people = [
        ("admin", "admin", None),
        ("zhang.min", "underwriter", None),
        ("wang.fang", "adjuster", None),
        ("zhao.lei", "adjuster", None),
        ("li.wei", "field_agent", None),
    ] + [(f.lower(), "farmer", f) for f in FARMS]
    for name, role, farmer in people:
        users.create(name, PASSWORD, role, farmer)
        print(f"   {name:<12} {role:<12} {farmer or ''}")

    # One clock for the story: each event of the ledger is dated when it happens in
    # the seasons replayed (2015, 2021, 2025), so a farmer reads a payment after the loss.
    story = _StoryClock()
    app.ledger.clock = story.now
    story.on(date(2015, 3, 1))
    _say("Admin: farmers and products")
    for fid, (name, region, lat, lon) in FARMS.items():
        uw.register_farmer(fid, name, region, lat=lat, lon=lon, actor="admin")
        print(f"   {fid}  {name:<18} {region}")
    cow = LivestockProduct(
        "COW-2025",
        Money.parse("8000"),
        Decimal("0.06"),
        Money.parse("200"),
        waiting_days=7,
        subsidy=SUBSIDY,
    )
    wheat = CropProduct(
        "WHEAT-2025",
        Money.parse("900"),
        "mu",
        Decimal("0.06"),
        Decimal("0.10"),
        {
            "tillering": Decimal("0.4"),
            "heading": Decimal("0.7"),
            "maturity": Decimal("1.0"),
        },
        SUBSIDY,
        calendars={"*": WINTER_WHEAT},
    )
    grass = CropProduct(
        "GRASS-2015",
        Money.parse("600"),
        "mu",
        Decimal("0.05"),
        Decimal("0.10"),
        subsidy=SUBSIDY,
    )
    for p in (cow, wheat, grass):
        uw.add_product(p, actor="admin")
    print(
        "   COW-2025   per head: 8000.00 CNY insured, premium 6 %, deductible 200.00, "
        "waiting 7 days"
    )
    print(
        "   WHEAT-2025 per mu:    900.00 CNY insured, premium 6 %, deductible 10 %, caps by stage;"
        f" winter wheat's calendar: {WINTER_WHEAT}"
    )
    print("   GRASS-2015 per mu:    600.00 CNY insured, premium 5 %, deductible 10 %")
    print(
        "   subsidies: central 40 %, provincial 25 %, county 15 %; the farmer pays 20 %"
    )

    # --- livestock: enrolment ---------------------------------------------------------
    captures = scan_folder(data.cattle)
    # Ten cows of the shared set, a fixed choice: every 4th tag in sorted order.
    held_out = sorted({c.animal for c in captures})[3::4][:10]
    split = split_enrol_query([c for c in captures if c.animal in held_out])
    herd = {"F-0001": held_out[:6], "F-0002": held_out[6:]}
    _say("Field agent li.wei enrols 10 real cows (photos of their first capture day)")
    unseen = set(app.registry().faceid.manifest.recipe.get("validation_animals", ()))
    print(
        "   (cows the face-ID model never saw in training)"
        if set(held_out) <= unseen
        else "   (the shipped model trained on these cows: figures on unseen cows are in README)"
    )
    for farmer, tags in herd.items():
        for tag in tags:
            caps = split.enrol[tag]
            story.on(caps[0].day or date(2025, 3, 20), 16)  # undated: before the policy
            r = app.enrolment.enrol_animal(
                tag, _photos(caps), farmer_id=farmer, actor="li.wei"
            )
            print(
                f"   {tag}  {farmer}  {len(caps):>2} photos of {caps[0].day}  -> {r.status}"
            )
    a1, a2, a3, a4, a5 = held_out[0], held_out[2], held_out[3], held_out[4], held_out[5]
    b1 = held_out[8]
    print(
        "-- F-0006 presents a cow under a new tag 156010000000001; the photos are of "
        f"{a5} (F-0001), taken two weeks later"
    )
    later = _on_day(split.query[a5], date(2025, 4, 14), 5)
    story.on(date(2025, 4, 14), 17)
    dup = app.enrolment.enrol_animal(
        "156010000000001", _photos(later), farmer_id="F-0006", actor="li.wei"
    )
    m = dup.match
    print(
        f"   -> {dup.status}: matches {m.tag} of {m.farm} (score {m.score:.3f}); nothing stored"
        if m
        else f"   -> {dup.status}"
    )
    flags["enrolled twice under two tags"] = dup.status in ("duplicate", "needs_review")

    # --- livestock: applications and policies ----------------------------------------
    _say("Underwriter zhang.min: livestock applications")
    start, end = date(2025, 4, 1), date(2026, 3, 31)
    story.on(start - timedelta(days=1))
    policy_of: dict[str, str] = {}
    for farmer, tags in herd.items():
        a = uw.apply_livestock(
            farmer, "COW-2025", tags, start=start, end=end, actor="li.wei"
        )
        print(
            f"-- application of {farmer}: {len(tags)} animals, light {a.light.upper()}, "
            f"recommendation {a.recommendation}"
        )
        a = uw.decide(a.id, "approve", actor="zhang.min")
        pol = uw.policy(a.policy_id or "")
        policy_of[farmer] = pol.id
        print(
            f"   approved: policy {pol.id[:8]} {pol.start_date}..{pol.end_date}, "
            f"sum insured {pol.sum_insured} CNY, premium {pol.premium['total']} "
            f"(farmer {pol.premium['farmer']}, central {pol.premium['central']}, "
            f"provincial {pol.premium['provincial']}, county {pol.premium['county']})"
        )
    notices = NoticesService(app.ledger, uw, cl)
    posted = notices.publish(
        Viewer("underwriter"),
        kind="underwriting",
        region=FARMS["F-0001"][1],
        start=start - timedelta(days=1),
        end=start - timedelta(days=1),
        actor="zhang.min",
    )
    print(
        f"-- underwriting notice {posted.record.id} posted in {posted.record.region}: "
        f"{posted.record.rows} policy, names masked ("
        f"{posted.document['rows'][0]['farmer']}), objections until "
        f"{posted.record.objection_ends} (ledger entry {posted.record.ledger_index})"
    )
    a = uw.apply_livestock(
        "F-0006", "COW-2025", ["156010000000001"], start=start, end=end, actor="li.wei"
    )
    print(
        f"-- application of F-0006: light {a.light.upper()}, recommendation {a.recommendation}"
    )
    _checks(a.checks)
    a = uw.decide(
        a.id,
        "decline",
        actor="zhang.min",
        reason="the animal is already insured under another tag",
    )
    print(f"   {a.status}: {a.reason}")

    # --- crops: register parcels, inflated area, overlap ------------------------------
    _say("Underwriter zhang.min: crop applications from the Austrian parcel register")
    register = read_plots(
        data.register, id_column="GEO_ID", declared_column="SL_FLAECHE_BRUTTO_HA"
    )
    keep = np.arange(len(register)) < len(register) - 10
    insured = plots_from_geometries(
        register.geometry[keep],
        4326,
        ids=[i for i, k in zip(register.ids, keep, strict=True) if k],
        declared_m2=register.declared_m2[keep],
        source=data.register.name,
    )
    crop_start, crop_end = date(2025, 3, 1), date(2025, 10, 31)
    story.on(crop_start - timedelta(days=1))
    a = uw.apply_crop(
        "F-0003", "WHEAT-2025", insured, start=crop_start, end=crop_end, actor="li.wei"
    )
    greens = sum(c.light == "green" for c in a.checks if c.code == "plot_area")
    print(
        f"-- F-0003: {len(a.plots)} parcels, {greens} within the IACS tolerance; "
        f"light {a.light.upper()}, recommendation {a.recommendation}"
    )
    _checks([c for c in a.checks if c.light != "green"][:5])
    a = uw.decide(
        a.id,
        "approve",
        actor="zhang.min",
        reason=None
        if a.recommendation == "approve"
        else "reviewed the flagged parcels",
    )
    pol = uw.policy(a.policy_id or "")
    print(
        f"   approved: policy {pol.id[:8]}, sum insured {pol.sum_insured} CNY, "
        f"premium {pol.premium['total']}"
    )
    # F-0004 declares a free register parcel 40 % too big, and a field over an insured parcel.
    spare = np.flatnonzero(~keep)
    free = int(spare[np.argmax(register.area_m2[spare])])
    shifted = shapely.affinity.translate(register.geometry[0], 0.0002, 0.0001)
    geoms = [register.geometry[free], shifted]
    declared = [float(register.declared_m2[free]) * 1.4, float(register.area_m2[0])]
    path = data_dir / "application_F-0004.geojson"
    _write_geojson(path, geoms, ["G-1", "G-2"], [d / 10_000 for d in declared])
    upload = read_plots(path, id_column="plot_id", declared_column="declared_ha")
    a = uw.apply_crop(
        "F-0004", "WHEAT-2025", upload, start=crop_start, end=crop_end, actor="li.wei"
    )
    print(
        f"-- F-0004 uploads {path.name}: G-1 (register parcel {register.ids[free]}, declared "
        f"x1.4) and G-2 (drawn over insured parcel {register.ids[0]})"
    )
    print(f"   light {a.light.upper()}, recommendation {a.recommendation}")
    _checks(a.checks)
    codes = {(c.code, c.light) for c in a.checks}
    flags["inflated declared area"] = ("plot_area", "red") in codes
    flags["overlap with an insured plot"] = ("double_insurance", "red") in codes
    a = uw.decide(
        a.id,
        "decline",
        actor="zhang.min",
        reason="G-1 is over-declared; G-2 is insured by another policy",
    )
    print(f"   {a.status}: {a.reason}")
    # F-0005's fields lie on the Sentinel-2 tile: declared areas as the farmer gives them.
    fields = read_plots(data.fields, id_column="plot_id")
    ids = ["AT-0488", "AT-0018", "AT-0038", "AT-0001", "AT-0002"]
    idx = [fields.ids.index(i) for i in ids]
    huber = plots_from_geometries(
        fields.geometry[idx],
        4326,
        ids=ids,
        declared_m2=np.round(fields.area_m2[idx], -2),
        source=data.fields.name,
    )
    story.on(date(2021, 3, 31))
    a, huber_policy = _insure(
        app, "F-0005", "WHEAT-2025", huber, (date(2021, 4, 1), date(2021, 10, 31))
    )
    print(
        f"-- F-0005: {len(ids)} fields on the Sentinel-2 tile, light {a.light.upper()}; "
        f"policy {huber_policy.id[:8]} (2021 season), sum insured {huber_policy.sum_insured} CNY"
    )

    # --- livestock claims -------------------------------------------------------------
    _say(
        "Claims: field agent li.wei files, the checks run, adjuster wang.fang decides, "
        "a second adjuster pays (four-eyes)"
    )
    farm1 = FARMS["F-0001"][2:]
    farm2 = FARMS["F-0002"][2:]
    value = Money.parse("7600")

    def animal_claim(
        label: str,
        tag: str,
        event: date,
        photos: list[EvidencePhoto],
        farmer: str = "F-0001",
    ) -> ClaimRecord:
        reported = max(p.captured_at for p in photos if p.captured_at) + timedelta(
            hours=1
        )
        story.at = reported
        c = cl.file(
            policy_id=policy_of[farmer],
            farmer_id=farmer,
            subject_kind="animal",
            subject_id=tag,
            event_date=event,
            reported_at=reported,
            market_value=value,
            actor="li.wei",
        )
        c = cl.add_evidence(c.id, photos, actor="li.wei")
        _claim(label, c)
        return c

    genuine = animal_claim(
        f"1. {a1} died on 2025-04-13; three photos of the carcass the next day",
        a1,
        date(2025, 4, 13),
        _evidence(_on_day(split.query[a1], date(2025, 4, 14)), farm1),
    )
    print("   indemnity: " + _lines(genuine.indemnity))
    story.on(date(2025, 4, 15), 10)
    approved = cl.decide(genuine.id, "approve", actor="wang.fang")
    story.on(date(2025, 4, 16), 10)
    try:
        cl.pay(approved.id, actor="zhao.lei", payment_ref="BANK-2025-0001")
        unposted = False
    except ConflictError as exc:
        unposted = True
        print(f"   zhao.lei tries to pay it at once: refused ({exc})")
    posted = notices.publish(
        Viewer("adjuster"),
        kind="claims",
        region=FARMS["F-0001"][1],
        start=date(2025, 4, 1),
        end=date(2025, 4, 16),
        actor="wang.fang",
    )
    print(
        f"   claims notice {posted.record.id} posted in the village: "
        f"{posted.record.rows} claim, objections until {posted.record.objection_ends}"
    )
    story.on(posted.record.objection_ends + timedelta(days=1), 10)
    flags["no payment before the claims notice's objection period ends"] = unposted
    try:
        cl.pay(approved.id, actor="wang.fang", payment_ref="BANK-2025-0001")
        four_eyes = False
    except ForbiddenError as exc:
        four_eyes = True
        print(f"   wang.fang approved it, then tries to pay it: refused ({exc})")
    paid, first = cl.pay(approved.id, actor="zhao.lei", payment_ref="BANK-2025-0001")
    again, second = cl.pay(approved.id, actor="zhao.lei", payment_ref="BANK-2025-0001")
    print(
        f"   a second adjuster, zhao.lei, pays {paid.amount} CNY ({paid.payment_ref}); "
        f"a retried payment pays {'again!' if second else 'nothing more'}"
    )
    flags["genuine claim paid once"] = (
        genuine.light == "green" and first and not second and again.status == "paid"
    )
    flags["four-eyes: the approver may not pay"] = four_eyes

    dup_claim = animal_claim(
        f"2. the same cow {a1} claimed again, photos of 2025-04-16",
        a1,
        date(2025, 4, 15),
        _evidence(_on_day(split.query[a1], date(2025, 4, 16)), farm1),
    )
    flags["same cow claimed again"] = _is(dup_claim, "duplicate_claim", "red")

    swap = animal_claim(
        f"3. {a2} (F-0001) reported dead; the photos show {b1}, F-0002's cow",
        a2,
        date(2025, 4, 13),
        _evidence(_on_day(split.query[b1], date(2025, 4, 14)), farm2),
    )
    flags["another cow under an insured tag"] = _is(swap, "identity", "red")

    enrol_photo = split.enrol[a4][0].path
    copy = _recompress(enrol_photo)
    reuse = animal_claim(
        f"4. {a4} reported dead with its enrolment photo, resized and re-compressed",
        a4,
        date(2025, 4, 13),
        [
            EvidencePhoto(
                Photo("IMG_0412.jpg", copy),
                datetime(2025, 4, 14, 8, tzinfo=UTC),
                farm1[0],
                farm1[1],
            )
        ],
    )
    flags["reused photo"] = _is(reuse, "photo_reuse", "red")

    waiting = animal_claim(
        f"5. {a3} died on 2025-04-02, one day into the policy (waiting period 7 days)",
        a3,
        date(2025, 4, 2),
        _evidence(_on_day(split.query[a3], date(2025, 4, 3)), farm1),
    )
    flags["claim in the waiting period"] = _is(waiting, "waiting_period", "red")

    story.on(date(2025, 4, 18), 10)
    # Each rejection rests on the check that failed: its grounds are worded for
    # the farmer in the farmer's language (a typed note would be shown as typed).
    for c, ground in (
        (dup_claim, "duplicate_claim"),
        (swap, "identity"),
        (reuse, "photo_reuse"),
        (waiting, "waiting_period"),
    ):
        cl.decide(c.id, "reject", actor="wang.fang", grounds=[ground])
    print("   adjuster wang.fang rejects claims 2-5, each on the check that failed")

    # --- crop claims by map -----------------------------------------------------------
    _say(
        "Crop claims by map: the real Sentinel-2 pair (2021-06-17 before, 2021-09-25 after)"
    )
    from remote_sensing import SceneCatalogue
    from server.cli.imagery import register_demo_scenes

    folder = app.settings.resolved_imagery_dir()
    scenes = register_demo_scenes(folder, data.scene)
    catalogue = SceneCatalogue(folder)
    print(
        f"   scenes {', '.join(s.name for s in scenes)}: COGs in {folder} (map tiles)"
    )
    # Hail after the harvest: the wheat was cut in July, nothing stood in the field.

    def crop_claim(
        policy: PolicyRecord, plot: str, event: date, reported: date, fraction: float
    ) -> tuple[ClaimRecord, DamageAssessment]:
        """li.wei files it at 09:00 on ``reported``; wang.fang assesses it on the rules' pair."""
        story.on(reported)
        c = cl.file(
            policy_id=policy.id,
            farmer_id=policy.farmer_id,
            subject_kind="plot",
            subject_id=plot,
            event_date=event,
            reported_at=story.now(),
            claimed_fraction=fraction,
            actor="li.wei",
        )
        return cl.assess_by_scenes(c.id, catalogue, actor="wang.fang")

    late, dmg = crop_claim(
        huber_policy, "AT-0488", date(2021, 9, 10), date(2021, 9, 13), 0.8
    )
    _claim("6. hail on 2021-09-10 on AT-0488: 80% of the field claimed", late)
    print("   " + _lines(late.indemnity))
    story.on(date(2021, 9, 14))
    cl.decide(late.id, "reject", actor="wang.fang", grounds=["crop_season"])
    print("   rejected on crop_season: the wheat was harvested before the hail")
    flags["AT-0488: hail after the harvest is not covered (a harvest is not hail)"] = (
        _is(late, "crop_season", "red") and late.amount.minor == 0
    )
    # Hail in June, in cover: the rules pick the pair, but the after-scene is three
    # months later and would show the harvest, not the hail.
    june, dmg = crop_claim(
        huber_policy, "AT-0001", date(2021, 6, 25), date(2021, 6, 27), 0.9
    )
    options = cl.scene_options(june.id, catalogue)
    _claim("7. hail on 2021-06-25 on AT-0001: 90% of the field claimed", june)
    print(
        f"   the rules picked {options.before} / {options.after}; map: NDVI "
        f"{dmg.ndvi_before:.2f} -> {dmg.ndvi_after:.2f}, clear {dmg.clear_fraction:.0%}"
    )
    print("   " + _lines(june.indemnity))
    failed = [x.code for x in june.checks if x.light != "green"]
    story.on(date(2021, 6, 28))
    cl.decide(june.id, "survey", actor="wang.fang", grounds=failed)
    print(f"   sent for a field survey on {', '.join(failed)}: the imagery cannot tell")
    flags[
        "AT-0001: a pair three months apart cannot tell hail from harvest: survey"
    ] = _is(june, "scene_timing", "amber") and june.amount.minor == 0

    _say(
        "Crop claims by map, measured against the season: two clear Sentinel-2 "
        f"scenes of a Slovenian patch ({' and '.join(SLOVENIA_DAYS)})"
    )
    for day in SLOVENIA_DAYS:
        slovenia = catalogue.register(
            data.slovenia / f"S2_L1C_{day}.tif",
            f"slovenia-{day}",
            date.fromisoformat(day),
            {"red": 4, "green": 3, "blue": 2, "nir": 8},
        )
        print(f"   scene {slovenia.name}: COG in {folder}")
    meadows = _slovenian_meadows(data.slovenia, slovenia.bounds)
    story.on(date(2015, 3, 31))
    _, novak = _insure(
        app, "F-0007", "GRASS-2015", meadows, (date(2015, 4, 1), date(2015, 10, 31))
    )
    print(
        f"-- F-0007: {len(meadows)} meadows of the RABA register inside the scenes, "
        f"policy {novak.id[:8]}"
    )
    largest = meadows.ids[int(np.argmax(meadows.area_m2))]
    hail, dmg = crop_claim(novak, largest, date(2015, 9, 3), date(2015, 9, 5), 0.6)
    _claim(f"8. hail on 2015-09-03 on meadow {largest}: 60% claimed", hail)
    print(
        f"   map: NDVI {dmg.ndvi_before:.2f} -> {dmg.ndvi_after:.2f}, damaged beyond "
        f"the season {dmg.damaged_fraction:.1%} = {dmg.damaged_area_ha:.2f} ha"
    )
    print("   breakdown: " + _lines(hail.indemnity))
    story.on(date(2015, 9, 6))
    cl.decide(hail.id, "reject", actor="wang.fang", grounds=["measured_damage"])
    print(
        "   rejected on the map: its meadows changed as the season did, no hail shows"
    )
    flags[
        f"{largest}: decided by the map against its peers (no loss beyond the season)"
    ] = (
        _is(hail, "season_baseline", "green")
        and _is(hail, "scene_timing", "green")
        and _is(hail, "measured_damage", "red")
    )

    # --- audit and receipt ------------------------------------------------------------
    story.at = None  # the audit and the receipt: today
    _say("Auditing the whole ledger (agri ledger verify)")
    app.ledger.checkpoint()
    report = app.ledger.verify()
    print(
        f"OK={report.ok}: {report.size} entries, {report.checkpoints} checkpoints, "
        f"{report.anchors_checked} anchors confirmed on chain"
    )
    ok_receipt = _farmer_receipt(app, data_dir, genuine.id)
    _say("Every flag, and whether it fired for the reason stated")
    for name, fired in flags.items():
        print(f"   {'yes' if fired else 'NO '}  {name}")
    return report.ok and ok_receipt and all(flags.values())


def _insure(
    app: AppContext,
    farmer: str,
    product: str,
    plots: PlotSet,
    period: tuple[date, date],
) -> tuple[ApplicationRecord, PolicyRecord]:
    """Field agent li.wei applies, underwriter zhang.min approves: the application and policy."""
    uw = app.underwriting
    a = uw.apply_crop(
        farmer, product, plots, start=period[0], end=period[1], actor="li.wei"
    )
    a = uw.decide(
        a.id,
        "approve",
        actor="zhang.min",
        reason=None if a.recommendation == "approve" else "reviewed",
    )
    return a, uw.policy(a.policy_id or "")


def _slovenian_meadows(
    folder: Path, bounds: tuple[float, float, float, float]
) -> PlotSet:
    """The RABA register's grassland parcels inside ``bounds`` (WGS84: the scenes')."""
    import pyogrio

    meta, _, wkb, values = pyogrio.raw.read(
        folder / "landuse_parcels_RABA.gpkg", columns=["index", "AREA", "LULC_NAME"]
    )
    column = dict(zip(meta["fields"], values, strict=True))
    grass = [i for i, name in enumerate(column["LULC_NAME"]) if name == "grassland"]
    every = plots_from_geometries(
        shapely.from_wkb(wkb)[grass],
        meta["crs"],
        ids=[f"RABA-{column['index'][i]}" for i in grass],
        declared_m2=np.asarray(column["AREA"], dtype=float)[grass],
    )
    box = shapely.box(*bounds)
    keep = [i for i, g in enumerate(every.geometry) if box.contains(g)]
    return plots_from_geometries(
        every.geometry[keep],
        4326,
        ids=[every.ids[i] for i in keep],
        declared_m2=every.declared_m2[keep],
        source="landuse_parcels_RABA.gpkg",
    )


def _is(c: ClaimRecord, code: str, light: str) -> bool:
    return any(x.code == code and x.light == light for x in c.checks)


def _recompress(path: Path) -> bytes:
    from PIL import Image

    img = Image.open(path).convert("RGB")
    img = img.resize((img.width * 3 // 2, img.height * 3 // 2))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    return buf.getvalue()


def _write_geojson(
    path: Path, geoms: Sequence[Any], ids: Sequence[str], declared_ha: Sequence[float]
) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"plot_id": i, "declared_ha": round(d, 4)},
            "geometry": json.loads(shapely.to_geojson(g)),
        }
        for g, i, d in zip(geoms, ids, declared_ha, strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def _farmer_receipt(app: AppContext, data_dir: Path, claim_id: str) -> bool:
    """Farmer F-0001 fetches the receipt of the payment over the API and verifies it offline."""
    from fastapi.testclient import TestClient

    from server.http.app import create_app

    def event(i: int) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(app.ledger.store.entry(i).data)
        return doc

    paid = next(
        i
        for i in range(app.ledger.store.size() - 1, -1, -1)
        if event(i).get("type") == "claim.paid"
        and event(i)["subjects"].get("claim") == claim_id
    )
    _say(
        f"Farmer f-0001 fetches the receipt of entry #{paid} (claim.paid) over the API"
    )
    with TestClient(create_app(app)) as client:
        token = client.post(
            "/api/v1/auth/token", json={"username": "f-0001", "password": PASSWORD}
        ).json()
        r = client.get(
            f"/api/v1/ledger/receipts/{paid}",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        other = client.post(
            "/api/v1/auth/token", json={"username": "f-0002", "password": PASSWORD}
        ).json()
        refused = client.get(
            f"/api/v1/ledger/receipts/{paid}",
            headers={"Authorization": f"Bearer {other['access_token']}"},
        )
    doc = r.json()
    path = data_dir / "receipt.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(event(paid), indent=2, ensure_ascii=False))
    print(
        f"   (full receipt with proofs and signed checkpoint in {path}); "
        f"farmer f-0002 asking for it gets HTTP {refused.status_code}"
    )
    _say("Verifying the receipt offline, with only the verifier key")
    pub = next(data_dir.glob("*.pub"))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "receipt.json"
        shutil.copy(path, copy)
        cp = verify_receipt(
            Receipt.from_json(json.loads(copy.read_text())),
            [NoteVerifier.parse(pub.read_text())],
        )
    print(
        f"valid: entry {paid} is in {cp.origin} at tree size {cp.size} (key {pub.name})"
    )
    return r.status_code == 200 and refused.status_code == 403
