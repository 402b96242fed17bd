"""The training recipe that produces the shipped face-ID weights, and its k-fold protocol.

Sub-center ArcFace on EfficientNet-Lite0, mirrored faces as extra identities
(a cow's left and right faces differ, and a mirrored left face is not the
right face), and augmentation for what phones and barns do: grayscale (day and
infrared night in one domain), crops and angles, blur, exposure, partial
occlusion.

The stem and the first blocks keep their ImageNet weights: they hold about
85 % of the forward compute at 224 x 112 and do not depend on the cows. They
run without gradients and in bfloat16 (``Recipe.bf16_frozen``; on this
machine's AVX-512 BF16 8x faster for that part, 2.7x for the whole step; a
CPU without bfloat16 hardware trains with ``--no-bf16``, a different recipe),
which is what makes an honest k-fold protocol affordable on two CPU cores:
four fold models (23-28 minutes each) and the final one (37 minutes) in
about 80 minutes with two one-thread processes side by side.

The protocol (:func:`cross_validate`): animals in ``folds`` disjoint folds;
each fold's animals are embedded by a model trained on the other folds only,
so every animal gets out-of-fold embeddings. Thresholds and the calibration
map are fitted on those out-of-fold scores (:mod:`livestock.evaluate`); the
shipped model (:func:`train_final`) is then trained on every animal by the
same recipe. Each model is its own file, so folds and the final model can be
trained by separate processes (``--only-fold``, ``--only-final``) and a run
resumes model by model (a model cut off mid-training starts again).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as T

from livestock.data import Capture, capture_day, is_extra, scan_extra, scan_folder
from livestock.errors import LivestockError
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
    "cross_validate",
    "embed_by_every_fold",
    "fold_of",
    "train_final",
    "train_folds",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run (recorded in the weights manifest)."""

    seed: int = 20261130
    epochs: int = 24
    batch_size: int = 48
    lr_backbone: float = 6e-4
    lr_head: float = 3e-3
    weight_decay: float = 1e-4
    frozen_blocks: int = 4
    # EfficientNet-Lite variant (model.BACKBONES); lite1 / lite2 need the
    # bigger-backbones extra.
    backbone: str = "lite0"
    margin: float = 0.35
    scale: float = 30.0
    subcenters: int = 3
    parts: int = 2
    folds: int = 4
    bf16_frozen: bool = True
    # Hard negatives (off at 0): batches of ``hard_classes`` animals that are
    # each other's nearest by the head's class centres, ``batch_size //
    # hard_classes`` photos each, and a batch-hard triplet loss of this weight.
    hard_negative_weight: float = 0.0
    hard_classes: int = 8
    triplet_margin: float = 0.2
    # Animals of other farms (``--extra`` folders: frontal video frames,
    # single photos), in [0, 0.9], 0 = none: this share of every batch is drawn from them,
    # animal first and then one of its photos (near-duplicate frames of one
    # video count as one animal, not as many samples); the rest of the batch
    # and the number of steps per epoch stay the herd's, so the herd's
    # day / infrared-night domain stays central and a step costs the same.
    extra_share: float = 0.0
    # With a share: add the outside photos on top of a whole herd batch
    # (``batch_size`` herd photos + ``batch_size * share / (1 - share)``), so
    # the herd keeps every view of the herd-only recipe and a step costs more.
    extra_on_top: bool = False
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
    """Each animal's fold: the ``k``-th of the sorted tags goes to fold ``k % folds``.

    Each source is split on its own (the herd's tags, then each other farm's
    ``SOURCE/ID`` animals), so the herd's folds do not move when other
    farms' animals are added and every fold holds its share of each source.
    """
    by_source: dict[str, set[str]] = {}
    for a in animals:
        by_source.setdefault(a.split("/")[0] if is_extra(a) else "", set()).add(a)
    return {
        a: i % folds
        for group in by_source.values()
        for i, a in enumerate(sorted(group))
    }


def scan_training(data_dir: Path, extra_dirs: Sequence[Path] = ()) -> list[Capture]:
    """The herd's photos (``data_dir``) followed by other farms' (``extra_dirs``)."""
    captures = scan_folder(data_dir)
    for extra in extra_dirs:
        captures += scan_extra(extra)
    return captures


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


def fit(
    captures: Sequence[Capture],
    animals: Sequence[str],
    recipe: Recipe,
    log: Callable[[str], None] = print,
) -> FaceEmbedder:
    """Train the later blocks and the head on ``animals``' photos, augmented afresh each epoch.

    ``captures`` of animals named ``SOURCE/ID`` (see :func:`scan_extra`) are
    other farms' animals: with ``recipe.extra_share`` > 0 that share of each
    batch is drawn from them, one animal at a time; otherwise they are
    trained on like the herd's.

    The frozen ImageNet layers run without gradients (in bfloat16 when
    ``recipe.bf16_frozen``: 8x faster for that part on AVX-512 BF16 here);
    the trained layers run in float32.
    """
    torch.set_num_threads(recipe.threads)
    _seed(recipe.seed)
    label_of = {a: i for i, a in enumerate(sorted(set(animals)))}
    n_animals = len(label_of)
    items = [
        (load_image(c.path), label_of[c.animal])
        for c in captures
        if c.animal in label_of
    ]
    if not items:
        raise LivestockError(
            f"no photos of the {n_animals} training animals to train on"
        )
    mixed = recipe.extra_share > 0
    if mixed and recipe.hard_negative_weight > 0:
        raise LivestockError(
            "hard negatives and a share of other farms' animals do not combine: "
            "the look-alike batches ignore the share"
        )
    extra_of: dict[int, list[int]] = {}  # other farms' animals' photos, when mixed
    herd = list(range(len(items)))
    if mixed:
        outside = {label_of[a] for a in label_of if is_extra(a)}
        herd = []
        for i, (_, label) in enumerate(items):
            if label in outside:
                extra_of.setdefault(label, []).append(i)
            else:
                herd.append(i)
        if not herd:
            raise LivestockError("mixed training needs photos of the herd's animals")
    log(
        f"training on {len(items)} photos of {n_animals} animals"
        + (
            f" ({len(herd)} of the herd; {len(items) - len(herd)} of "
            f"{len(extra_of)} other farms' animals, {recipe.extra_share:.0%} of each batch)"
            if mixed
            else ""
        )
    )
    model = FaceEmbedder(
        pretrained_backbone(recipe.backbone), EMBEDDING_DIM, parts=recipe.parts
    )
    frozen = [
        model.backbone._conv_stem,
        model.backbone._bn0,
        *model.backbone._blocks[: recipe.frozen_blocks],
    ]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad = False
    # mirrored faces are identities of their own
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
    herd_per_batch, mixed_batch = recipe.batch_size, recipe.batch_size
    if extra_of:  # only when mixed
        share = recipe.extra_share
        if recipe.extra_on_top:
            mixed_batch += round(recipe.batch_size * share / (1 - share))
        else:
            herd_per_batch = max(1, round(recipe.batch_size * (1 - share)))
        log(
            f"batches of {herd_per_batch} herd photos and "
            f"{mixed_batch - herd_per_batch} of other farms' animals"
        )
    steps_per_epoch = math.ceil(len(herd) / recipe.batch_size)
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
            module.eval()  # keep the ImageNet batch-norm statistics
        if recipe.hard_negative_weight > 0:
            batches = _hard_batches(items, head, n_animals, recipe, rng)
        elif mixed:
            batches = _mixed_batches(
                herd, extra_of, steps_per_epoch, herd_per_batch, mixed_batch, rng
            )
        else:
            order = list(range(len(items)))
            rng.shuffle(order)
            batches = [
                order[b : b + recipe.batch_size]
                for b in range(0, len(order), recipe.batch_size)
            ]
        total_loss, seen = 0.0, 0
        for batch in batches:
            images, labels = [], []
            for i in batch:
                img, label = items[i]
                if rng.random() < 0.5:
                    img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                    label += n_animals
                images.append(augment(img))
                labels.append(label)
            with (
                torch.no_grad(),
                torch.autocast("cpu", torch.bfloat16, enabled=recipe.bf16_frozen),
            ):
                h = _frozen_part(model, torch.stack(images), recipe.frozen_blocks)
            embeddings = _trained_part(model, h.float(), recipe.frozen_blocks)
            y = torch.tensor(labels)
            loss = head(embeddings, y)
            if recipe.hard_negative_weight > 0:
                loss = loss + recipe.hard_negative_weight * _batch_hard_triplet(
                    embeddings, y, recipe.triplet_margin
                )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.item() * len(labels)
            seen += len(labels)
        log(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {total_loss / seen:.3f}, "
            f"{time.monotonic() - start:.0f} s"
        )
    model.eval()
    return model


def _mixed_batches(
    herd: Sequence[int],
    extra_of: dict[int, list[int]],
    steps: int,
    herd_per_batch: int,
    batch_size: int,
    rng: random.Random,
) -> list[list[int]]:
    """One epoch of ``steps`` batches: herd photos in shuffled order, the rest other farms'.

    Each batch holds ``herd_per_batch`` herd photos (the herd's photos
    cycle, reshuffled at each pass) and ``batch_size - herd_per_batch``
    photos of other farms' animals, each an animal drawn uniformly and then
    one of its photos.
    """
    order: list[int] = []
    extra_animals = sorted(extra_of)
    batches = []
    for _ in range(steps):
        while len(order) < herd_per_batch:
            more = list(herd)
            rng.shuffle(more)
            order += more
        batch, order = order[:herd_per_batch], order[herd_per_batch:]
        if extra_animals:
            for _ in range(batch_size - herd_per_batch):
                batch.append(rng.choice(extra_of[rng.choice(extra_animals)]))
        batches.append(batch)
    return batches


def _hard_batches(
    items: Sequence[tuple[Image.Image, int]],
    head: SubCenterArcFace,
    n_animals: int,
    recipe: Recipe,
    rng: random.Random,
) -> list[list[int]]:
    """One epoch of batches, each of animals that look alike (hard negatives for each other).

    Class centres are the head's (mean of an animal's sub-centres, its face
    and its mirrored face together); a batch takes a random animal, its
    ``hard_classes - 1`` nearest, and ``batch_size // hard_classes`` photos
    of each (drawn with replacement when an animal has fewer).
    """
    with torch.no_grad():
        w = F.normalize(head.weight, dim=1).view(head.classes, head.k, -1).mean(1)
        centre = F.normalize(w[:n_animals] + w[n_animals:], dim=1)
        nearest = (centre @ centre.T).argsort(dim=1, descending=True).tolist()
    photos_of: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(items):
        photos_of.setdefault(label, []).append(i)
    per = max(2, recipe.batch_size // recipe.hard_classes)
    batches = []
    for _ in range(math.ceil(len(items) / recipe.batch_size)):
        anchor = rng.randrange(n_animals)
        group = [a for a in nearest[anchor] if a in photos_of][: recipe.hard_classes]
        batch = []
        for a in group:
            pool = photos_of[a]
            batch += (
                rng.sample(pool, per) if len(pool) >= per else rng.choices(pool, k=per)
            )
        batches.append(batch)
    return batches


def _batch_hard_triplet(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float
) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) on cosine distance of unit embeddings."""
    distance = 1 - embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    positive = (same & ~eye).any(dim=1)
    if not positive.any():
        return embeddings.sum() * 0
    hardest_pos = distance.masked_fill(~(same & ~eye), -1).max(dim=1).values
    hardest_neg = distance.masked_fill(same, 4).min(dim=1).values
    return F.relu(hardest_pos - hardest_neg + margin)[positive].mean()


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
        doc = np.load(path)
        captures = [
            Capture(Path(p), str(a), capture_day(Path(p).name))
            for p, a in zip(doc["paths"], doc["animals"], strict=True)
        ]
        return cls(captures, doc["folds"], doc["embeddings"])


def _recipe_key(recipe: Recipe) -> dict[str, object]:
    """What decides a model's weights (not how many threads computed them)."""
    key = {k: v for k, v in asdict(recipe).items() if k not in ("threads", "notes")}
    if not recipe.hard_negative_weight:  # its shape knobs matter only when it is on
        del key["hard_classes"], key["triplet_margin"]
    return key


def _same_recipe(recipe: Recipe, saved: dict[str, object]) -> bool:
    """Whether ``saved`` (a manifest's recipe) is ``recipe``.

    A knob added after the model was trained is absent from its manifest;
    at its default (which keeps the older behaviour) it is the same recipe.
    """
    defaults = {f.name: f.default for f in fields(Recipe) if f.default is not MISSING}
    return all(
        saved.get(k, defaults.get(k, MISSING)) == v
        for k, v in _recipe_key(recipe).items()
    )


def _trained(path: Path, recipe: Recipe, animals: Sequence[str]) -> bool:
    """Whether ``path`` (.pt with its .json) was trained by ``recipe`` on exactly ``animals``."""
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return False
    doc = json.loads(meta.read_text())
    saved = doc.get("recipe", {})
    return bool(
        doc.get("sha256") == sha256_file(path)
        and _same_recipe(recipe, saved)
        and saved.get("trained_on") == sorted(animals)
    )


def train_model(
    captures: Sequence[Capture],
    animals: Sequence[str],
    recipe: Recipe,
    weights: Path,
    *,
    note: str,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on ``animals`` and write ``weights`` (float16) and an uncalibrated manifest beside it.

    Does nothing when ``weights`` already holds this recipe's model of these
    animals (checked by SHA-256 and recipe), so an interrupted run resumes and
    folds can be trained by separate processes.
    """
    if _trained(weights, recipe, animals):
        log(f"{weights.name}: already trained by this recipe, kept")
        return weights
    start = time.monotonic()
    model = fit(captures, animals, recipe, log)
    _save_weights(model, weights)
    trained = set(animals)
    manifest = {
        "name": weights.stem,
        "sha256": sha256_file(weights),
        "embedding_dim": EMBEDDING_DIM,
        "input_size": [INPUT_HEIGHT, INPUT_WIDTH],
        "threshold": 0.0,
        "threshold_far": 0.01,
        "match_threshold": 0.0,
        "match_threshold_far": 0.001,
        "note": note,
        "recipe": asdict(recipe)
        | {
            "trained_on": sorted(trained),
            "validation_animals": sorted({c.animal for c in captures} - trained),
            "train_images": sum(c.animal in trained for c in captures),
            "train_seconds": round(time.monotonic() - start),
            "torch": torch.__version__,
        },
    }
    weights.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return weights


def _save_weights(model: FaceEmbedder, path: Path) -> None:
    state = {
        k: v.half() if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def train_folds(
    data_dir: Path,
    out_dir: Path,
    recipe: Recipe | None = None,
    *,
    only_folds: Sequence[int] | None = None,
    extra_dirs: Sequence[Path] = (),
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Train ``fold{k}.pt`` for each fold ``k``: a model of every animal outside fold ``k``.

    ``extra_dirs`` are other farms' folder-per-animal sets, split into the
    same folds by animal (see :func:`fold_of`).
    """
    return _train_folds(
        scan_training(data_dir, extra_dirs),
        out_dir,
        recipe or Recipe(),
        only_folds,
        log,
    )


def _train_folds(
    captures: Sequence[Capture],
    out_dir: Path,
    recipe: Recipe,
    only_folds: Sequence[int] | None,
    log: Callable[[str], None],
) -> list[Path]:
    fold = fold_of([c.animal for c in captures], recipe.folds)
    wanted = list(range(recipe.folds)) if only_folds is None else list(only_folds)
    paths = []
    for k in wanted:
        train_animals = sorted(a for a, f in fold.items() if f != k)
        log(
            f"fold {k + 1}/{recipe.folds}: training on {len(train_animals)} animals, "
            f"testing on {len(fold) - len(train_animals)}"
        )
        paths.append(
            train_model(
                captures,
                train_animals,
                recipe,
                out_dir / f"fold{k}.pt",
                note="a k-fold model for out-of-fold checks: not calibrated, not shipped",
                log=log,
            )
        )
    return paths


def cross_validate(
    data_dir: Path,
    out_dir: Path,
    recipe: Recipe | None = None,
    *,
    extra_dirs: Sequence[Path] = (),
    log: Callable[[str], None] = print,
) -> OutOfFold:
    """Every photo embedded by the fold model that never trained on its animal; writes ``oof.npz``.

    Trains the fold models that :func:`train_folds` has not written yet.
    """
    from livestock.model import load_embedder

    recipe = recipe or Recipe()
    captures = scan_training(data_dir, extra_dirs)
    _train_folds(captures, out_dir, recipe, None, log)
    fold = fold_of([c.animal for c in captures], recipe.folds)
    folds = np.array([fold[c.animal] for c in captures], dtype=np.int64)
    embeddings = np.zeros((len(captures), EMBEDDING_DIM), np.float32)
    torch.set_num_threads(recipe.threads)
    for k in range(recipe.folds):
        model, _ = load_embedder(f"fold{k}", out_dir)
        rows = np.flatnonzero(folds == k)
        batch = np.stack([to_array(load_image(captures[i].path)) for i in rows])
        embeddings[rows] = model.embed(batch)
        log(f"fold {k + 1}/{recipe.folds}: {len(rows)} photos embedded out-of-fold")
    oof = OutOfFold(list(captures), folds, embeddings)
    out_dir.mkdir(parents=True, exist_ok=True)
    oof.save(out_dir / "oof.npz")
    return oof


def embed_by_every_fold(
    captures: Sequence[Capture],
    out_dir: Path,
    folds: int,
    *,
    threads: int = 2,
    log: Callable[[str], None] = print,
) -> npt.NDArray[np.float32]:
    """Every capture embedded by each fold model ``fold{k}`` in ``out_dir``: (folds, n, 128).

    What the gallery-size curve needs (distractors of every fold under one
    model). Cached in ``cross.npz`` beside the models, keyed by their
    checksums and the photos' paths.
    """
    from livestock.model import load_embedder

    cache = out_dir / "cross.npz"
    key = [
        json.loads((out_dir / f"fold{k}.json").read_text())["sha256"]
        for k in range(folds)
    ]
    paths = [str(c.path) for c in captures]
    if cache.is_file():
        doc = np.load(cache)
        if doc["models"].tolist() == key and doc["paths"].tolist() == paths:
            log(f"{cache}: every photo already embedded by each fold model")
            out: npt.NDArray[np.float32] = doc["embeddings"]
            return out
    torch.set_num_threads(threads)
    images = np.stack([to_array(load_image(c.path)) for c in captures])
    embeddings = np.zeros((folds, len(captures), EMBEDDING_DIM), np.float32)
    for k in range(folds):
        model, _ = load_embedder(f"fold{k}", out_dir)
        for i in range(0, len(images), 256):
            embeddings[k, i : i + 256] = model.embed(images[i : i + 256])
        log(f"fold {k + 1}/{folds}: {len(images)} photos embedded")
    np.savez_compressed(
        cache, models=np.array(key), paths=np.array(paths), embeddings=embeddings
    )
    return embeddings


def train_final(
    data_dir: Path,
    out_dir: Path,
    *,
    name: str,
    oof: OutOfFold | None,
    recipe: Recipe | None = None,
    extra_dirs: Sequence[Path] = (),
    distractor_dirs: Sequence[Path] = (),
    log: Callable[[str], None] = print,
) -> Path:
    """Train on every animal; write NAME.pt, and NAME.json calibrated on ``oof``.

    The manifest's thresholds and calibration maps come from ``oof`` (scores of
    animals each fold model never saw), never from the final model's own
    animals. With ``oof`` None only the weights are trained (a separate
    process may do that while the folds train); the manifest is then left
    uncalibrated. ``distractor_dirs``: other farms' folder-per-animal sets
    that no model trained on; the thresholds are fitted with each fold's
    gallery grown by all of their animals (:func:`write_manifest`).
    """
    recipe = recipe or Recipe()
    captures = scan_training(data_dir, extra_dirs)
    animals = sorted({c.animal for c in captures})
    weights = train_model(
        captures,
        animals,
        recipe,
        out_dir / f"{name}.pt",
        note="trained on every animal; not calibrated yet",
        log=log,
    )
    if oof is not None:
        seconds = json.loads(weights.with_suffix(".json").read_text())["recipe"][
            "train_seconds"
        ]
        distractors = [c for d in distractor_dirs for c in scan_extra(d)]
        write_manifest(weights, oof, recipe, captures, seconds, log, distractors)
    return weights


def write_manifest(
    weights: Path,
    oof: OutOfFold,
    recipe: Recipe,
    captures: list[Capture],
    seconds: int,
    log: Callable[[str], None] = print,
    distractors: Sequence[Capture] = (),
) -> Path:
    """Write ``NAME.json`` beside ``NAME.pt``: checksum, out-of-fold calibration, face prototype.

    ``distractors``: photos of animals no model of this run trained on (other
    farms' cows); each fold model embeds them, and the thresholds are fitted
    with every fold's gallery grown by one template per such animal, so they
    hold for a registry of that size (the manifest's
    ``calibration_trials.*.gallery_per_fold``).

    Raises:
        LivestockError: a distractor animal was trained on.
    """
    from livestock.evaluate import calibrate_out_of_fold, distractor_templates
    from livestock.model import load_embedder

    name = weights.stem
    animals = sorted({c.animal for c in captures})
    grown = None
    if distractors:
        known = set(animals) & {c.animal for c in distractors}
        if known:
            raise LivestockError(
                f"{len(known)} distractor animals were trained on (e.g. "
                f"{sorted(known)[0]}): a distractor must be a cow no model saw"
            )
        images = np.stack([to_array(load_image(c.path)) for c in distractors])
        grown = []
        for k in range(recipe.folds):
            model, _ = load_embedder(f"fold{k}", weights.parent)
            grown.append(distractor_templates(distractors, model.embed(images)))
        log(
            f"{name}: thresholds fitted on galleries grown by {len(grown[0])} unseen animals"
        )
    calibration = calibrate_out_of_fold(oof, grown)
    prototype, floor = _face_prototype(captures)
    manifest = {
        "name": name,
        "sha256": sha256_file(weights),
        "embedding_dim": EMBEDDING_DIM,
        "input_size": [INPUT_HEIGHT, INPUT_WIDTH],
        **calibration,
        "face_prototype": [round(float(v), 6) for v in prototype],
        "face_similarity_floor": round(floor, 4),
        "calibration_distractors": sorted(
            {c.animal.split("/")[0] for c in distractors}
        ),
        "recipe": asdict(recipe)
        | {
            "train_animals": len(animals),
            "trained_on": animals,
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
