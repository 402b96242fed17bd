"""The training recipe that produces the shipped face-ID weights, and its k-fold protocol.

Sub-center ArcFace on EfficientNet-Lite0, mirrored faces as extra identities
(a cow's left and right faces differ, and a mirrored left face is not the
right face), and augmentation for what phones and barns do: grayscale (day and
infrared night in one domain), crops and angles, blur, exposure, partial
occlusion.

The stem and the first blocks keep their ImageNet weights. They hold about
85 % of the forward compute at 224 x 112 and do not depend on the cows, so
their output for a fixed number of augmented views of every photo is computed
once (:class:`ViewCache`) and shared by every fold and by the final model:
training then runs only the later blocks and the head, which is what makes an
honest k-fold protocol affordable on two CPU cores.

The protocol (:func:`cross_validate`): animals in ``folds`` disjoint folds;
each fold's animals are embedded by a model trained on the other folds only,
so every animal gets out-of-fold embeddings. Thresholds and the calibration
map are fitted on those out-of-fold scores (:mod:`livestock.evaluate`); the
shipped model (:func:`train_final`) is then trained on every animal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as T

from livestock.data import Capture, scan_folder
from livestock.model import (
    EMBEDDING_DIM,
    FaceEmbedder,
    ImageNetBackbone,
    pretrained_backbone,
    sha256_file,
)
from livestock.preprocess import INPUT_HEIGHT, INPUT_WIDTH, load_image, to_array

__all__ = [
    "OutOfFold",
    "Recipe",
    "SubCenterArcFace",
    "ViewCache",
    "cross_validate",
    "fold_of",
    "train_final",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run (recorded in the weights manifest)."""

    seed: int = 20261130
    epochs: int = 8
    batch_size: int = 48
    lr_backbone: float = 8e-4
    lr_head: float = 3e-3
    weight_decay: float = 1e-4
    frozen_blocks: int = 4
    margin: float = 0.35
    scale: float = 30.0
    subcenters: int = 3
    parts: int = 2
    views: int = 8
    folds: int = 4
    threads: int = 2
    notes: list[str] = field(default_factory=list)


class SubCenterArcFace(nn.Module):
    """Sub-center ArcFace (Deng et al. 2020): k centres per class, additive angular margin."""

    def __init__(
        self, dim: int, classes: int, k: int = 3, s: float = 30.0, m: float = 0.3
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes * k, dim))
        nn.init.xavier_uniform_(self.weight)
        self.classes, self.k, self.s, self.m = classes, k, s, m

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over margin-adjusted cosine logits of unit ``embeddings``."""
        cosine = F.linear(embeddings, F.normalize(self.weight)).view(
            -1, self.classes, self.k
        )
        cosine = cosine.max(dim=2).values.clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.acos(cosine)
        target = torch.cos(theta + self.m)
        onehot = F.one_hot(labels, self.classes).bool()
        logits = torch.where(onehot, target, cosine) * self.s
        return F.cross_entropy(logits, labels)


def augmentation() -> Callable[[Image.Image], torch.Tensor]:
    """Training-time view of a face: the preprocessing plus phone and barn variation."""
    pipeline: Callable[[Image.Image], torch.Tensor] = T.Compose(
        [
            T.Grayscale(num_output_channels=3),
            T.RandomAffine(
                degrees=12, translate=(0.05, 0.05), scale=(0.9, 1.1), shear=6
            ),
            T.RandomResizedCrop(
                (INPUT_HEIGHT, INPUT_WIDTH), scale=(0.65, 1.0), ratio=(0.4, 0.62)
            ),
            T.ColorJitter(brightness=0.45, contrast=0.45),
            T.RandomApply([T.GaussianBlur(5, sigma=(0.1, 2.0))], p=0.3),
            T.RandomApply([T.RandomAdjustSharpness(2.0)], p=0.2),
            T.ToImage(),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize([0.5] * 3, [0.5] * 3),
            T.RandomErasing(p=0.4, scale=(0.03, 0.2), value=0.0),
        ]
    )
    return pipeline


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fold_of(animals: Sequence[str], folds: int) -> dict[str, int]:
    """Each animal's fold: the ``k``-th of the sorted tags goes to fold ``k % folds``."""
    return {a: i % folds for i, a in enumerate(sorted(set(animals)))}


def _frozen_part(model: FaceEmbedder, x: torch.Tensor, blocks: int) -> torch.Tensor:
    bb = model.backbone
    h = bb._swish(bb._bn0(bb._conv_stem(x)))
    for block in bb._blocks[:blocks]:
        h = block(h)
    out: torch.Tensor = h
    return out


def _trained_part(model: FaceEmbedder, h: torch.Tensor, blocks: int) -> torch.Tensor:
    """The rest of :meth:`FaceEmbedder.forward` from the output of block ``blocks``."""
    bb = model.backbone
    n = len(bb._blocks)
    for idx in range(blocks, n):
        rate = bb._global_params.drop_connect_rate
        h = bb._blocks[idx](h, drop_connect_rate=rate * idx / n if rate else rate)
    h = bb._swish(bb._bn1(bb._conv_head(h)))
    return F.normalize(model.bn(model.fc(model.dropout(model.pool(h)))), dim=1)


@dataclass
class ViewCache:
    """The frozen part's output for every photo: one clean view and ``views`` augmented ones.

    Attributes:
        captures: the photos, in order.
        clean: (N, C, H, W) float16, the unaugmented photo (what evaluation sees).
        views: (N, V, C, H, W) float16; odd views are mirrored.
    """

    captures: list[Capture]
    clean: torch.Tensor
    views: torch.Tensor

    @classmethod
    def build(
        cls,
        data_dir: Path,
        recipe: Recipe,
        cache_dir: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> ViewCache:
        """Compute (or load from ``cache_dir``) the views of every photo under ``data_dir``."""
        captures = scan_folder(data_dir)
        key = hashlib.sha256(
            json.dumps(
                [
                    [str(c.path.relative_to(data_dir)) for c in captures],
                    recipe.seed,
                    recipe.views,
                    recipe.frozen_blocks,
                ]
            ).encode()
        ).hexdigest()[:16]
        path = cache_dir / f"views-{key}.pt" if cache_dir else None
        if path is not None and path.is_file():
            saved = torch.load(path, weights_only=True)
            log(f"views of {len(captures)} photos read from {path}")
            return cls(captures, saved["clean"], saved["views"])
        torch.set_num_threads(recipe.threads)
        _seed(recipe.seed)
        model = FaceEmbedder(pretrained_backbone(), EMBEDDING_DIM, parts=recipe.parts)
        model.eval()
        augment = augmentation()
        clean: list[torch.Tensor] = []
        views: list[torch.Tensor] = []
        start = time.monotonic()
        batch = 16
        with torch.inference_mode():
            for i in range(0, len(captures), batch):
                images = [load_image(c.path) for c in captures[i : i + batch]]
                x = torch.from_numpy(np.stack([to_array(img) for img in images]))
                clean.append(_frozen_part(model, x, recipe.frozen_blocks).half())
                augmented = [
                    augment(
                        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if v % 2 else img
                    )
                    for img in images
                    for v in range(recipe.views)
                ]
                h = _frozen_part(model, torch.stack(augmented), recipe.frozen_blocks)
                views.append(h.half().view(len(images), recipe.views, *h.shape[1:]))
                done = min(i + batch, len(captures))
                if done % 320 < batch or done == len(captures):
                    log(
                        f"views: {done}/{len(captures)} photos, "
                        f"{time.monotonic() - start:.0f} s"
                    )
        cache = cls(captures, torch.cat(clean), torch.cat(views))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"clean": cache.clean, "views": cache.views}, path)
        return cache


def fit(
    cache: ViewCache,
    animals: Sequence[str],
    recipe: Recipe,
    log: Callable[[str], None] = print,
) -> FaceEmbedder:
    """Train the later blocks and the head on the cached views of ``animals``' photos."""
    torch.set_num_threads(recipe.threads)
    _seed(recipe.seed)
    label_of = {a: i for i, a in enumerate(sorted(animals))}
    rows = [i for i, c in enumerate(cache.captures) if c.animal in label_of]
    labels = [label_of[cache.captures[i].animal] for i in rows]
    n_animals = len(label_of)
    model = FaceEmbedder(pretrained_backbone(), EMBEDDING_DIM, parts=recipe.parts)
    frozen = [
        model.backbone._conv_stem,
        model.backbone._bn0,
        *model.backbone._blocks[: recipe.frozen_blocks],
    ]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad = False
    head = SubCenterArcFace(
        EMBEDDING_DIM, 2 * n_animals, recipe.subcenters, recipe.scale, recipe.margin
    )
    backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
    head_params = [
        *model.pool.parameters(),
        *model.fc.parameters(),
        *model.bn.parameters(),
        *head.parameters(),
    ]
    optimiser = torch.optim.AdamW(
        [
            {"params": backbone_params, "lr": recipe.lr_backbone},
            {"params": head_params, "lr": recipe.lr_head},
        ],
        weight_decay=recipe.weight_decay,
    )
    steps_per_epoch = math.ceil(len(rows) / recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    warmup = steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: (
            min(1.0, (step + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(step, total) / total))
        ),
    )
    rng = random.Random(recipe.seed)
    start = time.monotonic()
    for epoch in range(recipe.epochs):
        model.train()
        for module in frozen:
            module.eval()
        order = list(range(len(rows)))
        rng.shuffle(order)
        total_loss, seen = 0.0, 0
        for b in range(0, len(order), recipe.batch_size):
            chosen = order[b : b + recipe.batch_size]
            view = [rng.randrange(recipe.views) for _ in chosen]
            x = torch.stack(
                [cache.views[rows[j], v] for j, v in zip(chosen, view, strict=True)]
            ).float()
            y = torch.tensor(
                [
                    labels[j] + (n_animals if v % 2 else 0)
                    for j, v in zip(chosen, view, strict=True)
                ]
            )
            loss = head(_trained_part(model, x, recipe.frozen_blocks), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.item() * len(chosen)
            seen += len(chosen)
        log(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {total_loss / seen:.3f}, "
            f"{time.monotonic() - start:.0f} s"
        )
    model.eval()
    return model


@torch.inference_mode()
def embed_cached(
    model: FaceEmbedder, cache: ViewCache, rows: Sequence[int], blocks: int
) -> npt.NDArray[np.float32]:
    """Embeddings of the clean views of ``rows`` (equal to ``model.embed`` of the photos)."""
    model.eval()
    out = [
        _trained_part(
            model, cache.clean[list(rows[i : i + 64])].float(), blocks
        ).numpy()
        for i in range(0, len(rows), 64)
    ]
    return np.concatenate(out) if out else np.empty((0, EMBEDDING_DIM), np.float32)


@dataclass(frozen=True)
class OutOfFold:
    """Every photo's embedding by the model of the fold that never trained on its animal."""

    captures: list[Capture]
    folds: npt.NDArray[np.int64]
    embeddings: npt.NDArray[np.float32]

    def save(self, path: Path) -> None:
        """Write an ``.npz`` (paths, animals, folds, embeddings)."""
        np.savez_compressed(
            path,
            paths=np.array([str(c.path) for c in self.captures]),
            animals=np.array([c.animal for c in self.captures]),
            folds=self.folds,
            embeddings=self.embeddings,
        )

    @classmethod
    def load(cls, path: Path) -> OutOfFold:
        """Read what :meth:`save` wrote."""
        from livestock.data import capture_day

        doc = np.load(path)
        captures = [
            Capture(Path(p), str(a), capture_day(Path(p).name))
            for p, a in zip(doc["paths"], doc["animals"], strict=True)
        ]
        return cls(captures, doc["folds"], doc["embeddings"])


def _save_weights(model: FaceEmbedder, path: Path) -> None:
    state = {
        k: v.half() if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def write_fold_weights(
    model: FaceEmbedder, out_dir: Path, k: int, recipe: Recipe, held_out: list[str]
) -> Path:
    """Write ``fold{k}.pt`` and a manifest naming the animals it never saw (uncalibrated)."""
    weights = out_dir / f"fold{k}.pt"
    _save_weights(model, weights)
    manifest = {
        "name": f"fold{k}",
        "sha256": sha256_file(weights),
        "embedding_dim": EMBEDDING_DIM,
        "input_size": [INPUT_HEIGHT, INPUT_WIDTH],
        "threshold": 0.0,
        "threshold_far": 0.01,
        "match_threshold": 0.0,
        "match_threshold_far": 0.001,
        "note": "a k-fold model for out-of-fold checks: not calibrated, not shipped",
        "recipe": asdict(recipe) | {"fold": k, "validation_animals": held_out},
    }
    (out_dir / f"fold{k}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return weights


def cross_validate(
    data_dir: Path,
    out_dir: Path,
    recipe: Recipe | None = None,
    *,
    cache_dir: Path | None = None,
    only_folds: Sequence[int] | None = None,
    log: Callable[[str], None] = print,
) -> OutOfFold:
    """Train one model per fold on the other folds' animals; embed the fold's photos with it.

    Writes ``fold{k}.pt`` (each fold's weights, for checks such as an int8
    export's accuracy on animals that model never saw) and ``oof.npz``.
    Photos of folds not in ``only_folds`` keep zero embeddings and fold -1.
    """
    recipe = recipe or Recipe()
    cache = ViewCache.build(data_dir, recipe, cache_dir, log)
    fold = fold_of([c.animal for c in cache.captures], recipe.folds)
    folds = np.array([fold[c.animal] for c in cache.captures], dtype=np.int64)
    embeddings = np.zeros((len(cache.captures), EMBEDDING_DIM), np.float32)
    wanted = list(range(recipe.folds)) if only_folds is None else list(only_folds)
    for k in wanted:
        train_animals = [a for a, f in fold.items() if f != k]
        log(
            f"fold {k + 1}/{recipe.folds}: training on {len(train_animals)} animals, "
            f"testing on {len(fold) - len(train_animals)}"
        )
        model = fit(cache, train_animals, recipe, log)
        write_fold_weights(
            model, out_dir, k, recipe, sorted(set(fold) - set(train_animals))
        )
        rows = [i for i in range(len(cache.captures)) if folds[i] == k]
        embeddings[rows] = embed_cached(model, cache, rows, recipe.frozen_blocks)
    folds[~np.isin(folds, wanted)] = -1
    oof = OutOfFold(cache.captures, folds, embeddings)
    out_dir.mkdir(parents=True, exist_ok=True)
    oof.save(out_dir / "oof.npz")
    return oof


def train_final(
    data_dir: Path,
    out_dir: Path,
    *,
    name: str,
    oof: OutOfFold,
    recipe: Recipe | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on every animal; write NAME.pt and NAME.json with out-of-fold calibration.

    The manifest's thresholds and calibration maps come from ``oof`` (scores of
    animals each fold model never saw), never from the animals' own final
    model; the face prototype comes from the ImageNet backbone's features.
    """
    recipe = recipe or Recipe()
    cache = ViewCache.build(data_dir, recipe, cache_dir, log)
    animals = sorted({c.animal for c in cache.captures})
    start = time.monotonic()
    model = fit(cache, animals, recipe, log)
    seconds = round(time.monotonic() - start)
    weights = out_dir / f"{name}.pt"
    _save_weights(model, weights)
    write_manifest(weights, oof, recipe, cache.captures, seconds, log)
    return weights


def write_manifest(
    weights: Path,
    oof: OutOfFold,
    recipe: Recipe,
    captures: list[Capture],
    seconds: int,
    log: Callable[[str], None] = print,
) -> Path:
    """Write ``NAME.json`` beside ``NAME.pt``: checksum, out-of-fold calibration, face prototype."""
    from livestock.evaluate import calibrate_out_of_fold

    name = weights.stem
    calibration = calibrate_out_of_fold(oof)
    prototype, floor = _face_prototype(captures)
    manifest = {
        "name": name,
        "sha256": sha256_file(weights),
        "embedding_dim": EMBEDDING_DIM,
        "input_size": [INPUT_HEIGHT, INPUT_WIDTH],
        **calibration,
        "face_prototype": [round(float(v), 6) for v in prototype],
        "face_similarity_floor": round(floor, 4),
        "recipe": asdict(recipe)
        | {
            "train_animals": len({c.animal for c in captures}),
            "train_images": len(captures),
            "train_seconds": seconds,
            "torch": torch.__version__,
        },
    }
    path = weights.with_suffix(".json")
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    log(
        f"{name}: photo thresholds {calibration['threshold']} / "
        f"{calibration['match_threshold']} (FAR 1 % / 0.1 %), session thresholds "
        f"{calibration['session_threshold']} / {calibration['session_match_threshold']} "
        "(FAR 5 % / 1 %), all out-of-fold"
    )
    return path


def _face_prototype(captures: list[Capture]) -> tuple[npt.NDArray[np.float32], float]:
    """The mean ImageNet-backbone feature of every photo; the floor: its 0.5th percentile - 0.01."""
    reference = ImageNetBackbone()
    pooled = []
    for i in range(0, len(captures), 64):
        batch = np.stack([to_array(load_image(c.path)) for c in captures[i : i + 64]])
        pooled.append(reference.embed(batch))
    features = np.concatenate(pooled)
    prototype = features.mean(axis=0)
    prototype /= np.linalg.norm(prototype)
    floor = float(np.percentile(features @ prototype, 0.5) - 0.01)
    return prototype.astype(np.float32), floor
