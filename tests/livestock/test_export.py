"""The phone's model: ONNX export, int8 accuracy, size, and the manifest the app reads.

One export per test session (into a temporary folder) serves every test here;
the int8 ranges are calibrated on 48 training photos, as ``make edge-model`` does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from livestock import ModelError
from livestock.data import scan_folder
from livestock.export import (
    OPSET,
    EdgeManifest,
    ExportCheck,
    OnnxEmbedder,
    check_export,
    export_onnx,
)
from livestock.model import (
    DEFAULT_WEIGHTS,
    WEIGHTS_DIR,
    load_embedder,
    pretrained_backbone,
    sha256_file,
)
from livestock.preprocess import load_image, to_array
from livestock.quality import QualityRules

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "edge" / "model"


# Mean cosine between int8 (as written: the quantisation's own effect, whatever
# the CPU's int8 kernels) and float32 embeddings of the same photos.
INT8_COSINE_MEAN = 0.95
MAX_INT8_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, cattle: Path) -> EdgeManifest:
    return export_onnx(tmp_path_factory.mktemp("edge-export"), calibrate=cattle)


@pytest.fixture(scope="session")
def check(exported: EdgeManifest, cattle: Path) -> ExportCheck:
    return check_export(exported.directory, cattle)


def test_float32_onnx_embeds_like_pytorch(check: ExportCheck) -> None:
    """Cosine >= 0.999 between float32 ONNX and PyTorch embeddings of the same photos."""
    assert check.parity_photos >= 60
    assert check.parity_min >= 0.999, check.to_json()


def test_int8_top1_within_one_point_of_float32_on_held_out_cows(
    check: ExportCheck,
) -> None:
    """Enrol on the first day, query the others: int8 loses at most one point of top-1."""
    assert check.animals >= 10
    assert check.genuine_queries >= 300
    delta = check.correct_float32 - check.correct_int8
    assert check.top1_int8 >= check.top1_float32 - 0.01, (
        f"int8 {check.correct_int8}/{check.genuine_queries} vs float32 "
        f"{check.correct_float32}/{check.genuine_queries} ({delta} fewer)"
    )
    assert check.int8_cosine_mean >= INT8_COSINE_MEAN, check.to_json()


def test_int8_model_is_at_most_5_mb(exported: EdgeManifest) -> None:
    assert exported.files["int8"].bytes <= MAX_INT8_BYTES
    assert exported.model_path("int8").stat().st_size == exported.files["int8"].bytes
    shipped = EdgeManifest.read(SHIPPED)
    assert (SHIPPED / shipped.files["int8"].path).stat().st_size <= MAX_INT8_BYTES


def test_the_graphs_take_a_batch_of_portrait_faces_and_give_unit_embeddings(
    exported: EdgeManifest, cattle: Path
) -> None:
    for precision in ("float32", "int8"):
        proto = onnx.load(str(exported.model_path(precision)))
        opsets = {o.domain: o.version for o in proto.opset_import}
        assert opsets[""] == OPSET >= 17
        (inp,) = proto.graph.input
        (out,) = proto.graph.output
        assert inp.name == "input"
        dims = inp.type.tensor_type.shape.dim
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 224, 112]
        assert out.name == "embedding"
        assert out.type.tensor_type.shape.dim[1].dim_value == 128
        photos = [c.path for c in scan_folder(cattle)[:5]]
        batch = np.stack([to_array(load_image(p)) for p in photos])
        vectors = OnnxEmbedder(exported.model_path(precision), threads=1)(batch)
        assert vectors.shape == (5, 128)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_manifest_carries_what_the_app_needs(exported: EdgeManifest) -> None:
    doc = json.loads(exported.path.read_text())
    weights = json.loads((WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.json").read_text())
    assert doc["source_weights"] == DEFAULT_WEIGHTS
    assert doc["source_sha256"] == weights["sha256"]
    assert doc["input"] == {
        "name": "input",
        "shape": [1, 3, 224, 112],
        "layout": "NCHW",
        "dtype": "float32",
        "dynamic_batch": True,
    }
    assert doc["output"]["name"] == "embedding" and doc["output"]["dim"] == 128
    match = weights.get("match_threshold", weights["threshold"])
    assert doc["thresholds"]["photo"]["match"] == match
    assert doc["thresholds"]["session"]["match"] == weights.get(
        "session_match_threshold", match
    )
    assert doc["calibration"] == weights.get("calibration", {})
    rules = QualityRules()
    quality = doc["quality"]
    assert (quality["min_side_px"], quality["min_sharpness"]) == (
        rules.min_side_px,
        rules.min_sharpness,
    )
    assert (quality["min_brightness"], quality["max_brightness"]) == (
        rules.min_brightness,
        rules.max_brightness,
    )
    ops = [step["op"] for step in doc["preprocessing"]["steps"]]
    assert ops == ["decode", "grayscale", "resize", "scale", "channels"]
    for entry in exported.files.values():
        assert sha256_file(exported.directory / entry.path) == entry.sha256
    exported.verify()


def test_the_shipped_model_was_exported_from_the_shipped_weights() -> None:
    """A new livestock model must be exported again (`make edge-model`)."""
    shipped = EdgeManifest.read(SHIPPED)
    weights = WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.pt"
    assert shipped.source_weights == DEFAULT_WEIGHTS, "run `make edge-model`"
    assert shipped.source_sha256 == sha256_file(weights), "run `make edge-model`"
    int8 = SHIPPED / shipped.files["int8"].path
    assert sha256_file(int8) == shipped.files["int8"].sha256


def test_float32_export_is_reproducible(exported: EdgeManifest) -> None:
    """The same weights give the same float32 file as the shipped manifest lists.

    (int8 is left out: its ranges come from onnxruntime's kernels on this CPU,
    which may round differently on another.)
    """
    shipped = EdgeManifest.read(SHIPPED)
    if shipped.source_sha256 != exported.source_sha256:
        pytest.skip("edge/model is from other weights (see the test above)")
    assert shipped.files["float32"].sha256 == exported.files["float32"].sha256


def _weights_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}{suffix}", folder)
    return folder


def test_missing_weights_are_a_model_error_and_nothing_is_written(
    tmp_path: Path, cattle: Path
) -> None:
    folder = _weights_copy(tmp_path)
    (folder / f"{DEFAULT_WEIGHTS}.pt").unlink()
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="weights file missing"):
        export_onnx(out, calibrate=cattle, weights_dir=folder)
    assert not out.exists()
    with pytest.raises(ModelError, match="unreadable weights manifest"):
        export_onnx(out, "no-such-weights", calibrate=cattle)


def test_corrupt_weights_are_a_model_error(tmp_path: Path, cattle: Path) -> None:
    folder = _weights_copy(tmp_path)
    path = folder / f"{DEFAULT_WEIGHTS}.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the manifest"):
        export_onnx(tmp_path / "out", calibrate=cattle, weights_dir=folder)


def test_a_manifest_naming_an_unknown_backbone_is_a_model_error(
    tmp_path: Path,
) -> None:
    folder = _weights_copy(tmp_path)
    path = folder / f"{DEFAULT_WEIGHTS}.json"
    doc = json.loads(path.read_text())
    doc["recipe"]["backbone"] = "resnet9000"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="unknown backbone 'resnet9000'"):
        load_embedder(DEFAULT_WEIGHTS, folder)


def test_an_unknown_backbone_is_refused_before_any_training() -> None:
    with pytest.raises(ModelError, match="unknown backbone 'lite9': one of lite0"):
        pretrained_backbone("lite9")


def test_a_calibration_folder_without_photos_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "some-cow").mkdir(parents=True)
    with pytest.raises(ModelError, match="no calibration photos"):
        export_onnx(tmp_path / "out", calibrate=tmp_path / "empty")


def test_an_output_folder_that_is_a_file_is_a_model_error(
    tmp_path: Path, cattle: Path
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    with pytest.raises(ModelError, match="cannot write the export there"):
        export_onnx(blocker, calibrate=cattle, calibration_images=4)


def test_a_changed_model_file_fails_verification(
    exported: EdgeManifest, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported.directory, copy)
    (copy / exported.files["int8"].path).write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cowface\.int8\.onnx: SHA-256"):
        EdgeManifest.read(copy).verify()


def test_cli_names_unknown_weights(tmp_path: Path, cattle: Path) -> None:
    from server.cli.main import cli

    args = ["edge", "export", "--out", str(tmp_path / "out"), "--weights", "nope"]
    result = CliRunner().invoke(cli, [*args, "--calibrate", str(cattle)])
    assert result.exit_code == 2
    assert (
        "nope.json" in result.output and "unreadable weights manifest" in result.output
    )
    assert "Traceback" not in result.output


def test_cli_reads_weights_from_the_folder_it_is_given(
    tmp_path: Path, cattle: Path
) -> None:
    from server.cli.main import cli

    folder = _weights_copy(tmp_path)
    (folder / f"{DEFAULT_WEIGHTS}.pt").unlink()
    args = [
        "edge",
        "export",
        "--out",
        str(tmp_path / "out"),
        "--weights-dir",
        str(folder),
    ]
    result = CliRunner().invoke(cli, [*args, "--calibrate", str(cattle)])
    assert result.exit_code == 2
    assert str(folder / f"{DEFAULT_WEIGHTS}.pt") in result.output
    assert not (tmp_path / "out").exists()


def test_the_manifest_thresholds_match_the_registry(exported: EdgeManifest) -> None:
    """The phone decides with the thresholds the server's registry uses."""
    _, manifest = load_embedder()
    th = exported.doc["thresholds"]
    assert th["photo"]["match"] == manifest.match_threshold
    assert th["photo"]["review"] == manifest.threshold
