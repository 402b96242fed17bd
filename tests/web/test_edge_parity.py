"""The phone computes what the server computes: preprocessing, embeddings, quality verdicts.

Real cow photos (day, infrared night, undated series, and one large phone-style
JPEG with an EXIF rotation made from a real photo) go through
``edge/src/preprocess.js`` and ``edge/src/faceid.js`` in headless Chromium,
served by the real app at ``/agent/`` (cross-origin isolated, onnxruntime-web
from ``edge/node_modules``), and through ``livestock/preprocess.py`` and
onnxruntime in Python.

The float32 model is 15 MB and not in git: when ``edge/model`` lacks it (a fresh
clone before ``make edge-model``), the test exports the model into a temporary
folder and the browser's requests for ``/agent/model/*`` are answered from there.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from livestock.data import capture_time, scan_folder
from livestock.export import EdgeManifest, OnnxEmbedder, export_onnx
from livestock.model import DEFAULT_WEIGHTS, WEIGHTS_DIR, sha256_file
from livestock.preprocess import load_image, to_array
from livestock.quality import QualityRules, check_quality
from tests.web.conftest import REPO, serve

EDGE_MODEL = REPO / "edge" / "model"
HARNESS = "/agent/__parity__.html"  # answered by the test: a blank, isolated page
ISOLATED = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
PIXEL = 1 / 127.5  # one grey level in the model's input scale


def _is_night(path: Path) -> bool:
    when = capture_time(path.name)
    return when is not None and (when.hour >= 19 or when.hour < 6)


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[tuple[str, bytes]]:
    """12 real photos of 6 animals (4 at night, 2 undated) and a large rotated JPEG."""
    captures = scan_folder(shared_data / "cattle_faces")
    animals = sorted({c.animal for c in captures})[::10][:6]
    chosen: list[Path] = []
    for animal in animals:
        own = [c.path for c in captures if c.animal == animal]
        night = [p for p in own if _is_night(p)]
        day = [p for p in own if not _is_night(p)]
        chosen += (night[:1] + day[:1]) if night else day[:2]
    out = [(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in chosen]
    # A phone photo: large, stored sideways with EXIF orientation 6 (rotate 90 CW to view).
    upright = load_image(chosen[0]).resize((900, 1800), Image.Resampling.BICUBIC)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    out.append(("large-exif-rotated.jpg", buf.getvalue()))
    assert sum(_is_night(Path(name)) for name, _ in out) >= 1
    return out


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> tuple[Path, bool]:
    """(folder with both models and the manifest, whether it is a fresh export)."""
    manifest = EdgeManifest.read(EDGE_MODEL)
    f32 = EDGE_MODEL / manifest.files["float32"].path
    if f32.is_file() and sha256_file(f32) == manifest.files["float32"].sha256:
        return EDGE_MODEL, False
    out = tmp_path_factory.mktemp("edge-model")
    export_onnx(out, calibrate=shared_data / "cattle_faces")
    return out, True


@pytest.fixture(scope="module")
def agent_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app (an empty database) serving /agent/, at http://127.0.0.1:<port>."""
    data = tmp_path_factory.mktemp("edge-app")
    with serve(data, data / "im") as url:
        yield url


def open_harness(browser: Any, base_url: str, model: tuple[Path, bool]) -> Any:
    """A blank cross-origin-isolated page at /agent/ that can import the app's modules."""
    folder, fresh = model
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.route(
        f"**{HARNESS}",
        lambda route: route.fulfill(
            status=200,
            headers={**ISOLATED, "Content-Type": "text/html; charset=utf-8"},
            body="<!doctype html><html lang='en'><title>parity</title></html>",
        ),
    )
    if fresh:

        def serve_model(route: Any) -> None:
            name = route.request.url.split("/agent/model/", 1)[1].split("?")[0]
            path = folder / name
            if not path.is_file():
                route.fulfill(status=404, headers=ISOLATED, body="")
                return
            kind = (
                "application/json"
                if name.endswith(".json")
                else "application/octet-stream"
            )
            route.fulfill(
                status=200,
                headers={**ISOLATED, "Content-Type": kind},
                body=path.read_bytes(),
            )

        page.route("**/agent/model/*", serve_model)
    page.goto(HARNESS)
    assert page.evaluate("() => crossOriginIsolated"), "the page is not isolated"
    return page


RUN = """
async ({photos, precision}) => {
  const { loadModel } = await import("/agent/src/faceid.js");
  const { decode, toTensor } = await import("/agent/src/preprocess.js");
  const model = await loadModel("/agent/", { precision });
  const out = [];
  for (const p of photos) {
    const bytes = Uint8Array.from(atob(p.b64), (c) => c.charCodeAt(0));
    const blob = new Blob([bytes], { type: "image/jpeg" });
    const image = await decode(blob);
    const tensor = toTensor(image);
    const quality = await model.quality(blob);
    const embedding = await model.embed(blob);
    const analysed = await model.analyse(blob, { force: true });
    out.push({
      analysedSame: analysed.embedding.every((v, i) => v === embedding[i])
        && JSON.stringify(analysed.quality) === JSON.stringify(quality),
      width: image.width, height: image.height,
      plane: Array.from(tensor.subarray(0, 224 * 112)),
      channelsEqual: tensor.subarray(0, 224 * 112).every(
        (v, i) => v === tensor[224 * 112 + i] && v === tensor[2 * 224 * 112 + i]),
      quality, embedding: Array.from(embedding),
    });
  }
  const embeddings = out.map((r) => Float32Array.from(r.embedding));
  const weights = embeddings.map((_, i) => i + 1);
  return {
    photos: out,
    fused: Array.from(model.fuse(embeddings)),
    weighted: Array.from(model.fuse(embeddings, weights)),
    thresholds: [model.thresholds(1), model.thresholds(2)],
  };
}
"""


@pytest.fixture(scope="module")
def browser_results(
    browser: Any,
    agent_url: str,
    model_dir: tuple[Path, bool],
    photos: list[tuple[str, bytes]],
) -> dict[str, Any]:
    """What the browser computes for every photo, with the float32 and the int8 model.

    ``session``: the float32 run's fused templates and thresholds.
    """
    page = open_harness(browser, agent_url, model_dir)
    payload = [{"b64": base64.b64encode(data).decode()} for _, data in photos]
    try:
        results = {
            precision: page.evaluate(RUN, {"photos": payload, "precision": precision})
            for precision in ("float32", "int8")
        }
        results["session"] = results["float32"]
        for precision in ("float32", "int8"):
            results[precision] = results[precision]["photos"]
        assert not page.errors, page.errors
        return results
    finally:
        page.context.close()


def test_preprocessing_matches_python(
    photos: list[tuple[str, bytes]], browser_results: dict[str, list[dict[str, Any]]]
) -> None:
    """Same decoded size, same grey levels (JPEG decoders may differ by a level)."""
    worst = []
    for (name, data), got in zip(photos, browser_results["float32"], strict=True):
        img = load_image(data, name)
        assert (got["width"], got["height"]) == img.size, name
        expected = to_array(img)
        assert got["channelsEqual"], name
        diff = np.abs(
            np.asarray(got["plane"], np.float32).reshape(224, 112) - expected[0]
        )
        worst.append((float(diff.max()), float(diff.mean()), name))
    assert max(w[0] for w in worst) <= 2 * PIXEL + 1e-6, worst
    assert max(w[1] for w in worst) <= 0.05 * PIXEL, worst


def test_embeddings_match_python_onnx(
    photos: list[tuple[str, bytes]],
    browser_results: dict[str, list[dict[str, Any]]],
    model_dir: tuple[Path, bool],
) -> None:
    """Browser (onnxruntime-web, WebAssembly) and Python (onnxruntime) embed alike."""
    folder, _ = model_dir
    manifest = EdgeManifest.read(folder)
    batch = np.stack([to_array(load_image(data, name)) for name, data in photos])
    floors = {"float32": 0.999, "int8": 0.999}
    for precision, floor in floors.items():
        # int8 as written: onnxruntime's fused int8 kernels on x86 CPUs without
        # VNNI saturate (cosine to the browser's 0.81 on such a machine); the
        # quantised arithmetic itself is what the browser's kernels compute.
        expected = OnnxEmbedder(
            manifest.model_path(precision), as_written=precision == "int8"
        )(batch)
        got = np.asarray(
            [r["embedding"] for r in browser_results[precision]], np.float32
        )
        assert got.shape == (len(photos), 128)
        assert all(r["analysedSame"] for r in browser_results[precision])
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(got * expected, axis=1)
        assert cosines.min() >= floor, (
            precision,
            dict(zip([n for n, _ in photos], cosines, strict=True)),
        )


def test_quality_verdicts_match_python(
    photos: list[tuple[str, bytes]], browser_results: dict[str, list[dict[str, Any]]]
) -> None:
    """The on-device gate gives the server's reasons, brightness and sharpness."""
    rules = QualityRules()
    for (name, data), got in zip(photos, browser_results["float32"], strict=True):
        report = check_quality(load_image(data, name), rules)
        assert got["quality"]["reasons"] == list(report.reasons), name
        assert got["quality"]["ok"] == report.passed, name
        assert abs(got["quality"]["brightness"] - report.brightness) <= 0.5, name
        assert got["quality"]["sharpness"] == pytest.approx(
            report.sharpness, rel=0.03
        ), name


# (width, height): upscaling, mild and strong downscaling, either pass first in Pillow 13.
SIZES = [
    (97, 181),
    (112, 224),
    (60, 90),
    (150, 300),
    (1200, 900),
    (500, 3000),
    (200, 1600),
]


def test_grey_and_resize_are_pillows_bit_for_bit(
    browser: Any, agent_url: str, model_dir: tuple[Path, bool]
) -> None:
    """luma() is convert("L") and resizeGray() is resize(BILINEAR), on random pixels."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((300, 200, 1), 255, np.uint8)], axis=2)
    gray_of_rgb = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    cases, expected = [], []
    for width, height in SIZES:
        gray = rng.integers(0, 256, (height, width), dtype=np.uint8)
        small = Image.fromarray(gray, "L").resize((112, 224), Image.Resampling.BILINEAR)
        expected.append(np.asarray(small))
        cases.append(
            {"w": width, "h": height, "b64": base64.b64encode(gray.tobytes()).decode()}
        )
    page = open_harness(browser, agent_url, model_dir)
    try:
        got_gray, got_small = page.evaluate(
            """async ([rgba, cases]) => {
              const { luma, resizeGray } = await import("/agent/src/preprocess.js");
              const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
              return [
                Array.from(luma(bytes(rgba))),
                cases.map((c) => Array.from(resizeGray(bytes(c.b64), c.w, c.h, 112, 224))),
              ];
            }""",
            [base64.b64encode(rgba.tobytes()).decode(), cases],
        )
    finally:
        page.context.close()
    np.testing.assert_array_equal(
        np.asarray(got_gray, np.uint8).reshape(300, 200), gray_of_rgb
    )
    for (width, height), want, resized in zip(SIZES, expected, got_small, strict=True):
        np.testing.assert_array_equal(
            np.asarray(resized, np.uint8).reshape(224, 112),
            want,
            err_msg=f"{width}x{height}",
        )


def test_fusion_and_thresholds_are_the_servers(
    browser_results: dict[str, Any], model_dir: tuple[Path, bool]
) -> None:
    """fuse() is FaceID.fuse (weighted: the weighted mean); one photo vs a session."""
    from livestock.faceid import FaceID

    session = browser_results["session"]
    embeddings = np.asarray(
        [r["embedding"] for r in browser_results["float32"]], np.float32
    )
    np.testing.assert_allclose(session["fused"], FaceID.fuse(embeddings), atol=1e-6)
    weights = np.arange(1, len(embeddings) + 1, dtype=np.float32)[:, None]
    weighted = (embeddings * weights).sum(axis=0)
    weighted /= np.linalg.norm(weighted)
    np.testing.assert_allclose(session["weighted"], weighted, atol=1e-6)
    thresholds = EdgeManifest.read(model_dir[0]).doc["thresholds"]
    assert session["thresholds"] == [thresholds["photo"], thresholds["session"]]


def test_probabilities_follow_the_weights_calibration_map(
    browser: Any, agent_url: str, model_dir: tuple[Path, bool], tmp_path: Path
) -> None:
    """probability() is livestock's Manifest.probability for photo and session scores."""
    from livestock.model import Manifest

    calibration = {
        "photo": {"slope": 31.5, "intercept": -24.0},
        "session": {"slope": 40.0, "intercept": -31.0},
    }
    page = open_harness(browser, agent_url, model_dir)
    try:
        got = page.evaluate(
            """async (calibration) => {
              const { FaceModel } = await import("/agent/src/faceid.js");
              const stub = { input: {}, output: {}, calibration };
              const model = new FaceModel(null, null, stub, "int8");
              const bare = new FaceModel(null, null, { input: {}, output: {} }, "int8");
              return [[0.6, 0.75, 0.9].flatMap((s) => [model.probability(s, 1),
                                                       model.probability(s, 3)]),
                      bare.probability(0.8, 1)];
            }""",
            calibration,
        )
    finally:
        page.context.close()
    doc = json.loads((WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(doc | {"calibration": calibration}))
    manifest = Manifest.read(path)
    expected = [
        manifest.probability(score, basis)
        for score in (0.6, 0.75, 0.9)
        for basis in ("photo", "session")
    ]
    assert None not in expected
    np.testing.assert_allclose(got[0], np.asarray(expected, np.float64), rtol=1e-12)
    assert got[1] is None


def test_a_dark_and_a_tiny_photo_fail_the_gate_on_the_phone(
    browser: Any, agent_url: str, model_dir: tuple[Path, bool]
) -> None:
    """The gate's reasons on the phone for photos the server would refuse; a non-image is named."""
    dark = Image.new("RGB", (120, 240), (3, 3, 3))
    tiny = Image.new("RGB", (40, 40), (128, 128, 128))
    cases = []
    for img in (dark, tiny):
        buf = io.BytesIO()
        img.save(buf, "PNG")
        cases.append({"b64": base64.b64encode(buf.getvalue()).decode()})
    page = open_harness(browser, agent_url, model_dir)
    try:
        reasons = page.evaluate(
            """async (cases) => {
              const { loadModel } = await import("/agent/src/faceid.js");
              const model = await loadModel("/agent/");
              const out = [];
              for (const c of cases) {
                const bytes = Uint8Array.from(atob(c.b64), (ch) => ch.charCodeAt(0));
                out.push((await model.quality(new Blob([bytes]))).reasons);
              }
              const text = new File(["not a photo"], "note.txt", { type: "text/plain" });
              const refused = await model.embed(text).then(() => "", (e) => e.message);
              return [out, refused];
            }""",
            cases,
        )
    finally:
        page.context.close()
    reasons, refused = reasons
    assert refused.startswith("note.txt: not an image this browser can decode"), refused
    assert reasons == [
        list(check_quality(dark).reasons),
        list(check_quality(tiny).reasons),
    ]
    assert reasons[0] == ["too_dark", "blurred"]
    assert "too_small" in reasons[1]
