"""Visual words: the stored RootSIFT keypoints quantised on a vocabulary, and the inverted-file self-join over them.

What lets :func:`lookalike.find_duplicates` meet a 50% crop, a bordered or a slightly rotated copy
with its original among thousands of photos of the same kind of thing, where the global embedding
and the pHash cannot (Sivic and Zisserman, "Video Google: a text retrieval approach to object
matching in videos", ICCV 2003; RootSIFT words as in Arandjelovic and Zisserman 2012):

- a vocabulary of :data:`VOCABULARY_WORDS` centroids is fitted by k-means on a sample of the
  index's own stored descriptors (:func:`fit_vocabulary`, once per index, seeded: the same
  descriptors give the same vocabulary) and kept beside the vector snapshots;
- each file's keypoints are quantised to their nearest word (:func:`quantise`), stored as one
  ``uint16`` a keypoint in the catalogue (descriptor ``"words"``: 2 bytes a keypoint, about
  0.75 KB for a 300-pixel photo, 2 KB at the 1,000-keypoint cap), computed from the stored
  keypoints, never from the file;
- two files score the cosine of their tf-idf word histograms, with the square root of each
  count (burstiness: a repeated texture votes less; Jegou, Douze and Schmid, "On the burstiness
  of visual elements", CVPR 2009) and idf weights over the files given
  (:func:`word_histograms`); :func:`word_neighbours` gives each file's best others through the
  inverted file (a sparse product: only files that share a word are ever scored), the same
  numbers as scoring every pair (the unit test checks it against the dense product).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["VOCABULARY_WORDS", "fit_vocabulary", "quantise", "word_histograms", "word_neighbours", "word_scores"]

#: Words of the vocabulary an index fits (fewer when it holds fewer than
#: :data:`VOCABULARY_SAMPLE_PER_WORD` descriptors a word).
VOCABULARY_WORDS = 4096
#: Descriptors sampled per word to fit the vocabulary.
VOCABULARY_SAMPLE_PER_WORD = 30
#: Lloyd iterations of the k-means.
VOCABULARY_ITERATIONS = 10
#: Fewest words of a vocabulary (an index with very few keypoints).
MIN_WORDS = 16

_BLOCK = 4096


def _nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each point's nearest centroid (Euclidean), in blocks: ``argmin |c|^2 - 2 p.c``."""
    squared = (centroids.astype(np.float32) ** 2).sum(axis=1)
    out = np.empty(points.shape[0], dtype=np.int64)
    for start in range(0, points.shape[0], _BLOCK):
        block = points[start:start + _BLOCK].astype(np.float32)
        out[start:start + _BLOCK] = np.argmin(squared[None, :] - 2.0 * block @ centroids.T, axis=1)
    return out


def fit_vocabulary(descriptors: np.ndarray, words: int = VOCABULARY_WORDS, *, seed: int = 0,
                   iterations: int = VOCABULARY_ITERATIONS) -> np.ndarray:
    """K-means centroids of ``descriptors`` (m, d): ``(words', d)`` float32, ``words' <= words``.

    A sample of at most :data:`VOCABULARY_SAMPLE_PER_WORD` descriptors a word is clustered
    (Lloyd's algorithm from a random sample of distinct points; an emptied centroid is moved to
    a random point); with fewer descriptors, fewer words (at least :data:`MIN_WORDS`, or one a
    distinct descriptor).

    Examples
    --------
    >>> import numpy as np
    >>> points = np.concatenate([np.zeros((50, 2)), np.ones((50, 2))]).astype(np.float32)
    >>> sorted(fit_vocabulary(points, 2)[:, 0].round(3).tolist())
    [0.0, 1.0]
    """
    rng = np.random.default_rng(seed)
    points = np.ascontiguousarray(descriptors, dtype=np.float32)
    distinct = np.unique(points, axis=0) if points.shape[0] <= 4 * MIN_WORDS else points
    k = int(min(words, max(MIN_WORDS, points.shape[0] // VOCABULARY_SAMPLE_PER_WORD), distinct.shape[0]))
    if k <= 0:
        return np.zeros((0, points.shape[1]), np.float32)
    if points.shape[0] > VOCABULARY_SAMPLE_PER_WORD * k:
        points = points[np.sort(rng.choice(points.shape[0], VOCABULARY_SAMPLE_PER_WORD * k, replace=False))]
    centroids = distinct[np.sort(rng.choice(distinct.shape[0], k, replace=False))].copy()
    for _ in range(iterations):
        label = _nearest(points, centroids)
        counts = np.bincount(label, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, label, points)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            centroids[empty] = points[rng.choice(points.shape[0], int(empty.sum()), replace=False)]
    return centroids


def quantise(descriptors: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Each descriptor's nearest word: ``uint16`` of shape (m,) (the stored ``"words"`` BLOB's content)."""
    if vocabulary.shape[0] > 1 << 16:
        raise ValueError(f"a vocabulary holds at most 65,536 words, got {vocabulary.shape[0]}")
    return _nearest(np.asarray(descriptors, dtype=np.float32), vocabulary).astype(np.uint16)


def word_histograms(words: Sequence[np.ndarray], n_words: int) -> Any:
    """The files' word histograms as a CSR matrix (files x words): sqrt counts times idf, rows of unit length.

    ``idf = log(files / files holding the word)``; a file with no keypoints is a row of zeros.
    """
    from scipy import sparse

    n = len(words)
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.concatenate([np.asarray(w, dtype=np.int64) for w in words]) if n else np.zeros(0, np.int64)
    counts = sparse.csr_matrix((np.ones(cols.size, np.float32), (rows, cols)), shape=(n, n_words))
    counts.sum_duplicates()
    held = np.bincount(counts.indices, minlength=n_words)
    idf = np.log(max(n, 1) / np.maximum(held, 1)).astype(np.float32)
    counts.data = np.sqrt(counts.data) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
    return sparse.csr_matrix(sparse.diags(scale) @ counts)


def word_scores(histograms: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The word score (cosine of the histograms) of rows ``a`` and ``b`` (one per pair), in blocks."""
    out = np.empty(a.size, dtype=np.float64)
    for start in range(0, a.size, 1 << 14):
        part = slice(start, start + (1 << 14))
        out[part] = np.asarray(histograms[a[part]].multiply(histograms[b[part]]).sum(axis=1)).ravel()
    return out


def word_neighbours(histograms: Any, k: int, *, min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Each file's ``k`` best others by word score: ``(rows, scores)`` of shape (n, k), best first.

    Through the inverted file: the sparse product of blocks of rows with the transposed
    histograms scores only the files that share a word with the row. Scores at or below
    ``min_score`` (and missing neighbours) are -1 with score ``-inf``.
    """
    n = histograms.shape[0]
    k = max(0, min(int(k), n - 1))
    rows = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if k == 0:
        return rows, scores
    transposed = histograms.T.tocsr()
    block = max(1, min(n, (1 << 22) // max(n, 1)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        product = (histograms[start:stop] @ transposed).toarray()
        product[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top = (np.argpartition(-product, k - 1, axis=1) if k < n - 1 else np.argsort(-product, axis=1))[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(product, top, axis=1), axis=1), axis=1)
        top_s = np.take_along_axis(product, top, axis=1)
        keep = top_s > min_score
        rows[start:stop] = np.where(keep, top, -1)
        scores[start:stop] = np.where(keep, top_s, -np.inf)
    return rows, scores
