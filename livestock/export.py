"""The face-ID model for phones: ONNX float32 and int8, with the manifest the app reads.

:func:`export_onnx` turns the shipped PyTorch weights into

- ``cowface.float32.onnx``: the same network (opset 18, a dynamic batch axis,
  input ``input`` (N, 3, 224, 112) in [-1, 1], output ``embedding`` (N, 128),
  L2-normalised);
- ``cowface.int8.onnx``: static QDQ quantisation, int8 weights per output
  channel and uint8 activations, calibrated on preprocessed training photos
  (1st-99.999th percentile ranges). The pooling and normalisation after the
  last convolution stay float (GeM's cube and cube root do not survive 8
  bits); the 128-d projection is quantised (it would otherwise be half the file);
- ``cowface.json``: which weights it came from (name, SHA-256), each file's
  SHA-256 and size, the input and output, the preprocessing of
  :mod:`livestock.preprocess` step by step (for ``edge/src/preprocess.js``), the
  decision thresholds of the weights manifest and the quality gate's bounds.

:func:`check_export` measures what the conversion costs: identification top-1
of float32 and int8 (enrol on each animal's first day, query with the other
days) and the cosine of float32 ONNX embeddings to PyTorch's.

onnxruntime runs the files here; onnxruntime-web runs the same files in the
browser (WebAssembly).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from livestock.data import Capture, scan_folder, split_enrol_query
from livestock.errors import LivestockError, ModelError
from livestock.evaluate import evaluate_embeddings
from livestock.model import DEFAULT_WEIGHTS, WEIGHTS_DIR, load_embedder, sha256_file
from livestock.preprocess import INPUT_HEIGHT, INPUT_WIDTH, load_image, to_array
from livestock.quality import QualityRules

__all__ = [
    "EDGE_NAME",
    "OPSET",
    "EdgeFile",
    "EdgeManifest",
    "ExportCheck",
    "OnnxEmbedder",
    "check_export",
    "export_onnx",
    "preprocessing_spec",
]

EDGE_NAME = "cowface"
"""Stem of the exported files: ``cowface.int8.onnx``, ``cowface.float32.onnx``, ``cowface.json``."""
OPSET = 18
"""ONNX opset of the exported graphs (onnxruntime-web 1.30 runs up to 23)."""
CALIBRATION_IMAGES = 48
"""Photos the int8 ranges are calibrated on, spread evenly over the calibration folder."""
HELD_OUT_EVERY = 4
"""Without a manifest's validation animals, every 4th animal (sorted tags) is held out."""
SHARPNESS_HEIGHT = 224
"""Height the quality gate's Laplacian is measured at (:func:`livestock.quality.sharpness`)."""

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class EdgeFile:
    """One exported model file: its name inside the export folder, SHA-256 and size."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class EdgeManifest:
    """The exported model as the app sees it (``cowface.json``).

    Attributes:
        directory: the folder holding the manifest and the model files.
        name, version: ``cowface`` and ``<weights name>+<first 12 hex of its SHA-256>``.
        source_weights, source_sha256: the livestock weights it was exported from.
        files: ``int8`` and ``float32`` -> :class:`EdgeFile`.
        doc: the whole manifest as written (input, output, preprocessing,
            thresholds, quality).
    """

    directory: Path
    name: str
    version: str
    source_weights: str
    source_sha256: str
    files: dict[str, EdgeFile]
    doc: dict[str, Any] = field(repr=False)

    @property
    def path(self) -> Path:
        """The manifest file."""
        return self.directory / f"{self.name}.json"

    def model_path(self, precision: str) -> Path:
        """The model file of ``precision`` (``int8`` or ``float32``)."""
        try:
            return self.directory / self.files[precision].path
        except KeyError:
            raise ModelError(
                f"{self.path}: no {precision!r} model (has {sorted(self.files)})"
            ) from None

    @classmethod
    def read(cls, path: Path) -> EdgeManifest:
        """Read a ``cowface.json`` (or the folder holding it).

        Raises:
            ModelError: missing, not JSON, or without the contract's keys.
        """
        if path.is_dir():
            path = path / f"{EDGE_NAME}.json"
        try:
            doc = json.loads(path.read_text())
            files = {
                k: EdgeFile(str(v["path"]), str(v["sha256"]), int(v["bytes"]))
                for k, v in doc["files"].items()
            }
            return cls(
                directory=path.parent,
                name=str(doc["name"]),
                version=str(doc["version"]),
                source_weights=str(doc["source_weights"]),
                source_sha256=str(doc["source_sha256"]),
                files=files,
                doc=doc,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{path}: unreadable edge model manifest ({exc})") from exc

    def verify(self) -> None:
        """Check every listed model file against its SHA-256 and size.

        Raises:
            ModelError: a file is missing or differs (naming the file).
        """
        for precision, entry in self.files.items():
            path = self.directory / entry.path
            if not path.is_file():
                raise ModelError(f"{path}: the {precision} model file is missing")
            actual = sha256_file(path)
            if actual != entry.sha256:
                raise ModelError(
                    f"{path.name}: SHA-256 {actual} does not match the manifest's "
                    f"{entry.sha256}"
                )


def preprocessing_spec() -> dict[str, Any]:
    """The exact steps of :func:`livestock.preprocess.load_image` and ``to_array``, as data.

    ``edge/src/preprocess.js`` implements these from decoded RGBA pixels.
    """
    return {
        "reference": "livestock/preprocess.py (load_image, to_array)",
        "steps": [
            {
                "op": "decode",
                "orientation": "exif",
                "mode": "RGB",
                "alpha": "composite over black",
                "color_management": "none",
            },
            {
                "op": "grayscale",
                "reference": "PIL Image.convert('L') (ITU-R 601-2 luma)",
                "weights": [19595, 38470, 7471],
                "offset": 32768,
                "shift": 16,
                "formula": "L = (R * 19595 + G * 38470 + B * 7471 + 32768) >> 16",
            },
            {
                "op": "resize",
                "reference": "PIL Image.resize(BILINEAR), Pillow's Resample.c",
                "width": INPUT_WIDTH,
                "height": INPUT_HEIGHT,
                "filter": "bilinear",
                "support": 1.0,
                "antialias": "support scales with the reduction factor when downscaling",
                "passes": "horizontal then vertical; vertical first when the height "
                "shrinks by more than twice as many pixels as the width (Pillow 13)",
                "coefficient_bits": 22,
                "intermediate": "uint8, rounded and clipped after each pass",
            },
            {"op": "scale", "divide": 127.5, "subtract": 1.0, "dtype": "float32"},
            {"op": "channels", "repeat": 3, "layout": "NCHW"},
        ],
    }


def _quality_spec(rules: QualityRules) -> dict[str, Any]:
    return {
        "reference": "livestock/quality.py (check_quality, sharpness)",
        "min_side_px": rules.min_side_px,
        "min_brightness": rules.min_brightness,
        "max_brightness": rules.max_brightness,
        "brightness": "mean of the grayscale image at full size (0-255)",
        "min_sharpness": rules.min_sharpness,
        "sharpness": "variance of the 4-neighbour Laplacian of the grayscale image "
        "resized (bilinear, as above) to height 224, width round(w * 224 / h), at least 3",
        "sharpness_height": SHARPNESS_HEIGHT,
        "on_device": ["too_small", "too_dark", "too_bright", "blurred"],
        "server_only": {"not_a_face": rules.min_face_similarity},
    }


def _thresholds(raw: dict[str, Any]) -> dict[str, Any]:
    """The weights manifest's decision thresholds: one photo, and a fused session.

    ``match`` and ``review`` are cosine scores (accept at or above); ``far``
    is the false-accept rate each was calibrated for. A manifest without
    session thresholds judges a session like a photo.
    """
    photo = {
        "match": float(raw.get("match_threshold", raw["threshold"])),
        "far": float(raw.get("match_threshold_far", raw["threshold_far"])),
        "review": float(raw["threshold"]),
        "review_far": float(raw["threshold_far"]),
    }
    session = {
        "match": float(raw.get("session_match_threshold", photo["match"])),
        "far": float(raw.get("session_match_threshold_far", photo["far"])),
        "review": float(raw.get("session_threshold", photo["review"])),
        "review_far": float(raw.get("session_threshold_far", photo["review_far"])),
    }
    return {"photo": photo, "session": session}


class OnnxEmbedder:
    """An exported model in onnxruntime: preprocessed batch -> unit embeddings.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None``: onnxruntime's default, every core).
        as_written: run the graph as written, onnxruntime's graph optimisations
            off. For the int8 model this is the quantised arithmetic itself
            (dequantise, the float operator, quantise), whatever the CPU: with
            optimisations on, x86 CPUs without VNNI take fused u8 x s8 kernels
            whose saturating 16-bit sums bend the embedding further than the
            quantisation does (the phone's NEON and WebAssembly kernels do
            not). Slower; for checks, not for serving.
    """

    def __init__(
        self, path: Path, threads: int | None = None, *, as_written: bool = False
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if as_written:
            options.graph_optimization_level = (
                ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            )
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{path}: onnxruntime cannot load it ({exc})") from exc
        self.path = path

    def __call__(
        self, batch: npt.NDArray[np.float32], batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Embeddings (N, 128) of preprocessed images (N, 3, 224, 112)."""
        out = [
            self.session.run(
                ["embedding"],
                {"input": np.ascontiguousarray(batch[i : i + batch_size])},
            )[0]
            for i in range(0, len(batch), batch_size)
        ]
        result: npt.NDArray[np.float32] = (
            np.concatenate(out).astype(np.float32)
            if out
            else np.empty((0, 128), np.float32)
        )
        return result


def _spread(items: Sequence[Capture], count: int) -> list[Capture]:
    """``count`` items evenly spread over ``items`` (all when fewer)."""
    if len(items) <= count:
        return list(items)
    idx = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[int(i)] for i in idx]


def _calibration_batch(
    folder: Path, exclude: set[str], count: int
) -> npt.NDArray[np.float32]:
    if not folder.is_dir():
        raise ModelError(f"{folder}: the calibration folder does not exist")
    captures = [c for c in scan_folder(folder) if c.animal not in exclude]
    if not captures:
        raise ModelError(
            f"{folder}: no calibration photos (expected one folder of photos per animal)"
        )
    return np.stack([to_array(load_image(c.path)) for c in _spread(captures, count)])


def _export_float32(model: Any, path: Path) -> None:
    import onnx
    import torch
    from torch.export import Dim

    example = torch.zeros((1, 3, INPUT_HEIGHT, INPUT_WIDTH))
    raw = path.with_suffix(".raw.onnx")
    # The exporter reports its progress on stdout and warns about internals.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(raw),
            input_names=["input"],
            output_names=["embedding"],
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=({0: Dim("batch", min=1, max=4096)},),
            optimize=True,
            verify=False,
        )
    proto = onnx.load(str(raw))  # pulls in the external weights file, if written
    _strip_provenance(proto)
    onnx.save(proto, str(path), save_as_external_data=False)


def _strip_provenance(proto: Any) -> None:
    """Drop the exporter's per-node stack traces and notes (source paths of this machine).

    They make the bytes depend on where the code was installed, so the same
    weights would not give the same file (and its checksum) on another machine.
    """
    graphs = [proto.graph, *(f for f in proto.functions)]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
        if hasattr(graph, "doc_string"):
            graph.doc_string = ""


def _quantize(
    float32: Path, out: Path, calibration: npt.NDArray[np.float32], work: Path
) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = work / "prepared.onnx"
    # Fold batch norm into the convolutions and fix shapes before quantising.
    quant_pre_process(str(float32), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(str(prepared)).graph
    last_conv = max(i for i, n in enumerate(graph.node) if n.op_type == "Conv")
    keep_float = [n.name for n in graph.node[last_conv + 1 :] if n.op_type != "Gemm"]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.at = 0

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            if self.at >= len(calibration):
                return None
            batch = calibration[self.at : self.at + 8]
            self.at += 8
            return {"input": batch}

    # The calibrator reports its progress on stdout.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            nodes_to_exclude=keep_float,
            extra_options={"CalibTensorRangeSymmetric": False},
        )


def _stamp(path: Path, metadata: dict[str, str]) -> None:
    """Write ``metadata`` into the ONNX file's metadata_props."""
    import onnx

    proto = onnx.load(str(path))
    _strip_provenance(proto)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path), save_as_external_data=False)


def export_onnx(
    out_dir: Path,
    weights: str = DEFAULT_WEIGHTS,
    *,
    calibrate: Path,
    weights_dir: Path = WEIGHTS_DIR,
    calibration_images: int = CALIBRATION_IMAGES,
    log: Log = _quiet,
) -> EdgeManifest:
    """Export the shipped weights ``weights`` to ONNX float32 and int8 with ``cowface.json``.

    Args:
        out_dir: where the three files are written (created; files of an
            earlier export are replaced only once every new file is complete).
        weights: the livestock weights' name (``weights_dir/NAME.pt`` + ``.json``).
        calibrate: a folder of photos, one folder per animal; the int8 ranges
            are calibrated on ``calibration_images`` of them spread evenly over
            the training animals (the weights manifest's validation animals are
            left out).
        weights_dir: where the weights live (default: the package's).
        calibration_images: how many photos calibrate the int8 ranges.
        log: progress messages (one line per step).

    Raises:
        ModelError: the weights are missing or fail their checksum, the
            calibration folder holds no photos, or ``out_dir`` cannot be written.
        ImageError: a calibration photo cannot be read (named).
    """
    started = time.monotonic()
    log(f"loading {weights} from {weights_dir}")
    model, manifest = load_embedder(weights, weights_dir)
    raw = json.loads((weights_dir / f"{weights}.json").read_text())
    held_out = set(manifest.recipe.get("validation_animals", []))
    log(f"reading {calibration_images} calibration photos from {calibrate}")
    calibration = _calibration_batch(calibrate, held_out, calibration_images)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{EDGE_NAME}-", dir=out_dir))
    except OSError as exc:
        raise ModelError(f"{out_dir}: cannot write the export there ({exc})") from exc
    try:
        f32 = work / f"{EDGE_NAME}.float32.onnx"
        i8 = work / f"{EDGE_NAME}.int8.onnx"
        log(f"exporting float32 ONNX (opset {OPSET}, dynamic batch)")
        _export_float32(model, f32)
        log(f"quantising to int8 (static QDQ, per channel, {len(calibration)} photos)")
        _quantize(f32, i8, calibration, work)
        metadata = {
            "source_weights": manifest.name,
            "source_sha256": manifest.sha256,
        }
        for path in (f32, i8):
            _stamp(path, metadata)
        files = {
            precision: EdgeFile(path.name, sha256_file(path), path.stat().st_size)
            for precision, path in (("int8", i8), ("float32", f32))
        }
        rules = QualityRules(min_face_similarity=manifest.face_similarity_floor)
        doc: dict[str, Any] = {
            "name": EDGE_NAME,
            "version": f"{manifest.name}+{manifest.sha256[:12]}",
            "source_weights": manifest.name,
            "source_sha256": manifest.sha256,
            "files": {
                k: {"path": v.path, "sha256": v.sha256, "bytes": v.bytes}
                for k, v in files.items()
            },
            "input": {
                "name": "input",
                "shape": [1, 3, INPUT_HEIGHT, INPUT_WIDTH],
                "layout": "NCHW",
                "dtype": "float32",
                "dynamic_batch": True,
            },
            "output": {
                "name": "embedding",
                "dim": manifest.embedding_dim,
                "norm": "l2",
            },
            "opset": OPSET,
            "quantization": {
                "format": "QDQ",
                "weights": "int8, per output channel",
                "activations": "uint8, per tensor",
                "calibration": "percentile 99.999",
                "calibration_images": len(calibration),
                "float_nodes": "pooling and normalisation after the last convolution",
            },
            "preprocessing": preprocessing_spec(),
            "thresholds": _thresholds(raw),
            "calibration": raw.get("calibration", {}),
            "fusion": "mean of the unit embeddings, renormalised (FaceID.fuse); "
            "one photo is judged with thresholds.photo, two or more fused with "
            "thresholds.session",
            "quality": _quality_spec(rules),
        }
        manifest_file = work / f"{EDGE_NAME}.json"
        manifest_file.write_text(json.dumps(doc, indent=2) + "\n")
        for path in (f32, i8, manifest_file):  # the manifest last
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(
        f"wrote {out_dir}: int8 {files['int8'].bytes:,} bytes, "
        f"float32 {files['float32'].bytes:,} bytes in {time.monotonic() - started:.0f} s"
    )
    return EdgeManifest.read(out_dir / f"{EDGE_NAME}.json")


@dataclass(frozen=True)
class ExportCheck:
    """What the conversion costs, measured on real photos.

    Attributes:
        animals: enrolled animals (enrolled on their first capture day).
        held_out: ``validation`` (the weights manifest's held-out animals) or
            ``every 4th`` (a fixed subset of the folder's animals).
        genuine_queries: query photos (the animals' other days).
        top1_float32, top1_int8: share of queries whose animal ranks first.
        correct_float32, correct_int8: the same as counts.
        parity_photos: photos embedded by both PyTorch and float32 ONNX.
        parity_min, parity_mean: cosine of float32 ONNX to PyTorch.
        int8_cosine_min, int8_cosine_mean: cosine of int8 (run as written,
            see :class:`OnnxEmbedder`) to float32 ONNX (every photo).
    """

    animals: int
    held_out: str
    genuine_queries: int
    top1_float32: float
    top1_int8: float
    correct_float32: int
    correct_int8: int
    parity_photos: int
    parity_min: float
    parity_mean: float
    int8_cosine_min: float
    int8_cosine_mean: float

    def to_json(self) -> dict[str, Any]:
        """Rounded figures for reports."""
        return {
            "animals": self.animals,
            "held_out": self.held_out,
            "genuine_queries": self.genuine_queries,
            "top1_float32": round(self.top1_float32, 4),
            "top1_int8": round(self.top1_int8, 4),
            "correct_float32": self.correct_float32,
            "correct_int8": self.correct_int8,
            "top1_delta_points": round(100 * (self.top1_int8 - self.top1_float32), 2),
            "parity_photos": self.parity_photos,
            "parity_cosine_min": round(self.parity_min, 6),
            "parity_cosine_mean": round(self.parity_mean, 6),
            "int8_cosine_min": round(self.int8_cosine_min, 4),
            "int8_cosine_mean": round(self.int8_cosine_mean, 4),
        }


def check_export(
    model_dir: Path,
    data: Path,
    *,
    weights_dir: Path = WEIGHTS_DIR,
    parity_photos: int = 64,
    log: Log = _quiet,
) -> ExportCheck:
    """Top-1 of float32 and int8 ONNX on held-out animals, and float32 parity with PyTorch.

    The animals are the weights manifest's validation animals found in
    ``data``; without any, every 4th of ``data``'s animals (sorted tags). Each
    is enrolled with its first capture day and queried with its other days,
    as :func:`livestock.evaluate_folder` does.

    Args:
        model_dir: an export folder (``cowface.json`` and the model files).
        data: a folder of photos, one folder per animal.
        weights_dir: where the source weights live.
        parity_photos: photos (spread over the queries and enrolments) that
            PyTorch embeds too.
        log: progress messages.

    Raises:
        ModelError: the export or its source weights are missing or differ.
        LivestockError: no animal in ``data`` has photos on two days.
    """
    import torch

    edge = EdgeManifest.read(model_dir)
    edge.verify()
    model, manifest = load_embedder(edge.source_weights, weights_dir)
    if manifest.sha256 != edge.source_sha256:
        raise ModelError(
            f"{edge.path}: exported from {edge.source_weights} {edge.source_sha256[:12]}, "
            f"but those weights are now {manifest.sha256[:12]}: export again"
        )
    if not data.is_dir():
        raise LivestockError(f"{data}: not a folder of photos")
    captures = scan_folder(data)
    validation = set(manifest.recipe.get("validation_animals", []))
    animals = sorted({c.animal for c in captures})
    chosen = set(animals) & validation
    held_out = "validation"
    if not chosen:
        chosen = set(animals[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]) or set(animals)
        held_out = f"every {HELD_OUT_EVERY}th"
    split = split_enrol_query([c for c in captures if c.animal in chosen])
    enrol_caps = [c for a in sorted(split.enrol) for c in split.enrol[a]]
    query_caps = [c for a in sorted(split.query) for c in split.query[a]]
    every = enrol_caps + query_caps
    log(f"preprocessing {len(every)} photos of {len(chosen)} animals ({held_out})")
    batch = np.stack([to_array(load_image(c.path)) for c in every])
    results = {}
    for precision in ("float32", "int8"):
        started = time.monotonic()
        # int8 as written: the quantisation's own effect, as a phone computes it.
        embed = OnnxEmbedder(edge.model_path(precision), as_written=precision == "int8")
        results[precision] = embed(batch)
        log(
            f"{precision}: {len(batch)} embeddings in {time.monotonic() - started:.1f} s"
        )
    n_enrol = len(enrol_caps)
    top1 = {}
    queries = 0
    for precision, vectors in results.items():
        enrol = _group(enrol_caps, vectors[:n_enrol])
        query = _group(query_caps, vectors[n_enrol:])
        metrics = evaluate_embeddings(enrol, query)
        top1[precision] = metrics.top1
        queries = metrics.genuine_queries
    int8_cos = np.sum(results["float32"] * results["int8"], axis=1)
    pick = np.linspace(0, len(batch) - 1, min(parity_photos, len(batch)))
    pick = np.unique(pick.round().astype(int))
    log(f"PyTorch: embedding {len(pick)} photos for parity")
    with torch.inference_mode():
        reference = model(torch.from_numpy(batch[pick])).numpy()
    parity = np.sum(reference * results["float32"][pick], axis=1)
    return ExportCheck(
        animals=len(chosen),
        held_out=held_out,
        genuine_queries=queries,
        top1_float32=top1["float32"],
        top1_int8=top1["int8"],
        correct_float32=round(top1["float32"] * queries),
        correct_int8=round(top1["int8"] * queries),
        parity_photos=len(pick),
        parity_min=float(parity.min()),
        parity_mean=float(parity.mean()),
        int8_cosine_min=float(int8_cos.min()),
        int8_cosine_mean=float(int8_cos.mean()),
    )


def _group(
    captures: list[Capture], vectors: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    groups: dict[str, list[npt.NDArray[np.float32]]] = {}
    for c, v in zip(captures, vectors, strict=True):
        groups.setdefault(c.animal, []).append(v)
    return {a: np.stack(v) for a, v in groups.items()}
