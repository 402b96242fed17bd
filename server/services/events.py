"""One catastrophe event's crop claims, assessed together on a Dask cluster.

A flood or a hail swath brings thousands of crop claims that carry one event
id (``ClaimsService.file(event_id=...)``). :func:`assess_event` assesses every
open one of them:

1. the driver (this process) reads the event's open crop claims once, each
   claim's plot, peers and scene pair (the rules' pick, as
   ``ClaimsService.assess_by_scenes``), and builds one picklable
   :class:`~server.services.claims.CropJob` per claim;
2. the jobs are grouped by spatial tile (:data:`TILE_DEG` degrees of the
   plot's centroid, per scene pair, at most :data:`MAX_PER_TASK` claims a
   task); each group is one task: only its plots' geometries and the scenes'
   paths travel to the worker, which reads only the windows of the scenes its
   plots cover (``remote_sensing`` reads by window) and touches no database;
3. the driver writes the measurements back as they arrive, in batches of
   ``batch`` claims per transaction, each claim with its ``claim.assessed``
   ledger event (``ClaimsService.record_measurement`` with ``once``).

Same numbers as the single-process path: each task runs
:func:`~server.services.claims.measure_crop`, the measurement
``assess_by_scenes`` runs, on the same inputs. A worker that dies mid-task
loses nothing (the scheduler runs its tasks again elsewhere; ``retries``
covers a task that fails) and doubles nothing: a claim already assessed on
the same pair, or no longer open, is not written again, so a rerun of the
whole command after a crash writes only what is missing.

Dask (``pip install agri-insurance[scale]``) is imported only here, when called.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import shapely

from remote_sensing import RemoteSensingError, SceneCatalogue, reusing_datasets
from server.errors import InvalidInputError, NotFoundError
from server.services.claims import (
    ClaimRecord,
    CropJob,
    CropMeasurement,
    measure_crop,
)
from server.services.underwriting import PolicyRecord
from server.storage.claims_store import InsuredPlot
from underwriting import CropProduct

if TYPE_CHECKING:
    from distributed import Client

    from server.context import AppContext

__all__ = [
    "MAX_PER_TASK",
    "TILE_DEG",
    "EventSummary",
    "Failed",
    "assess_event",
    "group_jobs",
    "local_client",
    "measure_group",
]

TILE_DEG = 0.05
"""A task's tile: this many degrees of longitude and latitude (about 4-5 km)."""

MAX_PER_TASK = 64
"""At most this many claims a task: a dense tile is split, so tasks stay even."""

Loaded = tuple[ClaimRecord, PolicyRecord, CropProduct, InsuredPlot]


@dataclass(frozen=True)
class Failed:
    """A claim whose imagery could not be measured on the worker, and why."""

    claim_id: str
    message: str


@dataclass
class EventSummary:
    """What :func:`assess_event` did, claim by claim.

    Attributes:
        event_id: the event.
        claims: its open crop claims read.
        tasks: the tasks sent to the cluster.
        assessed: ids of the claims assessed and written now.
        already: ids left as they were (assessed on the same pair before, or
            decided meanwhile).
        refused: (claim id, reason) of the claims not measured (no scene
            pair, unreadable imagery).
        seconds: wall-clock time of the whole run.
    """

    event_id: str
    claims: int = 0
    tasks: int = 0
    assessed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def measure_group(jobs: Sequence[CropJob]) -> list[CropMeasurement | Failed]:
    """One task: measure each claim of a tile, in order (runs on a worker; no database).

    A claim whose imagery cannot be read comes back :class:`Failed` (a retry
    would read the same file); any other error fails the task, which the
    scheduler retries.
    """
    out: list[CropMeasurement | Failed] = []
    with reusing_datasets():  # a tile's claims share their scenes: open each once
        for job in jobs:
            try:
                out.append(measure_crop(job))
            except RemoteSensingError as exc:
                out.append(Failed(job.claim_id, f"imagery: {exc}"))
    return out


def group_jobs(
    jobs: Sequence[CropJob], *, tile_deg: float = TILE_DEG, most: int = MAX_PER_TASK
) -> list[list[CropJob]]:
    """Jobs grouped by scene pair and ``tile_deg`` tile (plot centroid), ``most`` a group.

    Precondition: ``tile_deg`` > 0, ``most`` >= 1. Deterministic: groups in
    tile order, jobs in their given order within a group.
    """
    if not (tile_deg > 0 and most >= 1):
        raise ValueError(f"tile_deg {tile_deg} must be > 0 and most {most} >= 1")
    tiles: dict[tuple[str, str, int, int], list[CropJob]] = defaultdict(list)
    for job in jobs:
        centre = shapely.from_wkb(job.plot).centroid
        key = (
            str(job.before.path),
            str(job.after.path),
            math.floor(centre.x / tile_deg),
            math.floor(centre.y / tile_deg),
        )
        tiles[key].append(job)
    return [
        group[i : i + most]
        for _, group in sorted(tiles.items())
        for i in range(0, len(group), most)
    ]


def has_dashboard() -> bool:
    """Whether Dask's dashboard can be served (``bokeh`` is installed)."""
    return importlib.util.find_spec("bokeh") is not None


@contextmanager
def local_client(workers: int) -> Iterator[Client]:
    """A local cluster of ``workers`` processes, one thread each, and its client; closed after.

    The dashboard is served (on a free port, ``client.dashboard_link``) when
    ``bokeh`` is installed.

    Raises:
        InvalidInputError: ``workers`` < 1, or Dask is not installed.
    """
    if workers < 1:
        raise InvalidInputError(
            f"workers must be at least 1, not {workers}", field="workers"
        )
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InvalidInputError(
            "Dask is not installed: pip install 'agri-insurance[scale]'",
            field="scheduler",
        ) from exc
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port; the dashboard where bokeh is installed
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


@contextmanager
def remote_client(address: str) -> Iterator[Client]:
    """A client of the running scheduler at ``address`` (``tcp://host:port``); closed after.

    Raises:
        InvalidInputError: Dask is not installed, or no scheduler answers there.
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise InvalidInputError(
            "Dask is not installed: pip install 'agri-insurance[scale]'",
            field="scheduler",
        ) from exc
    try:
        client = Client(address, timeout=10)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise InvalidInputError(
            f"no Dask scheduler answers at {address}: {exc}", field="scheduler"
        ) from exc
    with client:
        yield client


def _jobs(
    ctx: AppContext,
    records: Sequence[ClaimRecord],
    scenes: SceneCatalogue,
    summary: EventSummary,
) -> tuple[
    list[CropJob],
    dict[str, tuple[Loaded, tuple[date | None, date | None], tuple[str, str]]],
]:
    """Each claim's job, and what its write needs; claims with no pair go to ``refused``."""
    service = ctx.claims
    jobs: list[CropJob] = []
    writes: dict[
        str, tuple[Loaded, tuple[date | None, date | None], tuple[str, str]]
    ] = {}
    for claim in records:
        try:
            loaded = service._crop_claim(claim.id, None, claim)
            before, after, taken, names = service.scene_pair(loaded, scenes)
        except (InvalidInputError, NotFoundError) as exc:
            summary.refused.append((claim.id, str(exc)))
            continue
        jobs.append(service.crop_job(loaded, before, after, taken))
        writes[claim.id] = (loaded, taken, names)
    return jobs, writes


def assess_event(
    ctx: AppContext,
    event_id: str,
    *,
    actor: str,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    batch: int = 100,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
    measure: Callable[
        [Sequence[CropJob]], list[CropMeasurement | Failed]
    ] = measure_group,
    started: Callable[[str | None], None] | None = None,
) -> EventSummary:
    """Assess every open crop claim of catastrophe event ``event_id`` on a Dask cluster.

    Args:
        ctx: the application (its database, ledger, scene catalogue).
        event_id: the event the claims carry.
        actor: who assesses (for the ledger).
        client: a Dask client to run on; else ``scheduler``'s, else a local
            cluster of ``workers`` processes (1 thread each), closed after.
        scheduler: a running scheduler's address (``tcp://host:port``): its
            workers need this project installed and the catalogue's scene
            files at the same paths.
        workers: the local cluster's processes (>= 1).
        batch: claims written per transaction (>= 1).
        retries: times a failed task is run again.
        progress: called with (tasks done, tasks) as tasks finish.
        measure: what each task runs on its group (default :func:`measure_group`).
        started: called once the cluster is up, with its dashboard's address
            (None: no dashboard, ``bokeh`` missing).

    Returns:
        What was assessed, left as it was, or refused, claim by claim.

    Raises:
        InvalidInputError: ``batch`` < 1 or ``workers`` < 1, Dask missing, or
            no scheduler at ``scheduler``.
    """
    if batch < 1:
        raise InvalidInputError(f"batch must be at least 1, not {batch}", field="batch")
    began = time.monotonic()
    summary = EventSummary(event_id)
    records = ctx.claims.event_claims(event_id)
    summary.claims = len(records)
    scenes = SceneCatalogue(ctx.settings.resolved_imagery_dir())
    jobs, writes = _jobs(ctx, records, scenes, summary)
    groups = group_jobs(jobs)
    summary.tasks = len(groups)
    if groups:
        with _client(client, scheduler, workers) as run_on:
            if started is not None:
                started(run_on.dashboard_link if has_dashboard() else None)
            _run(
                ctx,
                run_on,
                groups,
                writes,
                summary,
                actor,
                batch,
                retries,
                progress,
                measure,
            )
    summary.seconds = time.monotonic() - began
    return summary


@contextmanager
def _client(
    client: Client | None, scheduler: str | None, workers: int
) -> Iterator[Client]:
    if client is not None:
        yield client
    elif scheduler is not None:
        with remote_client(scheduler) as remote:
            yield remote
    else:
        with local_client(workers) as local:
            yield local


def _run(
    ctx: AppContext,
    client: Client,
    groups: list[list[CropJob]],
    writes: dict[str, tuple[Loaded, tuple[date | None, date | None], tuple[str, str]]],
    summary: EventSummary,
    actor: str,
    batch: int,
    retries: int,
    progress: Callable[[int, int], None] | None,
    measure: Callable[[Sequence[CropJob]], list[CropMeasurement | Failed]],
) -> None:
    """Send the groups, write their measurements back in batches as they finish."""
    from distributed import as_completed

    futures = client.map(measure, groups, retries=retries, pure=False)
    pending: list[CropMeasurement] = []
    done = 0
    if progress is not None:
        progress(0, len(groups))
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        results: list[Any] = future.result()
        future.release()
        for item in results:
            if isinstance(item, Failed):
                summary.refused.append((item.claim_id, item.message))
            else:
                pending.append(item)
        if len(pending) >= batch:
            _write(ctx, pending, writes, summary, actor)
            pending = []
        done += 1
        if progress is not None:
            progress(done, len(groups))
    if pending:
        _write(ctx, pending, writes, summary, actor)


def _write(
    ctx: AppContext,
    measured: Sequence[CropMeasurement],
    writes: dict[str, tuple[Loaded, tuple[date | None, date | None], tuple[str, str]]],
    summary: EventSummary,
    actor: str,
) -> None:
    """One transaction: each measurement with its ledger event, once per claim."""
    service = ctx.claims
    with ctx.ledger.transaction() as conn:
        wrote = [
            service.record_measurement(
                writes[m.claim_id][0],
                m,
                actor=actor,
                conn=conn,
                taken=writes[m.claim_id][1],
                names=writes[m.claim_id][2],
                once=True,
            )[1]
            for m in measured
        ]
    for m, written in zip(measured, wrote, strict=True):
        (summary.assessed if written else summary.already).append(m.claim_id)
