"""Self-joins of the index's vectors: every pair of hashes within a radius, each vector's nearest others.

What :func:`lookalike.find_duplicates` asks of an index: not "the neighbours of
one query" (the vector stores answer that) but "every close pair among all
stored rows", which has algorithms of its own:

- :func:`hash_pairs`: every pair of packed hashes within ``radius`` bits, by exact
  multi-index hashing (no pair loop); :func:`dihedral_pairs`: the same where one image may be
  rotated by 90 degrees or mirrored (each row's hash against the others' 8 dihedral hashes);
- :func:`embedding_neighbours`: each unit vector's ``k`` nearest others by cosine,
  exact up to :data:`EXACT_NEIGHBOURS` rows, above by an IVF self-join on the
  vectors' principal axes with exact re-ranking;
- :func:`hamming_rows`, :func:`dihedral_rows`, :func:`cosine_rows`: the evidence of given pairs, in blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lookalike.features import hamming_distance

__all__ = ["EXACT_NEIGHBOURS", "cosine_rows", "dihedral_pairs", "dihedral_rows", "embedding_neighbours", "hamming_rows",
           "hash_pairs"]

#: Up to this many embeddings, nearest neighbours are found by brute force; above, see
#: :func:`embedding_neighbours`.
EXACT_NEIGHBOURS = 4096
PCA_DIMENSIONS = 128
PCA_SAMPLE = 20_000
IVF_LISTS_PER_ROOT = 2
IVF_PROBES = 4

_CHUNK = 1 << 16


def hamming_rows(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between rows ``a`` and ``b`` of packed (n, bytes) hashes (one per pair)."""
    out = np.empty(a.size, dtype=np.int64)
    for start in range(0, a.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = hamming_distance(hashes[a[part]], hashes[b[part]])
    return out


def _hamming_between(left: np.ndarray, right: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between rows ``a`` of ``left`` and rows ``b`` of ``right`` (packed hashes, one per pair)."""
    out = np.empty(a.size, dtype=np.int64)
    for start in range(0, a.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = hamming_distance(left[a[part]], right[b[part]])
    return out


def dihedral_rows(dihedral: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least Hamming distance between rows ``a`` and ``b`` of (n, 8, bytes) dihedral hashes over the 8 rotations
    and flips of either (``min_t d(h_t[a], h_0[b])`` and ``min_t d(h_0[a], h_t[b])``): what search measures
    between a query (all 8 of its hashes) and an indexed file (its hash)."""
    out = np.empty(a.size, dtype=np.int64)
    for start in range(0, a.size, _CHUNK // 8):
        part = slice(start, start + _CHUNK // 8)
        da, db = dihedral[a[part]], dihedral[b[part]]
        forward = hamming_distance(da, db[:, :1]).min(axis=1)
        backward = hamming_distance(da[:, :1], db).min(axis=1)
        out[part] = np.minimum(forward, backward)
    return out


def cosine_rows(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Inner products of rows ``a`` and ``b`` of (n, d) unit vectors (one per pair)."""
    out = np.empty(a.size, dtype=np.float64)
    for start in range(0, a.size, _CHUNK // 8):
        part = slice(start, start + _CHUNK // 8)
        out[part] = np.einsum("ij,ij->i", vectors[a[part]], vectors[b[part]], dtype=np.float32)
    return out


def _runs_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)``, ``i < j``, of positions whose ``keys`` are equal (vectorised, no per-row loop)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if sorted_keys.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boundary = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], boundary))
    ends = np.concatenate((boundary, [sorted_keys.size]))
    run_end = np.repeat(ends, ends - starts)  # for each sorted position, the end of its run
    position = np.arange(sorted_keys.size)
    firsts, seconds = [], []
    alive = np.flatnonzero(run_end - position > 1)
    offset = 1
    while alive.size:
        firsts.append(order[alive])
        seconds.append(order[alive + offset])
        offset += 1
        alive = alive[run_end[alive] - alive > offset]
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    return np.minimum(a, b), np.maximum(a, b)


def hash_pairs(hashes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of rows of packed hashes within ``radius`` bits: ``(rows_a, rows_b, distances)``, ``a < b``.

    Exact multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space with
    multi-index hashing", CVPR 2012): split the bits into ``radius + 1`` chunks; by the pigeonhole
    principle two hashes within ``radius`` bits agree on at least one whole chunk, so the pairs
    that share a chunk value (found by sorting) hold every answer, and their full distance decides.
    """
    n, width = hashes.shape
    bits = np.unpackbits(hashes, axis=1)
    chunks = np.array_split(np.arange(8 * width), min(radius + 1, 8 * width))
    found_a, found_b = [], []
    for keys in _chunk_keys(bits, chunks):
        a, b = _runs_pairs(keys)
        found_a.append(a)
        found_b.append(b)
    return _within(found_a, found_b, n, lambda a, b: hamming_rows(hashes, a, b), radius)


def _within(found_a: list[np.ndarray], found_b: list[np.ndarray], n: int,
            distance_of: Callable[[np.ndarray, np.ndarray], np.ndarray], radius: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct found pairs whose exact distance (``distance_of``) is within ``radius``, with it."""
    a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
    b = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
    a, b = _unique_pairs(a, b, n)
    distance = distance_of(a, b)
    keep = distance <= radius
    return a[keep], b[keep], distance[keep]


def dihedral_pairs(dihedral: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of rows within ``radius`` bits under some rotation or flip: ``(rows_a, rows_b, distances)``.

    ``dihedral`` is (n, 8, bytes): each image's hash under its 8 rotations and flips
    (:func:`lookalike.features.dihedral_hashes`, row 0 the hash itself). A pair is found when
    ``h_0`` of one is within ``radius`` of some ``h_t`` of the other; the distance is
    :func:`dihedral_rows`' (the least over both directions). Exact, by multi-index hashing as
    :func:`hash_pairs`: the ``h_0`` are split into ``radius + 1`` chunks once, and for each ``t``
    every ``h_t`` meets the ``h_0`` that agree with it on a whole chunk (a sorted join, no pair of
    one side enumerated).
    """
    n, _eight, width = dihedral.shape
    chunks = np.array_split(np.arange(8 * width), min(radius + 1, 8 * width))
    plain = _chunk_keys(np.unpackbits(np.ascontiguousarray(dihedral[:, 0]), axis=1), chunks)
    found_a, found_b = [], []
    hashes = np.ascontiguousarray(dihedral[:, 0])
    for t in range(dihedral.shape[1]):
        other = np.ascontiguousarray(dihedral[:, t])
        turned = plain if t == 0 else _chunk_keys(np.unpackbits(other, axis=1), chunks)
        for left, right in zip(plain, turned, strict=True):
            i, j = _equal_keys(left, right)
            keep = i != j
            i, j = i[keep], j[keep]
            near = _hamming_between(hashes, other, i, j) <= radius  # this t's distance: most go here
            found_a.append(np.minimum(i[near], j[near]))
            found_b.append(np.maximum(i[near], j[near]))
    return _within(found_a, found_b, n, lambda a, b: dihedral_rows(dihedral, a, b), radius)


def _chunk_keys(bits: np.ndarray, chunks: list[np.ndarray]) -> list[np.ndarray]:
    """Each row's value on each chunk of bit positions, as uint64 keys (one array per chunk)."""
    keys = []
    for chunk in chunks:
        weights = np.uint64(1) << np.arange(chunk.size, dtype=np.uint64)
        keys.append((bits[:, chunk].astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64))
    return keys


def _equal_keys(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(i, j)`` with ``left[i] == right[j]`` (a sorted join; vectorised)."""
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    low = np.searchsorted(ordered, left, side="left")
    counts = np.searchsorted(ordered, left, side="right") - low
    total = int(counts.sum())
    i = np.repeat(np.arange(left.size), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, order[np.repeat(low, counts) + offsets]


def _unique_pairs(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique(a.astype(np.int64) * n + b.astype(np.int64))
    return key // n, key % n


def _exact_neighbours(vectors: np.ndarray, k: int, *, metric: str = "ip") -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows by brute force, in blocks: ``(rows, scores)``, best first.

    ``metric="ip"``: inner product, higher first; ``"l2"``: negative squared distance (higher first too).
    """
    n = vectors.shape[0]
    k = min(k, n - 1)
    rows = np.full((n, max(k, 0)), -1, dtype=np.int64)
    scores = np.full((n, max(k, 0)), -np.inf, dtype=np.float32)
    if k <= 0:
        return rows, scores
    squared = (vectors.astype(np.float32) ** 2).sum(axis=1) if metric == "l2" else None
    block = max(1, min(n, (1 << 25) // max(n, 1)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        s = vectors[start:stop] @ vectors.T
        if squared is not None:
            s = 2 * s - squared[None, :] - squared[start:stop, None]
        s[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        top_s = np.take_along_axis(s, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        rows[start:stop] = np.take_along_axis(top, order, axis=1)
        scores[start:stop] = np.take_along_axis(top_s, order, axis=1)
    return rows, scores


def _principal_axes(centred: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``count`` principal axes of the rows of ``centred``, as (d, count) orthonormal columns.

    Randomised range finder with two power iterations (Halko, Martinsson and Tropp, "Finding
    structure with randomness", SIAM Review 2011), orthonormalised through the eigenvectors of small
    Gram matrices: matrix products and ``count``-sized eigenproblems only, no d x d decomposition
    (a full ``eigh`` of the 1280 x 1280 covariance took seconds on a busy 2-core machine).
    """
    width = min(count + 16, *centred.shape)

    def orthonormal(y: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh((y.T @ y).astype(np.float64))
        keep = values > values.max() * 1e-10
        return (y @ (vectors[:, keep] / np.sqrt(values[keep]))).astype(np.float32)

    basis = orthonormal(centred @ rng.standard_normal((centred.shape[1], width), dtype=np.float32))
    for _ in range(2):
        basis = orthonormal(centred @ (centred.T @ basis))
    spread = centred.T @ basis  # (d, width): centred ~ basis @ spread.T
    values, vectors = np.linalg.eigh((spread.T @ spread).astype(np.float64))
    order = np.argsort(values)[::-1][:count]
    axes = spread @ (vectors[:, order] / np.sqrt(np.maximum(values[order], 1e-30)))
    return np.ascontiguousarray(axes, dtype=np.float32)


def embedding_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each unit vector's ``k`` nearest others by cosine: ``(rows, cosines)`` of shape (n, k), best first.

    Exact up to :data:`EXACT_NEIGHBOURS` vectors. Above, a self-join in two steps: a short list
    of ``k + 3`` per vector from an IVF index (FAISS ``IndexIVFFlat``, Jegou, Douze and Schmid,
    "Product quantization for nearest neighbor search", TPAMI 2011; numpy brute force without
    FAISS) over the vectors projected on their first :data:`PCA_DIMENSIONS` principal axes
    (Euclidean distance there approximates ``2 - 2 cosine``), then the exact cosine of every
    short-listed pair on the full vectors, which ranks it. Missing neighbours are -1 with cosine
    ``-inf``.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    k = min(int(k), n - 1)
    if k <= 0:
        return np.full((n, 0), -1, np.int64), np.full((n, 0), -np.inf, np.float32)
    if n <= EXACT_NEIGHBOURS:
        return _exact_neighbours(vectors, k)
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(n, min(n, PCA_SAMPLE), replace=False))]
    mean = sample.mean(axis=0)
    projection = _principal_axes(sample - mean, min(PCA_DIMENSIONS, dim), rng)
    reduced = np.empty((n, projection.shape[1]), dtype=np.float32)
    for start in range(0, n, _CHUNK // 8):  # in blocks: no centred copy of every vector
        reduced[start:start + _CHUNK // 8] = (vectors[start:start + _CHUNK // 8] - mean) @ projection
    short = min(k + 3, n - 1)
    try:
        import faiss
    except ImportError:
        rows, _ = _exact_neighbours(reduced, short, metric="l2")
    else:
        nlist = max(1, min(int(IVF_LISTS_PER_ROOT * np.sqrt(n)), n // 39, 4096))  # 39 training points a list
        quantizer = faiss.IndexFlatL2(reduced.shape[1])
        ivf = faiss.IndexIVFFlat(quantizer, reduced.shape[1], nlist, faiss.METRIC_L2)
        ivf.cp.seed = 0
        ivf.cp.niter = 10  # coarse cells only need to be reasonable: the short list is re-ranked exactly
        ivf.train(reduced[np.sort(rng.choice(n, min(n, 40 * nlist), replace=False))])
        ivf.add(reduced)
        ivf.nprobe = min(nlist, IVF_PROBES)
        _d, found = ivf.search(reduced, short + 1)
        found = found.astype(np.int64)
        self_hit = found == np.arange(n)[:, None]
        # drop the row itself (or the last one where it is absent), keep order
        drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), short)
        keep = np.ones_like(found, dtype=bool)
        keep[np.arange(n), drop] = False
        rows = found[keep].reshape(n, short)
    cos = np.empty((n, short), dtype=np.float32)
    block = max(1, _CHUNK // (8 * short))
    for start in range(0, n, block):  # each row against its short list: the row is read once, not per pair
        stop = min(n, start + block)
        listed = rows[start:stop]
        valid = listed >= 0
        exact = np.einsum("id,ikd->ik", vectors[start:stop], vectors[np.where(valid, listed, 0)])
        cos[start:stop] = np.where(valid, exact, -np.inf)
    order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(cos, order, axis=1)
