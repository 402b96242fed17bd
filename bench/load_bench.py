"""Load on a real ``agri serve --workers 2``: a farmer's status read and claim intake.

``wrk`` (Debian's package, C, event loop; ``-t2 -c16`` on loopback, the issue's
settings) against ``agri serve --workers 2`` (uvicorn, two processes) over
the embedded SQLite database and over PostgreSQL (a schema of its own,
migrated as an installation's, dropped at the end). The portfolio is seeded
through the services, as an installation's would be: 1,000 farmers, each
with a crop policy on one plot (so every status read is answered from a
table of 1,000 policies), one farmer user, one field agent.

* **Status read**: the farmer's ``GET /api/v1/policies`` with a bearer token
  (token lookup, the access policy, one page of the farmer's policies,
  JSON). Goal: >= 500 requests/s with p99 < 50 ms and no error. Beside it,
  ``GET /api/v1/health`` (no database, no token): the server's own ceiling.
* **Claim intake**: ``POST /api/v1/claims`` by the field agent, one claim per
  insured plot (each request a different plot, from a wrk Lua script): the
  intake checks, one row and one ledger event per claim, committed.

Each server starts with anchoring off (no chain) and the access log off
(``--no-access-log``, as behind a proxy that logs); the figures are
wrk's own (requests/s, latency percentiles, non-2xx answers, socket errors).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.report import Result, Skipped

API = "/api/v1"
PASSWORD = "a long bench password"
FARMERS = 1_000
WORKERS = 2
WRK = ("-t2", "-c16")
GOAL_RPS = 500.0
GOAL_P99_MS = 50.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _seed(url: str, data_dir: Path) -> list[dict[str, Any]]:
    """The portfolio (through the services); the claim bodies of the intake run."""
    from shapely.geometry import box

    from remote_sensing import plots_from_geometries
    from server.config import Settings
    from server.context import build_context
    from server.services.auth import UserStore
    from underwriting import CropProduct, Money

    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        anchor_enabled=False,
        checkpoint_every=10**6,
    )
    ctx = build_context(settings, chain=False)
    try:
        uw = ctx.underwriting
        uw.add_product(
            CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")),
            actor="admin",
        )
        today = date.today()
        bodies: list[dict[str, Any]] = []
        for i in range(FARMERS):
            farmer = f"F-{i:05d}"
            uw.register_farmer(
                farmer, f"farmer {i}", "Hohhot", lat=40.8, lon=111.7, actor="admin"
            )
            x = 111.0 + (i % 40) * 0.01
            y = 40.0 + (i // 40) * 0.01
            plots = plots_from_geometries(
                [box(x, y, x + 0.002, y + 0.002)], 4326, ids=[f"P-{i:05d}"]
            )
            app = uw.apply_crop(
                farmer,
                "WHEAT",
                plots,
                start=today - timedelta(days=100),
                end=today + timedelta(days=200),
                actor="agent",
            )
            policy = uw.decide(app.id, "approve", actor="uw", reason="surveyed")
            bodies.append(
                {
                    "policy_id": policy.policy_id,
                    "farmer_id": farmer,
                    "subject_kind": "plot",
                    "subject_id": f"P-{i:05d}",
                    "event_date": (today - timedelta(days=2)).isoformat(),
                    "claimed_fraction": 0.5,
                }
            )
        users = UserStore(ctx.engine)
        users.create("farmer.load", PASSWORD, "farmer", "F-00000")
        users.create("agent.load", PASSWORD, "field_agent", None)
        return bodies
    finally:
        ctx.close()


@contextmanager
def _server(url: str, data_dir: Path, key: Path) -> Iterator[str]:
    """``agri serve --workers 2`` on ``url``; its base URL while it runs."""
    import httpx2

    port = _free_port()
    env = {
        **os.environ,
        "AGRI_DATA_DIR": str(data_dir),
        "AGRI_DATABASE_URL": url,
        "AGRI_LEDGER_KEY_FILE": str(key),
        "AGRI_ANCHOR_ENABLED": "false",
        "AGRI_ENVIRONMENT": "development",
    }
    agri = str(Path(sys.executable).parent / "agri")
    log = data_dir / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                agri,
                "serve",
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{base}{API}/health", timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"agri serve did not start: {log.read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _token(base: str, username: str) -> str:
    import httpx2

    r = httpx2.post(
        f"{base}{API}/auth/token",
        json={"username": username, "password": PASSWORD},
        timeout=60,
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, seconds: int, *args: str) -> dict[str, float]:
    """wrk's figures: requests/s, p50/p99 ms, non-2xx answers and socket errors."""
    out = subprocess.run(
        ["wrk", *WRK, f"-d{seconds}s", "--latency", *args, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non2xx": 0.0,
        "errors": 0.0,
    }
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        figures[f"p{pct}"] = float(m.group(1)) * _UNIT_MS[m.group(2)] if m else math.nan
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        figures["non2xx"] = float(m.group(1))
    if m := re.search(r"Socket errors:(.*)", out):
        figures["errors"] = float(sum(int(n) for n in re.findall(r"\d+", m.group(1))))
    return figures


def _detail(f: dict[str, float]) -> str:
    """One run's latency and errors, for a result's settings."""
    return (
        f"p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, {f['non2xx']:.0f} non-2xx, "
        f"{f['errors']:.0f} socket errors, {f['requests']:.0f} requests"
    )


_INTAKE_LUA = """
local bodies = {}
local n = 0
for line in io.lines("%s") do n = n + 1; bodies[n] = line end
local i = 0
request = function()
  i = i %% n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %s"}, bodies[i])
end
"""


def _measure(name: str, url: str, work: Path, key: Path, seconds: int) -> list[Result]:
    data_dir = work / name
    data_dir.mkdir()
    began = time.perf_counter()
    bodies = _seed(url, data_dir)
    print(f"  {name}: seeded {FARMERS} policies in {time.perf_counter() - began:.0f} s")
    wrk = " ".join(WRK)
    settings = (
        f"agri serve --workers {WORKERS} ({name}), wrk {wrk} -d{seconds}s, loopback"
    )
    out: list[Result] = []
    with _server(url, data_dir, key) as base:
        farmer = _token(base, "farmer.load")
        agent = _token(base, "agent.load")
        _wrk(
            f"{base}{API}/policies", 3, "-H", f"Authorization: Bearer {farmer}"
        )  # warm
        health = _wrk(f"{base}{API}/health", seconds)
        status = _wrk(
            f"{base}{API}/policies", seconds, "-H", f"Authorization: Bearer {farmer}"
        )
        lines = data_dir / "claims.jsonl"
        lines.write_text("".join(json.dumps(b) + "\n" for b in bodies))
        script = data_dir / "intake.lua"
        script.write_text(_INTAKE_LUA % (lines, agent))
        intake = _wrk(f"{base}{API}/claims", min(seconds, 10), "-s", str(script))
    ok = (
        status["rps"] >= GOAL_RPS
        and status["p99"] < GOAL_P99_MS
        and status["non2xx"] == status["errors"] == 0
    )
    for label, f in (
        ("health", health),
        ("status read", status),
        ("claim intake", intake),
    ):
        print(
            f"  {name:<10} {label:<13} {f['rps']:8.0f} req/s  p50 {f['p50']:7.1f} ms  "
            f"p99 {f['p99']:7.1f} ms  non-2xx {f['non2xx']:.0f}  socket errors {f['errors']:.0f}"
        )
    print(
        f"  {name}: status read goal (>= {GOAL_RPS:.0f} req/s, p99 < {GOAL_P99_MS:.0f} ms,"
        f" no error): {'met' if ok else 'NOT met'}"
    )
    out.append(
        Result(
            f"farmer's status read, GET /policies ({name})",
            "requests/s",
            status["rps"],
            "goal",
            GOAL_RPS,
            f"{settings}; {_detail(status)}",
            f"goal: >= {GOAL_RPS:.0f} requests/s, p99 < {GOAL_P99_MS:.0f} ms, no error",
            higher_is_better=True,
        )
    )
    out.append(
        Result(
            f"status read p99 ({name})",
            "ms",
            status["p99"],
            "goal",
            GOAL_P99_MS,
            settings,
            f"goal: p99 < {GOAL_P99_MS:.0f} ms",
        )
    )
    out.append(
        Result(
            f"claim intake, POST /claims ({name})",
            "requests/s",
            intake["rps"],
            None,
            None,
            f"{settings}; one plot per claim, field agent; {_detail(intake)}",
        )
    )
    out.append(
        Result(
            f"GET /health, no database ({name})",
            "requests/s",
            health["rps"],
            None,
            None,
            f"{settings}; {_detail(health)}",
        )
    )
    return out


@contextmanager
def _pg_schema() -> Iterator[str | None]:
    """A migrated-later schema of its own on the bench PostgreSQL; None if none answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    base = os.environ.get(
        "AGRI_BENCH_POSTGRES_URL", os.environ.get("AGRI_TEST_POSTGRES_URL", DEFAULT_PG)
    )
    schema = f"bench_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        yield None
        return
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(*, quick: bool = False) -> list[Result]:
    """Status reads and claim intake against ``agri serve --workers 2``, SQLite and PostgreSQL."""
    if shutil.which("wrk") is None:
        raise Skipped(
            "wrk is not installed (Debian: apt-get install wrk; make setup does)"
        )
    seconds = 5 if quick else 15
    print(f"{'database':<12} {'request':<13} {'rate':>14}  latency")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="agri-load-") as tmp:
        work = Path(tmp)
        from ledger import generate_key
        from server.context import write_keypair

        key, _ = write_keypair(generate_key("bench.example/ledger"), work / "keys")
        results += _measure(
            "SQLite", f"sqlite:///{work / 'load.db'}", work, key, seconds
        )
        with _pg_schema() as url:
            if url is None:
                print("  PostgreSQL: no server answers; skipped")
            else:
                results += _measure("PostgreSQL", url, work, key, seconds)
    return results
