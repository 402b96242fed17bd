"""Gallery re-ranking and score normalisation for 1:N face ID, on out-of-fold embeddings.

Usage: .venv/bin/python scripts/faceid_rerank.py [OUT_DIR] [--threads N]
(OUT_DIR: where `agri livestock train` left the fold models and oof.npz, default var/weights).

Every variant scores the same out-of-fold queries through the protocol of record
(`livestock.evaluate.protocol_trials`: enrol on the first day, query with later visits, each
impostor trial against the gallery without its own animal), and each fold's threshold comes
from the other folds' impostors. No parameter is fitted: each variant's settings are the
literature's defaults, scaled to 15-animal galleries, and fixed before the run.

Outside cows (never trained on by a herd-only recipe's fold models) are embedded by each
fold model and cached in OUT_DIR/outside.npz: CattleSSFR's 200 single-photo cows are the
cohort of the adaptive score normalisation (AS-norm), Cattely's 36 video cows the outside
impostors (split into the folds by animal), so the cohort never doubles as a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import livestock.evaluate as ev
from livestock.data import Capture, is_extra, scan_extra
from livestock.train import OutOfFold

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Margin:
    """Best-template scores; the decision is the best animal's lead over the second."""

    def scores(self, queries: F32, templates: F32, owner: I64, animals: int) -> F64:
        """As shipped."""
        return ev.BestTemplate().scores(queries, templates, owner, animals)

    def decide(self, scores: F64) -> F64:
        """Best minus second best (the second taken as -1 when there is none)."""
        top = -np.sort(-scores, axis=1)
        second = top[:, 1] if scores.shape[1] > 1 else np.full(len(top), -1.0)
        out: F64 = top[:, 0] - second
        return out


@dataclass(frozen=True)
class QueryExpansion:
    """alpha-QE (Radenovic et al. 2018): the query plus its top-k templates by sim^alpha."""

    k: int = 1
    alpha: float = 3.0

    def scores(self, queries: F32, templates: F32, owner: I64, animals: int) -> F64:
        """Re-query with the expanded, re-normalised query."""
        sims = queries @ templates.T
        k = min(self.k, templates.shape[0])
        top = np.argsort(-sims, axis=1)[:, :k]
        w = np.clip(np.take_along_axis(sims, top, axis=1), 0, None) ** self.alpha
        expanded = queries + np.einsum("nk,nkd->nd", w, templates[top])
        expanded /= np.linalg.norm(expanded, axis=1, keepdims=True)
        return ev.BestTemplate().scores(
            expanded.astype(np.float32), templates, owner, animals
        )

    def decide(self, scores: F64) -> F64:
        """The best animal's score."""
        return ev.BestTemplate().decide(scores)


@dataclass(frozen=True)
class KReciprocal:
    """k-reciprocal re-ranking (Zhong et al. 2017), one query at a time with the gallery.

    Each query is re-ranked against the gallery's templates alone (a claim
    comes one at a time, so no other query takes part); the score is
    1 - ((1 - lam) * Jaccard distance + lam * original distance).
    """

    k1: int = 6
    k2: int = 2
    lam: float = 0.3

    def _one(self, query: F32, templates: F32) -> F64:
        x = np.vstack([query[None], templates]).astype(np.float64)
        n = len(x)
        dist = np.clip(2.0 - 2.0 * (x @ x.T), 0, None)
        dist = dist / dist.max(axis=0, keepdims=True).clip(1e-12)
        dist = dist.T
        rank = np.argsort(dist, axis=1)
        k1 = min(self.k1, n - 1)
        half = max(1, round(k1 / 2))
        v = np.zeros((n, n))
        for i in range(n):
            forward = rank[i, : k1 + 1]
            reciprocal = forward[np.any(rank[forward, : k1 + 1] == i, axis=1)]
            expansion = reciprocal
            for c in reciprocal:
                cf = rank[c, : half + 1]
                cand = cf[np.any(rank[cf, : half + 1] == c, axis=1)]
                if len(np.intersect1d(cand, reciprocal)) > 2 / 3 * len(cand):
                    expansion = np.append(expansion, cand)
            expansion = np.unique(expansion)
            w = np.exp(-dist[i, expansion])
            v[i, expansion] = w / w.sum()
        if self.k2 > 1:
            v = v[rank[:, : min(self.k2, n)]].mean(axis=1)
        shared = np.minimum(v[0], v[1:]).sum(axis=1)
        jaccard = 1.0 - shared / (2.0 - shared)
        out: F64 = 1.0 - ((1 - self.lam) * jaccard + self.lam * dist[0, 1:])
        return out

    def scores(self, queries: F32, templates: F32, owner: I64, animals: int) -> F64:
        """Re-ranked template scores, each animal by its best template."""
        by_template = np.stack([self._one(q, templates) for q in queries])
        return ev.best_per_animal(by_template, owner, animals)

    def decide(self, scores: F64) -> F64:
        """The best animal's score."""
        return ev.BestTemplate().decide(scores)


def _top_stats(cohort_scores: F64, k: int) -> tuple[F64, F64]:
    """Mean and standard deviation of each row's top-``k`` scores."""
    k = max(1, min(k, cohort_scores.shape[1]))
    top = -np.partition(-cohort_scores, k - 1, axis=1)[:, :k]
    return top.mean(axis=1), top.std(axis=1) + 1e-3


@dataclass(frozen=True)
class ASNorm:
    """Adaptive symmetric score normalisation over the top-``k`` of a cohort.

    s' = ((s - mu_t) / sd_t + (s - mu_q) / sd_q) / 2, with mu, sd over the
    ``k`` highest scores of the template (t) and of the query (q) against
    the cohort. ``cohort`` None: the gallery's other animals are the cohort
    (each template against the other animals' templates; the query against
    every animal but the candidate).
    """

    k: int = 5
    cohort: F32 | None = None

    def scores(self, queries: F32, templates: F32, owner: I64, animals: int) -> F64:
        """Normalised template scores, each animal by its best template."""
        raw = (queries @ templates.T).astype(np.float64)
        if self.cohort is not None:
            mu_t, sd_t = _top_stats(
                (templates @ self.cohort.T).astype(np.float64), self.k
            )
            mu_q, sd_q = _top_stats(
                (queries @ self.cohort.T).astype(np.float64), self.k
            )
            norm = 0.5 * ((raw - mu_t) / sd_t + (raw - mu_q[:, None]) / sd_q[:, None])
            return ev.best_per_animal(norm, owner, animals)
        if animals < 2:
            return ev.best_per_animal(raw, owner, animals)
        tt = ev.best_per_animal(
            (templates @ templates.T).astype(np.float64), owner, animals
        )
        tt[np.arange(len(owner)), owner] = -np.inf
        mu_t, sd_t = _top_stats(tt, min(self.k, animals - 1))
        per_animal = ev.best_per_animal(raw, owner, animals)
        norm = np.empty_like(raw)
        for a in range(animals):
            others = np.delete(per_animal, a, axis=1)
            mu_q, sd_q = _top_stats(others, min(self.k, animals - 1))
            cols = owner == a
            norm[:, cols] = 0.5 * (
                (raw[:, cols] - mu_t[cols]) / sd_t[cols]
                + (raw[:, cols] - mu_q[:, None]) / sd_q[:, None]
            )
        return ev.best_per_animal(norm, owner, animals)

    def decide(self, scores: F64) -> F64:
        """The best animal's score."""
        return ev.BestTemplate().decide(scores)


def embed_outside(
    out_dir: Path, folds: int, threads: int
) -> tuple[list[Capture], list[Capture], F32, F32]:
    """SSFR (cohort) and Cattely (impostors) photos embedded by each fold model, cached."""
    import torch

    from livestock.model import load_embedder
    from livestock.preprocess import load_image, to_array

    ssfr = scan_extra(SHARED / "cattle_faces_ssfr")
    cattely = scan_extra(SHARED / "cattle_faces_cattely")
    cache = out_dir / "outside.npz"
    key = [
        json.loads((out_dir / f"fold{k}.json").read_text())["sha256"]
        for k in range(folds)
    ]
    paths = [str(c.path) for c in (*ssfr, *cattely)]
    if cache.is_file():
        doc = np.load(cache)
        if doc["models"].tolist() == key and doc["paths"].tolist() == paths:
            e = doc["embeddings"]
            return ssfr, cattely, e[:, : len(ssfr)], e[:, len(ssfr) :]
    torch.set_num_threads(threads)
    images = np.stack([to_array(load_image(Path(p))) for p in paths])
    emb = np.zeros((folds, len(paths), 128), np.float32)
    for k in range(folds):
        model, _ = load_embedder(f"fold{k}", out_dir)
        for i in range(0, len(images), 256):
            emb[k, i : i + 256] = model.embed(images[i : i + 256])
        print(f"fold {k}: {len(paths)} outside photos embedded", file=sys.stderr)  # noqa: T201
    np.savez_compressed(
        cache, models=np.array(key), paths=np.array(paths), embeddings=emb
    )
    return ssfr, cattely, emb[:, : len(ssfr)], emb[:, len(ssfr) :]


def run(
    oof: OutOfFold,
    cattely: Sequence[Capture],
    cattely_emb: F32,
    make: Callable[[int], ev.Scoring],
) -> dict[str, Any]:
    """Out-of-fold figures of one scoring: per unit, top-1, TAR at FAR 1 % (herd, outside)."""
    ks = sorted({int(f) for f in oof.folds if f >= 0})
    animals = sorted({c.animal for c in cattely})
    fold_of = {a: ks[i % len(ks)] for i, a in enumerate(animals)}
    out: dict[str, Any] = {}
    for unit in ("photo", "session"):
        herd, outside = [], []
        for k in ks:
            rows = np.array(
                [
                    i
                    for i in np.flatnonzero(oof.folds == k)
                    if not is_extra(oof.captures[i].animal)
                ],
                dtype=np.int64,
            )
            caps = [oof.captures[i] for i in rows]
            mine = [i for i, c in enumerate(cattely) if fold_of[c.animal] == k]
            herd.append(
                ev.protocol_trials(caps, oof.embeddings[rows], unit, scoring=make(k))
            )
            outside.append(
                ev.protocol_trials(
                    caps,
                    oof.embeddings[rows],
                    unit,
                    impostors=([cattely[i] for i in mine], cattely_emb[k][mine]),
                    scoring=make(k),
                )
            )
        pooled = ev.Trials.concat(herd)
        out[unit] = {
            "queries": len(pooled),
            "top1": ev._rate(pooled.animal, pooled.rank == 0),
            "far_1e-2": ev._far_entry(herd, 1e-2),
            "far_1e-2_outside": ev._far_entry(outside, 1e-2),
        }
    return out


def _tar(entry: dict[str, Any]) -> str:
    """TAR with its interval and the realised FAR, or why it is not measured."""
    if not entry["measurable"]:
        return f"not measurable ({entry['why']})"
    t, f = entry["tar"], entry["far_realised"]
    return f"{t['rate']:.3f} {t['ci95']} realised FAR {f['rate']:.3f}"


def main(argv: list[str]) -> int:
    """Score every variant; print a table and write OUT_DIR/rerank.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("var/weights"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    oof = OutOfFold.load(args.out_dir / "oof.npz")
    folds = int(oof.folds.max()) + 1
    _, cattely, ssfr_emb, cattely_emb = embed_outside(args.out_dir, folds, args.threads)
    variants: list[tuple[str, Callable[[int], ev.Scoring]]] = [
        ("shipped: best template", lambda k: ev.BestTemplate()),
        ("margin over the second animal", lambda k: Margin()),
        ("alpha-QE k=1, alpha=3", lambda k: QueryExpansion(1, 3.0)),
        ("alpha-QE k=2, alpha=3", lambda k: QueryExpansion(2, 3.0)),
        ("k-reciprocal k1=6, k2=2, lam=0.3", lambda k: KReciprocal(6, 2, 0.3)),
        ("k-reciprocal k1=10, k2=3, lam=0.3", lambda k: KReciprocal(10, 3, 0.3)),
        ("AS-norm, gallery cohort, top-5", lambda k: ASNorm(5)),
        ("AS-norm, 200 SSFR cows, top-20", lambda k: ASNorm(20, ssfr_emb[k])),
        ("AS-norm, 200 SSFR cows, top-50", lambda k: ASNorm(50, ssfr_emb[k])),
    ]
    report = {}
    for name, make in variants:
        r = run(oof, cattely, cattely_emb, make)
        report[name] = r
        for unit in ("photo", "session"):
            e = r[unit]
            print(  # noqa: T201 - a report on stdout
                f"{name:36} {unit:7} ({e['queries']}) top-1 {e['top1']['rate']:.3f} "
                f"{e['top1']['ci95']} TAR@1% {_tar(e['far_1e-2'])} "
                f"| outside TAR@1% {_tar(e['far_1e-2_outside'])}",
                flush=True,
            )
    (args.out_dir / "rerank.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
