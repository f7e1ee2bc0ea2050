"""Fit the constants of lookalike's search similarities (``lookalike/pipelines/_search.py``) and print them.

Offline, run by hand when the pipeline changes; the constants it prints are pasted into
``_search.py`` with the numbers this script reports (``CALIBRATION``, ``SEMANTIC_CALIBRATION``).

``copy``: a calibration set built like the near-duplicate benchmark (``neardup_data.py``) but with
other originals: 39 Caltech-101 photos (3 per class, seed 1, none of the benchmark's originals)
with the 12 edits each as queries (468 queries), against an index of all 650 Caltech photos
(the originals and 611 distractors). For every query, every candidate of the pipeline
(hash and embedding neighbours) is described by its global evidence (dihedral pHash distance,
embedding cosine) and, for the short list, keypoint verification; label 1 when the candidate is
the query's original. Two logistic regressions (maximum likelihood, a small L2 penalty):

- global: ``logit = A + H * max(0, HASH_MARGIN - distance) + C * cosine`` on every candidate;
- verify: ``logit = A + B * log(1 + inliers)`` on the verified candidates.

The similarity is the sigmoid of the larger logit. Reported: precision and recall of the
results at >= 0.70, and the pairs above it that are not the original (most are other photos of
the same object or scene: Caltech's Faces_easy share one office, its dollar bills one design).

``semantic``: Caltech-101 (13 classes x 50), embeddings of the course's train split (class =
folder). Logistic regression of "same class" on the cosine over all train pairs; reported: the
precision at >= 0.70 on train pairs and on test-split pairs.

Usage::

    .venv/bin/python benchmarks/calibrate_search.py [--work DIR] [--only copy|semantic]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neardup_data  # noqa: E402


def logistic_fit(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3) -> np.ndarray:
    """Weights ``w`` (intercept first) maximising the likelihood of ``y`` under sigmoid(X w)."""
    design = np.column_stack([np.ones(len(y)), x])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ w
        p = 0.5 * (1 + np.tanh(0.5 * z))
        return float(np.sum(np.logaddexp(0, z) - y * z) + l2 * w @ w), design.T @ (p - y) + 2 * l2 * w

    return minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x


def collect_copy(work: Path) -> tuple[np.ndarray, list[str]]:
    """Rows ``(query, label, distance, cosine, tried, verified, inliers)`` for every candidate."""
    from lookalike.index import Index
    from lookalike.pipelines import _search

    bench_originals, _ = neardup_data.caltech_split(n_originals=39, seed=0)
    originals, _ = neardup_data.caltech_split(n_originals=39, seed=1, exclude=tuple(bench_originals))
    distractors = sorted(set(neardup_data.CALTECH.glob("*/*.jpg")) - set(originals))
    root = work / "copy-calibration"
    if not (root / "groundtruth.csv").exists():
        neardup_data.build(root, originals=originals, distractors=distractors, seed=1)
    index_path = root / "idx"
    if (index_path / "manifest.json").exists():
        index = Index.open(index_path)
    else:
        index = Index.create(index_path)
        index.update(root / "index")
    import csv

    with open(root / "groundtruth.csv", encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    engine = _search._Engine(index, "copy")
    rows = []
    names = []
    for n, row in enumerate(truth):
        query = _search._read_query(str(root / row["query"]), n, engine.draft)
        original = index.ids_of([root / row["original"]])[0]
        evidence = engine.global_evidence(query, _search.HASH_CANDIDATES, _search.EMBEDDING_CANDIDATES)
        order = sorted(evidence.values(), key=lambda e: (-_search._logit(e, use_verify=False), -(e.cosine or 0)))
        for rank, e in enumerate(order):
            if rank < _search.SHORTLIST:
                e = engine.verify(query, e)
            rows.append((n, float(e.id == original), e.hash_distance if e.hash_distance is not None else 32,
                         e.cosine or 0.0, float(e.tried), float(e.verified), e.inliers))
        names.append(row["transform"])
        if n % 50 == 0:
            print(f"  {n}/{len(truth)} queries", file=sys.stderr)
    index.close()
    return np.array(rows, dtype=np.float64), names


def calibrate_copy(work: Path) -> None:
    from lookalike.pipelines import _search

    data, names = collect_copy(work)
    np.save(work / "copy-evidence.npy", data)
    label, distance, cosine, verified, inliers = data[:, 1], data[:, 2], data[:, 3], data[:, 5] > 0, data[:, 6]
    margin = _search.HASH_MARGIN
    hinge = np.maximum(0, margin - distance)
    a_g, h_g, c_g = logistic_fit(np.column_stack([hinge, cosine]), label)
    a_v, b_v = logistic_fit(np.log1p(inliers[verified])[:, None], label[verified])
    z = np.maximum(a_g + h_g * hinge + c_g * cosine, np.where(verified, a_v + b_v * np.log1p(inliers), -np.inf))
    sim = 0.5 * (1 + np.tanh(0.5 * z))
    z_global = a_g + h_g * hinge + c_g * cosine
    sim_global = 0.5 * (1 + np.tanh(0.5 * z_global))
    print(f"copy: {len(set(data[:, 0]))} queries, {len(data)} candidates, {int(label.sum())} originals among them")
    print(f"HASH_MARGIN = {margin}\nA_GLOBAL = {a_g:.3f}\nH_GLOBAL = {h_g:.3f}\nC_GLOBAL = {c_g:.3f}")
    print(f"A_VERIFY = {a_v:.3f}\nB_VERIFY = {b_v:.3f}")
    for name, s in (("verify", sim), ("no-verify", sim_global)):
        above = s >= 0.7
        print(f"{name}: results >= 0.70: {int(above.sum())}, precision {label[above].mean():.3f}, "
              f"recall of originals {above[label == 1].mean():.3f}; candidates >= 0.5 precision "
              f"{label[s >= 0.5].mean():.3f}")
    false = np.flatnonzero((sim >= 0.7) & (label == 0))
    print(f"false results >= 0.70 (query transform: similarity): "
          + ", ".join(f"{names[int(data[i, 0])]}: {sim[i]:.2f}" for i in false[:20]))


def calibrate_semantic() -> None:
    from lookalike.features import Embedder
    from lookalike.io import load_image

    root = neardup_data.CALTECH.parent
    splits = {}
    for split in ("train", "test"):
        with open(root / f"{split}_full_split.txt", encoding="utf-8") as handle:
            listed = [line.strip() for line in handle if line.strip()]
        splits[split] = [neardup_data.CALTECH / p for p in listed if (neardup_data.CALTECH / p).exists()]
    embedder = Embedder()
    out = {}
    for split, paths in splits.items():
        vectors = embedder.embed([load_image(p, draft=embedder.draft_size) for p in paths])
        labels = np.array([p.parent.name for p in paths])
        cos = vectors @ vectors.T
        iu = np.triu_indices(len(paths), 1)
        out[split] = (cos[iu], (labels[:, None] == labels[None, :])[iu].astype(np.float64))
        print(f"semantic {split}: {len(paths)} images, {len(iu[0])} pairs")
    c, y = out["train"]
    a, b = logistic_fit(c[:, None], y)
    print(f"A_SEMANTIC = {a:.3f}\nB_SEMANTIC = {b:.3f}  (0.70 at cosine {(math.log(0.7 / 0.3) - a) / b:.4f})")
    for split, (c, y) in out.items():
        s = 0.5 * (1 + np.tanh(0.5 * (a + b * c)))
        above = s >= 0.7
        print(f"{split}: pairs >= 0.70: {int(above.sum())}, precision {y[above].mean():.3f}, "
              f"recall of same-class pairs {above[y == 1].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="keep the built data here (reused when present)")
    parser.add_argument("--only", choices=("copy", "semantic"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.only in (None, "semantic"):
            calibrate_semantic()
        if args.only in (None, "copy"):
            calibrate_copy(work)


if __name__ == "__main__":
    main()
