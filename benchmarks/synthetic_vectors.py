"""Realistic synthetic embeddings for the index benchmarks, anchored to real EfficientNet-Lite0 vectors.

Synthetic vectors drawn from a few Gaussian clusters are too easy for approximate search
(every setting reached recall@10 = 1.000 on them at 100,000 vectors): in 1280 dimensions any
cluster structure separates sharply. Real embeddings lie on a continuous, anisotropic manifold
where many vectors are nearly as close to a query as its true nearest neighbours. This module
builds vectors with that neighbourhood structure from real ones.

Real vectors
    :func:`real_embeddings` embeds every photo in ``../shared/data`` with the project's
    :class:`lookalike.features.Embedder` (public API): Caltech-101 (13 classes x 50),
    cats and dogs (400), the UKBench / Holidays samples, and CIFAR-10's 20,000 32 x 32 images;
    about 21,000 unit vectors, computed once and cached as ``real.npz`` in ``cache_dir``.

Generator (:func:`realistic_vectors`)
    A few real vectors (every 20th, :func:`split_real`) are held out as queries and never
    seed the base set. Each synthetic vector is, for a seed ``i`` drawn uniformly from the
    other real vectors and one of its 10 nearest real neighbours ``j``,

        ``normalise((1 - t) r_i + t r_j + sigma * P diag(sqrt(lambda)) z)``,  ``t ~ U(0, 1/2)``,

    an interpolation along the real manifold (as SMOTE does; Chawla et al., JAIR 2002) plus
    noise shaped by the real set's PCA spectrum (``P``, ``lambda``: principal axes and
    variances of the seeds; ``z`` standard normal). ``sigma`` is chosen by bisection so that
    the nearest-neighbour cosines of a synthetic set of the seeds' size match the real seeds'
    own (median matched; :func:`nn_cosine_check` reports the quantiles of both). The
    vectors are made in chunks and cached as ``.npy`` in ``cache_dir``; the array returned is
    a read-only memory map of that file.

Queries (:func:`realistic_queries`)
    The held-out real vectors, and the same vectors perturbed by the generator's noise.

Usage (from another benchmark)::

    from synthetic_vectors import realistic_vectors, realistic_queries
    base = realistic_vectors(100_000, seed=0, cache_dir="/tmp/lookalike-bench1m")
"""

from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp/lookalike-bench1m")

_HOLD_OUT_EVERY = 20  # every 20th real vector (in the cached order) is a query, never a seed
_NEIGHBOURS = 10  # interpolation partners per seed
_CHUNK = 50_000  # vectors generated at once (50,000 x 1280 float32 = 256 MB)
_VERSION = 1  # bump when the generator changes: cached files carry it in their names


def _photo_paths() -> list[Path]:
    patterns = [
        "classification/caltech101_13/**/*.jpg",
        "classification/cats_dogs/**/*.jpg",
        "retrieval/ukbench_holidays_samples/**/*.jpg",
        "classification/cifar10/**/*.jpg",
    ]
    paths: list[Path] = []
    for pattern in patterns:
        paths += sorted(Path(p) for p in glob.glob(str(SHARED / pattern), recursive=True))
    return paths


def real_embeddings(cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> tuple[np.ndarray, list[str]]:
    """Embeddings of the real photos in ``../shared/data`` and their paths (relative to it), cached.

    Returns
    -------
    vectors : ndarray, float32, shape (n, 1280)
        Unit rows, in the order of ``paths``.
    paths : list of str
        Each vector's photo, relative to ``../shared/data``; the class is its parent folder.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "real.npz"
    if target.exists():
        with np.load(target, allow_pickle=False) as data:
            return data["vectors"].astype(np.float32), [str(p) for p in data["paths"]]
    from lookalike.features import Embedder
    from lookalike.io import load_image

    paths = _photo_paths()
    if not paths:
        raise FileNotFoundError(f"no photos under {SHARED}; set LOOKALIKE_SHARED_DATA to the shared data folder")
    embedder = Embedder()
    parts = []
    started = time.perf_counter()
    for start in range(0, len(paths), 256):
        images = [load_image(p, mode="rgb", draft=embedder.draft_size) for p in paths[start : start + 256]]
        parts.append(embedder.embed(images, batch_size=32))
        done = start + len(images)
        print(f"  embedded {done}/{len(paths)} photos ({time.perf_counter() - started:.0f} s)", flush=True)
    vectors = np.concatenate(parts).astype(np.float32)
    rel = [str(p.relative_to(SHARED)) for p in paths]
    tmp = cache / "real.tmp.npz"
    np.savez(tmp, vectors=vectors, paths=np.array(rel))
    os.replace(tmp, target)
    return vectors, rel


def split_real(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, held_out): every 20th real vector is held out for queries."""
    mask = np.zeros(vectors.shape[0], bool)
    mask[::_HOLD_OUT_EVERY] = True
    return vectors[~mask], vectors[mask]


def _nn_cosines(vectors: np.ndarray, k: int = 1) -> np.ndarray:
    """Cosine of each vector's ``k`` nearest other vectors in the same set (exact, FAISS), shape (n, k)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, np.float32))
    sims, ids = index.search(np.ascontiguousarray(vectors, np.float32), k + 1)
    own = ids == np.arange(vectors.shape[0])[:, None]
    # drop the vector itself (normally the first hit; exact duplicates may swap places)
    out = np.empty((vectors.shape[0], k), np.float32)
    for row in range(vectors.shape[0]):
        keep = sims[row][~own[row]] if own[row].any() else sims[row]
        out[row] = keep[:k]
    return out


class _Model:
    """What the generator needs from the seeds: PCA axes and scales, and each seed's real neighbours."""

    def __init__(self, seeds: np.ndarray) -> None:
        import faiss

        self.seeds = np.ascontiguousarray(seeds, np.float32)
        centred = self.seeds - self.seeds.mean(0)
        _u, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        # noise = (z * scales) @ axes: covariance equal to the seeds' sample covariance
        self.axes = vt.astype(np.float32)
        self.scales = (s / np.sqrt(max(1, self.seeds.shape[0] - 1))).astype(np.float32)
        index = faiss.IndexFlatIP(self.seeds.shape[1])
        index.add(self.seeds)
        self.neighbours = index.search(self.seeds, _NEIGHBOURS + 1)[1][:, 1:]

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.axes.shape[0]), dtype=np.float32)
        return (z * self.scales) @ self.axes

    def draw(self, rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
        i = rng.integers(0, self.seeds.shape[0], n)
        j = self.neighbours[i, rng.integers(0, _NEIGHBOURS, n)]
        t = rng.uniform(0.0, 0.5, n).astype(np.float32)[:, None]
        x = (1 - t) * self.seeds[i] + t * self.seeds[j] + sigma * self.noise(rng, n)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def _calibrate(model: _Model) -> tuple[float, dict[str, list[float]]]:
    """Noise scale whose synthetic set, at the seeds' size, has the seeds' median NN cosine."""
    n = model.seeds.shape[0]
    target = float(np.median(_nn_cosines(model.seeds)[:, 0]))
    low, high = 0.0, 2.0
    for _ in range(8):
        sigma = (low + high) / 2
        median = float(np.median(_nn_cosines(model.draw(np.random.default_rng(12345), n, sigma))[:, 0]))
        if median > target:
            low = sigma  # synthetic neighbours too close: more noise
        else:
            high = sigma
    sigma = (low + high) / 2
    check = nn_cosine_check(model.seeds, model.draw(np.random.default_rng(54321), n, sigma))
    return sigma, check


_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def nn_cosine_check(real: np.ndarray, synthetic: np.ndarray) -> dict[str, list[float]]:
    """Quantiles (5, 25, 50, 75, 95 %) of the nearest-neighbour cosine within each of two sets of equal size."""
    return {
        "quantiles": list(_QUANTILES),
        "real": [float(v) for v in np.quantile(_nn_cosines(real)[:, 0], _QUANTILES)],
        "synthetic": [float(v) for v in np.quantile(_nn_cosines(synthetic)[:, 0], _QUANTILES)],
    }


def generator_info(cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> dict[str, object]:
    """The calibrated noise scale and the NN-cosine check (computed once, cached as ``generator.json``)."""
    cache = Path(cache_dir)
    target = cache / f"generator-v{_VERSION}.json"
    if target.exists():
        info: dict[str, object] = json.loads(target.read_text())
        return info
    vectors, _paths = real_embeddings(cache)
    seeds, held = split_real(vectors)
    sigma, check = _calibrate(_Model(seeds))
    info = {"version": _VERSION, "sigma": sigma, "n_real": int(vectors.shape[0]), "n_seeds": int(seeds.shape[0]),
            "n_held_out": int(held.shape[0]), "nn_cosine": check}
    target.write_text(json.dumps(info, indent=1))
    return info


def realistic_vectors(n: int, *, seed: int = 0, cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> np.ndarray:
    """``n`` synthetic 1280-d unit vectors with the neighbourhood structure of real embeddings (module docstring).

    Made in chunks of 50,000 and cached as ``base-v1-{n}-{seed}.npy`` in ``cache_dir``; the result is
    a read-only memory map of that file (float32, C order), so 1,000,000 vectors (4.9 GB) need not
    fit in memory twice.
    """
    cache = Path(cache_dir)
    target = cache / f"base-v{_VERSION}-{n}-{seed}.npy"
    if not target.exists():
        sigma = float(generator_info(cache)["sigma"])  # type: ignore[arg-type]
        vectors, _paths = real_embeddings(cache)
        model = _Model(split_real(vectors)[0])
        rng = np.random.default_rng(seed)
        tmp = cache / f"base-v{_VERSION}-{n}-{seed}.tmp.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, model.seeds.shape[1]))
        for start in range(0, n, _CHUNK):
            out[start : start + _CHUNK] = model.draw(rng, min(_CHUNK, n - start), sigma)
        out.flush()
        del out
        os.replace(tmp, target)
    return np.load(target, mmap_mode="r")


def realistic_queries(*, perturbed: bool = True, seed: int = 1,
                      cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> tuple[np.ndarray, np.ndarray]:
    """Queries that are not in the base set: the held-out real vectors, then (``perturbed``) the same
    vectors with the generator's noise added (one copy each).

    Returns
    -------
    queries : ndarray, float32, shape (m, 1280), unit rows
    kind : ndarray of str, ``"real"`` or ``"perturbed"`` per row
    """
    target = Path(cache_dir) / f"queries-v{_VERSION}-{int(perturbed)}-{seed}.npz"
    if target.exists():
        with np.load(target, allow_pickle=False) as data:
            return data["queries"], data["kinds"]
    vectors, _paths = real_embeddings(cache_dir)
    seeds, held = split_real(vectors)
    parts, kinds = [held], ["real"] * held.shape[0]
    if perturbed:
        sigma = float(generator_info(cache_dir)["sigma"])  # type: ignore[arg-type]
        model = _Model(seeds)
        noisy = held + sigma * model.noise(np.random.default_rng(seed), held.shape[0])
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        parts.append(noisy)
        kinds += ["perturbed"] * held.shape[0]
    queries, labels = np.ascontiguousarray(np.concatenate(parts), np.float32), np.array(kinds)
    np.savez(target, queries=queries, kinds=labels)
    return queries, labels


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=0, help="also generate (and cache) this many vectors")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    args = parser.parse_args()
    info = generator_info(args.cache_dir)
    print(json.dumps(info, indent=1))
    if args.n:
        started = time.perf_counter()
        realistic_vectors(args.n, seed=0, cache_dir=args.cache_dir)
        print(f"{args.n} vectors in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
