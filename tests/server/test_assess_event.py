"""One event's crop claims assessed on a two-worker Dask cluster, on the real Austrian imagery.

The cluster's results equal the single-process path (``assess_by_scenes``)
to the last digit, and a worker killed mid-run loses and doubles nothing.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed")

from ledger.adapters.memory import InMemoryAnchor  # noqa: E402
from remote_sensing import SceneCatalogue  # noqa: E402
from server.chain import ChainContext  # noqa: E402
from server.cli.main import cli  # noqa: E402
from server.config import Settings  # noqa: E402
from server.context import AppContext, build_context  # noqa: E402
from server.errors import InvalidInputError  # noqa: E402
from server.services.claims import CropJob, CropMeasurement  # noqa: E402
from server.services.events import (  # noqa: E402
    Failed,
    assess_event,
    group_jobs,
    measure_group,
)
from server.storage.assessment_store import AssessmentStore  # noqa: E402
from tests.server.pages_records import (  # noqa: E402
    HAIL_EVENT,
    PEERS,
    crop_policy,
    hail_pair,
)

EVENT = "hail-2021-06-20"
CLAIMED = ["AT-0488", "AT-0001", "AT-0010", "AT-0011", "AT-0012", "AT-0013"]
"""Six fields claiming one hail (AT-0488 hit on its pixels); PEERS insured beside them."""


@pytest.fixture(scope="module")
def imagery(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue holding the hail pair 3 and 7 days from the loss (real pixels)."""
    folder = tmp_path_factory.mktemp("imagery")
    before, _ = hail_pair(shared_data, tmp_path_factory.mktemp("sources"), ["AT-0488"])
    catalogue = SceneCatalogue(folder)
    rgb = {"red": 1, "green": 2, "blue": 3}
    catalogue.register(
        before.path, "hail-2021-06-17", HAIL_EVENT - timedelta(days=3),
        rgb | {"nir": 4}, scale=0.0001,
    )  # fmt: skip
    catalogue.register(
        before.path, "hail-2021-06-27", HAIL_EVENT + timedelta(days=7),
        {"red": 5, "green": 6, "blue": 7, "nir": 8}, scale=0.0001,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real local cluster: two worker processes, one thread each (restarted if killed)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture
def open_app(
    make_settings: Callable[..., Settings], db_url: str, imagery: Path, tmp_path: Path
) -> Iterator[Callable[[str], AppContext]]:
    """Apps over their own databases (by name), all on the catalogue above."""
    opened: list[AppContext] = []
    base = db_url

    def inner(name: str) -> AppContext:
        url = base
        if base.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        elif opened:
            pytest.skip("one PostgreSQL schema per test")
        ctx = build_context(
            make_settings(
                imagery_dir=imagery, database_url=url, data_dir=tmp_path / name
            ),
            chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="mem"),
        )
        opened.append(ctx)
        return ctx

    yield inner
    for ctx in opened:
        ctx.close()


def file_event(
    app: AppContext, event: str | None = EVENT, policy: str | None = None
) -> dict[str, str]:
    """The six hail claims of ``event`` (plot -> claim id), PEERS insured unclaimed."""
    if policy is None:
        _, policy = crop_policy(app, [*CLAIMED, *PEERS])
    ids = {}
    for plot in CLAIMED if event == EVENT else CLAIMED[:1]:
        c = app.claims.file(
            policy_id=policy,
            farmer_id="F-5",
            subject_kind="plot",
            subject_id=plot,
            event_date=HAIL_EVENT,
            reported_at=datetime.combine(
                HAIL_EVENT + timedelta(days=2), datetime.min.time(), UTC
            ),
            claimed_fraction=0.8,
            growth_stage="heading",
            event_id=event,
            actor="agent",
        )
        assert c.event_id == event
        ids[plot] = c.id
    return ids


def ledger(app: AppContext) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in app.ledger.store.iter_entries()]


def assessed(app: AppContext, ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each plot's ``claim.assessed`` payloads, oldest first."""
    plot_of = {v: k for k, v in ids.items()}
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in ids}
    for e in ledger(app):
        if e["type"] == "claim.assessed":
            out[plot_of[e["subjects"]["claim"]]].append(e["payload"])
    return out


def outcome(app: AppContext, ids: dict[str, str]) -> dict[str, Any]:
    """Everything an assessment wrote, by plot: record, stored map, ledger payloads."""
    out: dict[str, dict[str, Any]] = {}
    for plot, claim_id in ids.items():
        r = app.claims.claim(claim_id)
        out[plot] = {
            "status": r.status,
            "light": r.light,
            "amount": (r.amount.minor, r.amount.currency),
            "checks": [c.to_json() for c in r.checks],
            "indemnity": [(x.key, x.value, dict(x.params)) for x in r.indemnity],
        }
        with app.engine.connect() as conn:
            stored = AssessmentStore().get(conn, claim_id)
        assert stored is not None, plot
        out[plot]["map"] = (
            stored.before_scene,
            stored.after_scene,
            stored.before_date,
            stored.after_date,
            stored.ndvi_before,
            stored.ndvi_after,
            stored.damage,
        )
    return out


def test_the_cluster_measures_what_one_process_measures_to_the_last_digit(
    open_app: Callable[[str], AppContext], imagery: Path, cluster: Any
) -> None:
    single, spread = open_app("single"), open_app("spread")
    one, many = file_event(single), file_event(spread)
    catalogue = SceneCatalogue(imagery)
    for claim_id in one.values():
        single.claims.assess_by_scenes(claim_id, catalogue, actor="adj")
    seen: list[tuple[int, int]] = []
    summary = assess_event(
        spread,
        EVENT,
        actor="adj",
        client=cluster,
        batch=4,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (summary.claims, sorted(summary.assessed)) == (6, sorted(many.values()))
    assert summary.refused == [] and summary.already == []
    assert seen[0] == (0, summary.tasks) and seen[-1] == (summary.tasks,) * 2
    # Same payloads to the last digit: damaged fraction, area, NDVI, baseline.
    expected, got = assessed(single, one), assessed(spread, many)
    assert got == expected
    hail = got["AT-0488"][0]
    assert hail["damaged_fraction"] > 0.9 and hail["baseline"]["count"] == len(PEERS)
    assert outcome(spread, many) == outcome(single, one)
    assert spread.claims.claim(many["AT-0488"]).amount.minor > 0
    # Run again: every claim is already assessed on this pair, nothing is written.
    size = spread.ledger.store.size()
    again = assess_event(spread, EVENT, actor="adj", client=cluster)
    assert sorted(again.already) == sorted(many.values()) and again.assessed == []
    assert spread.ledger.store.size() == size


def dying(marker: Path, jobs: Sequence[CropJob]) -> list[CropMeasurement | Failed]:
    """A task that kills its worker process the first time any task runs (marker file)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return measure_group(jobs)
    os.close(fd)
    os._exit(1)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    open_app: Callable[[str], AppContext], cluster: Any, tmp_path: Path
) -> None:
    app = open_app("killed")
    ids = file_event(app)
    marker = tmp_path / "died"
    summary = assess_event(
        app,
        EVENT,
        actor="adj",
        client=cluster,
        batch=2,
        measure=functools.partial(dying, marker),
    )
    assert marker.exists(), "no worker was killed"
    assert sorted(summary.assessed) == sorted(ids.values())
    counts = {plot: len(p) for plot, p in assessed(app, ids).items()}
    assert counts == dict.fromkeys(CLAIMED, 1)
    report = app.ledger.verify()
    assert report.ok, report.error
    assert all(app.claims.claim(i).light is not None for i in ids.values())


def test_tiles_and_refusals(open_app: Callable[[str], AppContext]) -> None:
    app = open_app("plain")
    _, policy = crop_policy(app, [*CLAIMED, *PEERS])
    with pytest.raises(InvalidInputError, match="event_id"):
        file_event(app, "bad id with spaces", policy)
    assert app.claims.event_claims(EVENT) == []
    ids = file_event(app, EVENT, policy)
    assert [c.id for c in app.claims.event_claims(EVENT)] == sorted(ids.values())
    other = file_event(app, "another-event", policy)  # another event's: not listed
    assert [c.id for c in app.claims.event_claims("another-event")] == list(
        other.values()
    )
    app.claims.decide(ids["AT-0001"], "reject", actor="adj", reason="no hail there")
    assert len(app.claims.event_claims(EVENT)) == len(CLAIMED) - 1  # open ones only
    # Nothing to send: an unknown event runs no cluster at all.
    summary = assess_event(app, "no-such-event", actor="adj")
    assert (summary.claims, summary.tasks, summary.assessed) == (0, 0, [])
    with pytest.raises(InvalidInputError, match="batch"):
        assess_event(app, EVENT, actor="adj", batch=0)
    with pytest.raises(ValueError, match="tile_deg"):
        group_jobs([], tile_deg=0)


def test_the_command_assesses_the_event_on_a_local_cluster(
    open_app: Callable[[str], AppContext],
    db_url: str,
    imagery: Path,
    key_file: Path,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the command's database is the SQLite file the app filed in")
    app = open_app("cli")
    ids = file_event(app)
    env = {
        "AGRI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "AGRI_DATA_DIR": str(tmp_path / "cli"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
        "AGRI_IMAGERY_DIR": str(imagery),
    }
    args = ["claims", "assess-event", "--event", EVENT, "--actor", "adj"]
    r = CliRunner().invoke(cli, [*args, "--workers", "1"], env=env, obj={})
    assert r.exit_code == 0, r.output
    assert f"event {EVENT}: 6 open crop claims in 3 tasks" in r.stdout
    assert "assessed: 6" in r.stdout and "refused: 0" in r.stdout
    assert "tasks [" in r.stderr and "3/3" in r.stderr
    assert all(n == 1 for n in map(len, assessed(app, ids).values()))
    bad = CliRunner().invoke(cli, [*args, "--workers", "0"], env=env, obj={})
    assert bad.exit_code == 2 and "--workers" in bad.output
