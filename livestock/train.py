"""The training recipe that produces the shipped face-ID weights.

Sub-center ArcFace on EfficientNet-Lite0, animals held out whole for
validation, mirrored faces as extra identities (a cow's left and right faces
differ, and a mirrored left face is not the right face), and augmentation for
what phones and barns do: grayscale (day and infrared night in one domain),
crops and angles, blur, exposure, partial occlusion. The stem and first four
blocks keep their ImageNet weights (low-level features; half the compute).
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as T

from livestock.data import scan_folder, validation_animals
from livestock.model import (
    EMBEDDING_DIM,
    FaceEmbedder,
    pretrained_backbone,
    sha256_file,
)
from livestock.preprocess import INPUT_HEIGHT, INPUT_WIDTH, load_image

__all__ = ["Recipe", "SubCenterArcFace", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run (recorded in the weights manifest)."""

    seed: int = 20251128
    epochs: int = 24
    batch_size: int = 48
    lr_backbone: float = 6e-4
    lr_head: float = 3e-3
    weight_decay: float = 1e-4
    frozen_blocks: int = 4
    margin: float = 0.35
    scale: float = 30.0
    subcenters: int = 3
    validation_every: int = 4
    parts: int = 2
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


def train(
    data_dir: Path,
    out_dir: Path,
    *,
    name: str = "cowface-v1",
    recipe: Recipe | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on every animal of ``data_dir`` except the validation ones; write NAME.pt/.json.

    Returns the path of the weights file. The manifest's threshold is set by
    :func:`livestock.evaluate.calibrate` afterwards.
    """
    recipe = recipe or Recipe()
    torch.set_num_threads(recipe.threads)
    _seed(recipe.seed)
    captures = scan_folder(data_dir)
    animals = sorted({c.animal for c in captures})
    held_out = set(validation_animals(animals, recipe.validation_every))
    train_animals = [a for a in animals if a not in held_out]
    label_of = {a: i for i, a in enumerate(train_animals)}
    items: list[tuple[Image.Image, int]] = [
        (load_image(c.path), label_of[c.animal])
        for c in captures
        if c.animal in label_of
    ]
    n_classes = 2 * len(train_animals)  # mirrored faces are identities of their own
    log(
        f"training on {len(items)} images of {len(train_animals)} animals; "
        f"holding out {len(held_out)}: {', '.join(sorted(held_out))}"
    )
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
        EMBEDDING_DIM, n_classes, recipe.subcenters, recipe.scale, recipe.margin
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
    steps_per_epoch = math.ceil(len(items) / recipe.batch_size)
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
    augment = augmentation()
    rng = random.Random(recipe.seed)
    start = time.monotonic()
    for epoch in range(recipe.epochs):
        model.train()
        for module in frozen:
            module.eval()  # keep ImageNet batch-norm statistics in the frozen part
        order = list(range(len(items)))
        rng.shuffle(order)
        total_loss, seen = 0.0, 0
        for b in range(0, len(order), recipe.batch_size):
            batch = [items[i] for i in order[b : b + recipe.batch_size]]
            images, labels = [], []
            for img, label in batch:
                if rng.random() < 0.5:
                    img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                    label += len(train_animals)
                images.append(augment(img))
                labels.append(label)
            x = torch.stack(images)
            y = torch.tensor(labels)
            loss = head(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
            seen += len(batch)
        log(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {total_loss / seen:.3f}, "
            f"{time.monotonic() - start:.0f} s"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.pt"
    state = {
        k: v.half() if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    torch.save(state, weights)
    manifest = {
        "name": name,
        "sha256": sha256_file(weights),
        "embedding_dim": EMBEDDING_DIM,
        "input_size": [INPUT_HEIGHT, INPUT_WIDTH],
        "threshold": 0.0,
        "threshold_far": 0.01,
        "match_threshold": 0.0,
        "match_threshold_far": 0.001,
        "recipe": asdict(recipe)
        | {
            "validation_animals": sorted(held_out),
            "train_images": len(items),
            "train_seconds": round(time.monotonic() - start),
            "torch": torch.__version__,
        },
    }
    (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return weights


def calibrate(
    data_dir: Path,
    weights_dir: Path,
    *,
    name: str = "cowface-v1",
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Set the manifest's thresholds and face prototype from the data.

    * Decision thresholds: open-set thresholds at FAR 1 % (review) and 0.1 %
      (match) on the held-out validation animals (leave-one-animal-out), never
      on animals the model trained on.
    * Face prototype: the mean ImageNet-backbone feature of the training
      animals' photos; the face-similarity floor is the 0.5th percentile of
      every sample photo's similarity to it, less 0.01.
    """
    from livestock.evaluate import evaluate_folder
    from livestock.model import ImageNetBackbone, load_embedder
    from livestock.preprocess import to_array

    manifest_path = weights_dir / f"{name}.json"
    doc = json.loads(manifest_path.read_text())
    doc["threshold"] = doc["match_threshold"] = 0.0
    doc["face_prototype"] = []
    manifest_path.write_text(json.dumps(doc, indent=2) + "\n")
    model, manifest = load_embedder(name, weights_dir)
    held_out = set(manifest.recipe["validation_animals"])
    captures = scan_folder(data_dir)
    reference = ImageNetBackbone()
    pooled = []
    for i in range(0, len(captures), 64):
        batch = np.stack([to_array(load_image(c.path)) for c in captures[i : i + 64]])
        pooled.append(reference.embed(batch))
    features = np.concatenate(pooled)
    train_mask = np.array([c.animal not in held_out for c in captures])
    prototype = features[train_mask].mean(axis=0)
    prototype /= np.linalg.norm(prototype)
    similarity = features @ prototype
    floor = float(np.percentile(similarity, 0.5) - 0.01)
    with tempfile.TemporaryDirectory(prefix="agri-calibrate-") as name:
        tmp = Path(name)
        for animal in held_out:
            (tmp / animal).symlink_to((data_dir / animal).resolve())
        metrics = evaluate_folder(tmp, model.embed)
    doc["threshold"] = round(metrics.thresholds[1e-2], 4)
    doc["threshold_far"] = 1e-2
    doc["match_threshold"] = round(metrics.thresholds[1e-3], 4)
    doc["match_threshold_far"] = 1e-3
    doc["face_prototype"] = [round(float(v), 6) for v in prototype]
    doc["face_similarity_floor"] = round(floor, 4)
    doc["validation"] = metrics.to_json()
    manifest_path.write_text(json.dumps(doc, indent=2) + "\n")
    log(
        f"calibrated on {len(held_out)} held-out animals: review threshold "
        f"{doc['threshold']} (FAR 1 %), match threshold {doc['match_threshold']} (FAR 0.1 %); "
        f"face-similarity floor {doc['face_similarity_floor']}"
    )
    return metrics.to_json()
