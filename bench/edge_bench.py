"""The phone's model: load time and latency in headless Chromium beside onnxruntime in Python.

Settings, printed with the figures: the shipped ``edge/model`` files; Python
runs onnxruntime's CPU provider with 1 intra-op thread and with every core;
the browser runs onnxruntime-web's WebAssembly backend (SIMD, threads through
SharedArrayBuffer because /agent/ is cross-origin isolated) in Debian's
Chromium, headless, with ``numThreads`` 1 and every core, on the same
machine. "First load" is
onnxruntime-web's module and WebAssembly (fetched and compiled) plus the model;
"model load" is the manifest and the model fetched, checked (SHA-256) and made
a session once the runtime is up, beside onnxruntime's session creation in
Python. A "session decision" is what the phone does for one capture of 10
frames: decode, quality gate and embed each photo, fuse them, and score the
template against a cached gallery of 1,000 animals (2 templates each).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import Result
from livestock.data import scan_folder
from livestock.export import EdgeManifest, OnnxEmbedder
from livestock.preprocess import load_image, to_array

REPO = Path(__file__).resolve().parent.parent
EDGE_MODEL = REPO / "edge" / "model"
CHROMIUM = os.environ.get("AGRI_CHROMIUM", "/usr/bin/chromium")
SHARED = Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))
HARNESS = "/agent/__bench__.html"
ISOLATED = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<48} {ours:>16} {ref:>26} {ratio:>8}")


def _photos(count: int) -> list[Path]:
    captures = scan_folder(SHARED / "cattle_faces")
    step = max(1, len(captures) // count)
    return [c.path for c in captures[::step][:count]]


def _precisions(manifest: EdgeManifest) -> list[str]:
    """int8, and float32 when ``make edge-model`` has written it (it is not in git)."""
    return [p for p in ("int8", "float32") if manifest.model_path(p).is_file()]


def python_figures(
    manifest: EdgeManifest, photos: list[Path], repeats: int
) -> dict[tuple[str, int], tuple[float, float]]:
    """(precision, threads) -> (load seconds, median seconds per image at batch 1)."""
    batch = np.stack([to_array(load_image(p)) for p in photos])
    out = {}
    for precision in _precisions(manifest):
        for threads in (1, os.cpu_count() or 1):
            start = time.perf_counter()
            embed = OnnxEmbedder(manifest.model_path(precision), threads=threads)
            loaded = time.perf_counter() - start
            embed(batch[:1])
            times = []
            for i in range(repeats):
                x = batch[i % len(batch)][None]
                t = time.perf_counter()
                embed(x)
                times.append(time.perf_counter() - t)
            out[(precision, threads)] = (loaded, float(np.median(times)))
    return out


class _Server(threading.Thread):
    def __init__(self, app: Any, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.sock = sock

    def run(self) -> None:
        self.server.run(sockets=[self.sock])


BROWSER_RUN = """
async ({photos, precision, threads, repeats}) => {
  const { loadModel, cosine } = await import("/agent/src/faceid.js");
  const { decode, toTensor } = await import("/agent/src/preprocess.js");
  const blobs = photos.map((b64) =>
    new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: "image/jpeg" }));
  let t = performance.now();
  const model = await loadModel("/agent/", { precision, numThreads: threads });
  const load = performance.now() - t;
  t = performance.now();
  await loadModel("/agent/", { precision, numThreads: threads });
  const reload = performance.now() - t;
  const tensors = [];
  for (const b of blobs) tensors.push(toTensor(await decode(b)));
  await model.embedTensors([tensors[0]]);
  const infer = [];
  for (let i = 0; i < repeats; i += 1) {
    t = performance.now();
    await model.embedTensors([tensors[i % tensors.length]]);
    infer.push(performance.now() - t);
  }
  // A gallery of 1,000 animals with 2 unit templates each.
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const gallery = Array.from({ length: 1000 }, () => Array.from({ length: 2 }, () => {
    const v = Float32Array.from({ length: 128 }, rand);
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  }));
  const sessions = [];
  for (let r = 0; r < 3; r += 1) {
    t = performance.now();
    const embeddings = [];
    for (const b of blobs.slice(0, 10)) {
      const { quality, embedding } = await model.analyse(b);
      if (quality.ok) embeddings.push(embedding);
    }
    const template = model.fuse(embeddings);
    let best = -1;
    for (const animal of gallery) {
      for (const tpl of animal) best = Math.max(best, cosine(template, tpl));
    }
    const decision = best >= model.thresholds(embeddings.length).match;
    sessions.push(performance.now() - t);
    if (typeof decision !== "boolean") throw new Error("no decision");
  }
  infer.sort((a, b) => a - b);
  sessions.sort((a, b) => a - b);
  return { load, reload, infer: infer[infer.length >> 1], session: sessions[1],
           threads: navigator.hardwareConcurrency, isolated: crossOriginIsolated };
}
"""


def browser_figures(
    precisions: list[str], photos: list[Path], repeats: int
) -> dict[tuple[str, int], dict[str, Any]]:
    """(precision, numThreads) -> {load, infer, session} in milliseconds, from Chromium."""
    import base64

    from fastapi import FastAPI
    from playwright.sync_api import sync_playwright

    from server.http.agent import mount_agent

    app = FastAPI()
    mount_agent(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _Server(app, sock)
    server.start()
    while not server.server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    payload = [base64.b64encode(p.read_bytes()).decode() for p in photos]
    cores = os.cpu_count() or 1
    out = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            for precision in precisions:
                for threads in (1, cores):
                    # A fresh page: onnxruntime-web's thread count is fixed per page.
                    context = browser.new_context(base_url=base)
                    page = context.new_page()
                    page.route(
                        f"**{HARNESS}",
                        lambda route: route.fulfill(
                            status=200,
                            headers={**ISOLATED, "Content-Type": "text/html"},
                            body="<!doctype html><title>bench</title>",
                        ),
                    )
                    page.goto(HARNESS)
                    out[(precision, threads)] = page.evaluate(
                        BROWSER_RUN,
                        {
                            "photos": payload,
                            "precision": precision,
                            "threads": threads,
                            "repeats": repeats,
                        },
                    )
                    context.close()
            browser.close()
    finally:
        server.server.should_exit = True
        server.join(timeout=10)
        sock.close()
    return out


def run(*, quick: bool = False) -> list[Result]:
    """Print the on-device model's figures beside onnxruntime in Python; return them."""
    manifest = EdgeManifest.read(EDGE_MODEL)
    cores = os.cpu_count() or 1
    repeats = 10 if quick else 50
    photos = _photos(10)
    print(
        f"\n## Phone model ({manifest.version}; int8 "
        f"{manifest.files['int8'].bytes / 1e6:.1f} MB, float32 "
        f"{manifest.files['float32'].bytes / 1e6:.1f} MB; {cores} cores; "
        f"batch 1, median of {repeats})"
    )
    _row("figure", "Chromium WASM", "onnxruntime (Python)", "ratio")
    precisions = _precisions(manifest)
    py = python_figures(manifest, photos, repeats)
    web = browser_figures(precisions, photos, repeats)
    results: list[Result] = []
    browser = (
        f"headless Chromium, onnxruntime-web WebAssembly (SIMD, cross-origin isolated),"
        f" the shipped {manifest.version} model"
    )
    python = f"onnxruntime {_version('onnxruntime')} CPU provider in Python, same model"
    for precision in precisions:
        for threads in (1, cores):
            w = web[(precision, threads)]
            p_load, p_infer = py[(precision, threads)]
            label = f"{precision}, {threads} thr"
            _row(
                f"first load (runtime + model), {label}",
                f"{w['load']:.0f} ms",
                "",
                "",
            )
            _row(
                f"model load (runtime ready), {label}",
                f"{w['reload']:.0f} ms",
                f"{p_load * 1e3:.0f} ms",
                f"{w['reload'] / (p_load * 1e3):.1f}x",
            )
            _row(
                f"inference per image, {label}",
                f"{w['infer']:.1f} ms",
                f"{p_infer * 1e3:.1f} ms",
                f"{w['infer'] / (p_infer * 1e3):.1f}x",
            )
            threads_set = _threads(threads)
            results += [
                Result(
                    f"phone model, first load (runtime and model), {precision}, {threads_set}",
                    "ms",
                    w["load"],
                    settings=browser,
                ),
                Result(
                    f"phone model, model load once the runtime is up, {precision}, {threads_set}",
                    "ms",
                    w["reload"],
                    "onnxruntime (Python)",
                    p_load * 1e3,
                    settings=browser + "; manifest and model fetched, SHA-256 checked",
                    reference_settings=python + "; session creation",
                ),
                Result(
                    f"phone model, inference per image, {precision}, {threads_set}",
                    "ms",
                    w["infer"],
                    "onnxruntime (Python)",
                    p_infer * 1e3,
                    settings=browser + f"; batch 1, median of {repeats}",
                    reference_settings=python + f"; batch 1, median of {repeats}",
                ),
            ]
    for precision in precisions:
        for threads in (1, cores):
            w = web[(precision, threads)]
            _row(
                f"session decision, 10 frames, {precision}, {threads} thr",
                f"{w['session']:.0f} ms",
                "1,000 animals x 2",
                "",
            )
            results.append(
                Result(
                    f"phone, 10-frame session decision, {precision}, {_threads(threads)}",
                    "ms",
                    w["session"],
                    settings=browser
                    + "; decode, gate, embed, fuse, score 1,000 animals"
                    " x 2 templates; median of 3",
                )
            )
    isolated = all(w["isolated"] for w in web.values())
    print(f"(browser cross-origin isolated: {isolated}; Chromium {CHROMIUM})")
    if "float32" not in precisions:
        print("(no float32 model in edge/model: `make edge-model` writes it)")
    return results


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n > 1 else ''}"


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)
