"""Serving the field agent's app (no browser): what /agent/ answers, and what it refuses.

A bare FastAPI app with :func:`server.http.agent.mount_agent` on a small ``edge/``
folder made here: the app's files are cross-origin isolated and revalidated, the
runtime may be kept a day, nothing else of the folder is reachable, and a missing
npm package or model answers 404 naming what to run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.http.agent import EDGE_DIR, ISOLATION_HEADERS, mount_agent


def _edge(root: Path, *, runtime: bool = True, model: bool = True) -> Path:
    edge = root / "edge"
    (edge / "src").mkdir(parents=True)
    (edge / "index.html").write_text("<!doctype html><title>agent</title>")
    (edge / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (edge / "manifest.webmanifest").write_text('{"scope": "/agent/"}')
    (edge / "src" / "app.js").write_text("export {};")
    (edge / "package.json").write_text("{}")
    if model:
        (edge / "model").mkdir()
        (edge / "model" / "cowface.json").write_text("{}")
    if runtime:
        dist = edge / "node_modules" / "onnxruntime-web" / "dist"
        dist.mkdir(parents=True)
        (dist / "ort.wasm.min.mjs").write_text("export {};")
    return edge


def _client(edge: Path) -> TestClient:
    app = FastAPI()
    mount_agent(app, edge)
    return TestClient(app)


def _isolated(headers: Mapping[str, str]) -> bool:
    return all(headers.get(k) == v for k, v in ISOLATION_HEADERS.items())


def test_the_app_files_are_isolated_and_revalidated(tmp_path: Path) -> None:
    client = _client(_edge(tmp_path))
    for path, kind in (
        ("/agent/", "text/html"),
        ("/agent/sw.js", "text/javascript"),
        ("/agent/manifest.webmanifest", "application/manifest+json"),
        ("/agent/src/app.js", "javascript"),
        ("/agent/model/cowface.json", "application/json"),
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert kind in r.headers["content-type"], path
        assert r.headers["cache-control"] == "no-cache", path
        assert _isolated(r.headers), path
    runtime = client.get("/agent/vendor/onnxruntime-web/ort.wasm.min.mjs")
    assert runtime.status_code == 200
    assert runtime.headers["cache-control"] == "public, max-age=86400"
    assert _isolated(runtime.headers)
    assert client.get("/agent/sw.js").headers["service-worker-allowed"] == "/agent/"
    moved = client.get("/agent", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/agent/")


def test_nothing_else_of_the_folder_is_served(tmp_path: Path) -> None:
    client = _client(_edge(tmp_path))
    for path in (
        "/agent/package.json",
        "/agent/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs",
        "/agent/src/../package.json",
        "/agent/vendor/other/x.js",
    ):
        assert client.get(path).status_code == 404, path


def test_a_missing_runtime_or_model_says_what_to_run(tmp_path: Path) -> None:
    client = _client(_edge(tmp_path, runtime=False, model=False))
    runtime = client.get("/agent/vendor/onnxruntime-web/ort.wasm.min.mjs")
    assert runtime.status_code == 404
    assert "npm ci --prefix edge" in runtime.json()["detail"]
    assert _isolated(runtime.headers)
    model = client.get("/agent/model/cowface.json")
    assert model.status_code == 404
    assert "make edge-model" in model.json()["detail"]
    assert client.get("/agent/").status_code == 200  # the app itself still loads


def test_without_the_app_nothing_is_served_at_agent(tmp_path: Path) -> None:
    client = _client(tmp_path / "nowhere")
    assert client.get("/agent/").status_code == 404


def test_the_repository_ships_the_app_and_pins_the_runtime() -> None:
    for name in ("index.html", "sw.js", "manifest.webmanifest", "src/app.js"):
        assert (EDGE_DIR / name).is_file(), name
    package = json.loads((EDGE_DIR / "package.json").read_text())
    assert package["dependencies"]["onnxruntime-web"] == "1.30.0"  # exact, no range
    lock = json.loads((EDGE_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == "1.30.0"
