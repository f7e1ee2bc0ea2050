"""Visual words: the stored RootSIFT keypoints quantised on a vocabulary, and the inverted-file self-join over them.

What lets :func:`lookalike.find_duplicates` meet a 50% crop, a bordered or a slightly rotated copy
with its original among thousands of photos of the same kind of thing, where the global embedding
and the pHash cannot (Sivic and Zisserman, "Video Google: a text retrieval approach to object
matching in videos", ICCV 2003; RootSIFT words as in Arandjelovic and Zisserman 2012):

- a vocabulary tree (Nister and Stewenius, "Scalable recognition with a vocabulary tree", CVPR
  2006) of :data:`VOCABULARY_BRANCHING` x :data:`VOCABULARY_BRANCHING` (65,536) words is fitted
  by hierarchical k-means on a sample of the index's own stored descriptors
  (:func:`fit_vocabulary_tree`, once per index, seeded: the same descriptors give the same
  vocabulary) and kept beside the vector snapshots; a word costs 512 distances to quantise, not
  65,536, and so many words keep the inverted file's posting lists short at 100,000 files
  (an index fitted before holds a flat vocabulary, :func:`fit_vocabulary`, until its next update);
- each file's keypoints are quantised to their nearest word (:func:`quantise`: the nearest
  first-level centroid, then the nearest word under it), stored as one
  ``uint16`` a keypoint in the catalogue (descriptor ``"words"``: 2 bytes a keypoint, about
  0.75 KB for a 300-pixel photo, 2 KB at the 1,000-keypoint cap), computed from the stored
  keypoints, never from the file;
- two files score the cosine of their tf-idf word histograms, with the square root of each
  count (burstiness: a repeated texture votes less; Jegou, Douze and Schmid, "On the burstiness
  of visual elements", CVPR 2009) and idf weights over the files given
  (:func:`word_histograms`); :func:`word_neighbours` gives each file's best others through the
  inverted file (a sparse product: only files that share a word are ever scored), the same
  numbers as scoring every pair (the unit test checks it against the dense product);
- :func:`word_candidates` is the self-join that scales: each file queries the inverted file with
  only its :data:`QUERY_WORDS` heaviest words (the rarest, by idf; :func:`word_queries`), the
  words held by more than :data:`STOP_FILES` files are stop words (their posting lists are never
  read), and a file that holds at least :data:`MIN_HITS` query words is scored by the query's
  weights over them (:func:`query_scores`); its cost is the files times the posting lists of
  their rarest words, a fraction (query words x the share of files a word holds) of the pairs
  (the unit test checks it against the same rule applied to every pair).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["VOCABULARY_WORDS", "Vocabulary", "WordQueries", "fit_vocabulary", "fit_vocabulary_tree", "quantise",
           "query_scores", "word_candidates", "word_histograms", "word_neighbours", "word_queries", "word_scores"]

#: Branches of each node of the vocabulary tree (two levels) ...
VOCABULARY_BRANCHING = 256
#: ... so at most this many words (fewer when the index holds fewer than
#: :data:`VOCABULARY_SAMPLE_PER_WORD` descriptors a word); they fit the stored ``uint16``.
VOCABULARY_WORDS = VOCABULARY_BRANCHING ** 2
#: Descriptors sampled per word to fit the vocabulary.
VOCABULARY_SAMPLE_PER_WORD = 30
#: Lloyd iterations of the k-means.
VOCABULARY_ITERATIONS = 10
#: Fewest words of a vocabulary (an index with very few keypoints).
MIN_WORDS = 16

#: Each file queries the inverted file with this many of its heaviest words (:func:`word_candidates`) ...
QUERY_WORDS = 16
#: ... words held by more than this many files are stop words, never read ...
STOP_FILES = 1000
#: ... and another file is scored only when it holds this many of a file's query words.
MIN_HITS = 2

_BLOCK = 4096
_PRODUCT_BLOCK = 1 << 22


@dataclass(frozen=True)
class Vocabulary:
    """Visual words: ``centroids`` (words, d) float32; for a tree, ``top`` (nodes, d) and ``offsets``
    (nodes + 1,): the words under node ``t`` are ``centroids[offsets[t]:offsets[t + 1]]``.
    A flat vocabulary (``top`` None) quantises to the nearest of all its words."""

    centroids: np.ndarray
    top: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def is_tree(self) -> bool:
        return self.top is not None


def _nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each point's nearest centroid (Euclidean), in blocks: ``argmin |c|^2 - 2 p.c``."""
    squared = (centroids.astype(np.float32) ** 2).sum(axis=1)
    out = np.empty(points.shape[0], dtype=np.int64)
    for start in range(0, points.shape[0], _BLOCK):
        block = points[start:start + _BLOCK].astype(np.float32)
        out[start:start + _BLOCK] = np.argmin(squared[None, :] - 2.0 * block @ centroids.T, axis=1)
    return out


def fit_vocabulary(descriptors: np.ndarray, words: int = VOCABULARY_WORDS, *, seed: int = 0,
                   iterations: int = VOCABULARY_ITERATIONS, min_words: int = MIN_WORDS) -> np.ndarray:
    """K-means centroids of ``descriptors`` (m, d): ``(words', d)`` float32, ``words' <= words``.

    A sample of at most :data:`VOCABULARY_SAMPLE_PER_WORD` descriptors a word is clustered
    (Lloyd's algorithm from a random sample of distinct points; an emptied centroid is moved to
    a random point); with fewer descriptors, fewer words (at least ``min_words``, or one a
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
    distinct = np.unique(points, axis=0) if points.shape[0] <= 4 * max(1, min_words) else points
    k = int(min(words, max(min_words, points.shape[0] // VOCABULARY_SAMPLE_PER_WORD), distinct.shape[0]))
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


def fit_vocabulary_tree(descriptors: np.ndarray, branching: int = VOCABULARY_BRANCHING, *,
                        seed: int = 0) -> Vocabulary:
    """A two-level vocabulary tree: :func:`fit_vocabulary` of ``branching`` nodes, then of up to ``branching``
    words on the descriptors nearest each node, one a :data:`VOCABULARY_SAMPLE_PER_WORD` descriptors
    (Nister and Stewenius 2006). A node with fewer gets one word, its own centroid.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.random.default_rng(0).standard_normal((4000, 8)).astype(np.float32)
    >>> tree = fit_vocabulary_tree(points, 4)
    >>> tree.top.shape, len(tree) <= 16, int(tree.offsets[-1]) == len(tree)
    ((4, 8), True, True)
    """
    points = np.ascontiguousarray(descriptors, dtype=np.float32)
    top = fit_vocabulary(points, branching, seed=seed)
    label = _nearest(points, top) if top.shape[0] else np.zeros(0, np.int64)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(top.shape[0] + 1))
    leaves = []
    for t in range(top.shape[0]):
        mine = points[order[bounds[t]:bounds[t + 1]]]
        words = fit_vocabulary(mine, branching, seed=seed + 1 + t, min_words=1) if mine.shape[0] else top[t:t + 1]
        leaves.append(words if words.shape[0] else top[t:t + 1])
    offsets = np.concatenate(([0], np.cumsum([w.shape[0] for w in leaves]))).astype(np.int64)
    centroids = np.concatenate(leaves) if leaves else np.zeros((0, points.shape[1]), np.float32)
    return Vocabulary(centroids.astype(np.float32), top.astype(np.float32), offsets)


def quantise(descriptors: np.ndarray, vocabulary: Vocabulary | np.ndarray) -> np.ndarray:
    """Each descriptor's word: ``uint16`` of shape (m,) (the stored ``"words"`` BLOB's content).

    The nearest word of a flat vocabulary (a plain array of centroids is one); for a tree, the
    nearest word under the nearest first-level node."""
    if not isinstance(vocabulary, Vocabulary):
        vocabulary = Vocabulary(np.asarray(vocabulary, dtype=np.float32))
    if len(vocabulary) > 1 << 16:
        raise ValueError(f"a vocabulary holds at most 65,536 words, got {len(vocabulary)}")
    points = np.asarray(descriptors, dtype=np.float32)
    if vocabulary.top is None or vocabulary.offsets is None:
        return _nearest(points, vocabulary.centroids).astype(np.uint16)
    node = _nearest(points, vocabulary.top)
    out = np.empty(points.shape[0], dtype=np.uint16)
    order = np.argsort(node, kind="stable")
    bounds = np.searchsorted(node[order], np.arange(vocabulary.top.shape[0] + 1))
    for t in np.flatnonzero(np.diff(bounds)):
        rows = order[bounds[t]:bounds[t + 1]]
        first, last = int(vocabulary.offsets[t]), int(vocabulary.offsets[t + 1])
        out[rows] = first + _nearest(points[rows], vocabulary.centroids[first:last])
    return out


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


def _top_per_row(indptr: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Positions (into ``values``, each row's entries in order) of each CSR row's ``k`` largest entries
    (ties: the earlier entry), by row, then value descending. ``values`` lie in [0, 1]."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = np.argsort(rows * 2.0 + (1.0 - np.asarray(values, np.float64)), kind="stable")
    rank = np.arange(order.size) - indptr[rows[order]]
    return order[rank < k]


@dataclass(frozen=True)
class WordQueries:
    """Each file's query into the inverted file (:func:`word_queries`): ``query`` (files x words, CSR) holds
    a file's heaviest histogram entries among the words that are not stop words; ``histograms`` the
    full rows (CSR, sorted indices); ``stop`` marks the stop words."""

    query: Any
    histograms: Any
    stop: np.ndarray
    min_hits: int = 2


def word_queries(histograms: Any, *, query_words: int = QUERY_WORDS, stop_files: int = STOP_FILES,
                 min_hits: int = MIN_HITS) -> WordQueries:
    """The query of each file: its ``query_words`` heaviest entries (ties: the smaller word) among the words
    held by at most ``stop_files`` files (the others are stop words); another file meets it when it holds
    ``min_hits`` of its words."""
    from scipy import sparse

    full = sparse.csr_matrix(histograms, dtype=np.float32, copy=True)
    full.sum_duplicates()
    full.sort_indices()
    n, n_words = full.shape
    held = np.bincount(full.indices, minlength=n_words)
    stop = held > stop_files
    kept = ~stop[full.indices]
    rows = np.repeat(np.arange(n), np.diff(full.indptr))[kept]
    columns, values = full.indices[kept], full.data[kept]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n)))).astype(np.int64)
    chosen = np.sort(_top_per_row(indptr, values, query_words))
    query = sparse.csr_matrix((values[chosen], (rows[chosen], columns[chosen])), shape=(n, n_words))
    query.sort_indices()
    return WordQueries(query, full, stop, int(min_hits))


def query_scores(queries: WordQueries, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The word evidence of pairs ``(a, b)``: the larger of the two query scores, ``a``'s query against
    ``b``'s words and ``b``'s against ``a``'s; the score :func:`word_candidates` ranks by.

    A query score is the sum of the query's weights over its words the other file holds, 0 where
    it holds fewer than :data:`MIN_HITS` of them."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    q, full = queries.query, queries.histograms
    out = np.zeros(a.size, dtype=np.float64)
    if not a.size or not q.nnz:
        return out
    width = full.shape[1]
    held = np.repeat(np.arange(full.shape[0], dtype=np.int64), np.diff(full.indptr)) * width + full.indices
    for one, other in ((a, b), (b, a)):
        for start in range(0, a.size, 1 << 16):
            x, y = one[start:start + (1 << 16)], other[start:start + (1 << 16)]
            length = q.indptr[x + 1] - q.indptr[x]
            pair = np.repeat(np.arange(x.size), length)
            entry = np.arange(pair.size) - np.repeat(np.cumsum(length) - length, length) + q.indptr[x][pair]
            wanted = y[pair] * width + q.indices[entry]
            at = np.minimum(np.searchsorted(held, wanted), held.size - 1)
            hit = held[at] == wanted
            hits = np.bincount(pair, weights=hit, minlength=x.size)
            part = np.bincount(pair, weights=np.where(hit, q.data[entry], 0.0), minlength=x.size)
            part[hits < queries.min_hits] = 0.0
            out[start:start + x.size] = np.maximum(out[start:start + x.size], part)
    return out


def word_candidates(queries: WordQueries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each file's ``k`` best others by its query score, without scoring every pair: ``(rows, scores)``, (n, k).

    A file's query (:func:`word_queries`) meets, through the inverted file of the words that are
    not stop words, only the files that hold one of its words; those holding at least
    :data:`MIN_HITS` of them are scored (:func:`query_scores`: the query's weights over the words
    they hold) and the ``k`` best kept, best first (ties: the smaller row); missing neighbours are
    -1 with score ``-inf``. The cost is the sum over files of the posting lists of their query
    words (each at most ``stop_files`` long), in blocks of rows.
    """
    from scipy import sparse

    query, full = queries.query, queries.histograms
    n, n_words = full.shape
    k = max(0, min(int(k), n - 1))
    rows = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if k == 0 or not query.nnz:
        return rows, scores
    kept = ~queries.stop[full.indices]
    entry_row = np.repeat(np.arange(n, dtype=np.int32), np.diff(full.indptr))
    target = sparse.csr_matrix((np.ones(int(kept.sum()), np.float32), (full.indices[kept], entry_row[kept])),
                               shape=(n_words, n))
    del entry_row, kept
    # one product gives both: a hit adds 1 + its weight / scale (the weights of a query sum below scale)
    scale = float(max(1, int(np.diff(query.indptr).max())) + 1)
    counted = sparse.csr_matrix((1.0 + query.data.astype(np.float64) / scale, query.indices, query.indptr),
                                shape=query.shape)
    held = np.diff(target.indptr)
    read = np.concatenate([[0], np.cumsum(held[query.indices], dtype=np.int64)])
    per_row = read[query.indptr[1:]] - read[query.indptr[:-1]]  # posting entries each row reads (0: no query)
    bounds = [0]
    total = 0
    for row, cost in enumerate(per_row.tolist()):  # blocks of about _PRODUCT_BLOCK posting entries read
        if row > bounds[-1] and (total + cost > _PRODUCT_BLOCK or row - bounds[-1] >= _BLOCK):
            bounds.append(row)
            total = 0
        total += cost
    bounds.append(n)
    for start, stop_row in itertools.pairwise(bounds):
        partial = (counted[start:stop_row] @ target).tocsr()
        block_row = np.repeat(np.arange(start, stop_row), np.diff(partial.indptr))
        hits = np.floor(partial.data + 1e-9)
        good = (hits >= queries.min_hits) & (partial.indices != block_row)  # never itself
        a, b = block_row[good], partial.indices[good].astype(np.int64)
        v = (partial.data[good] - hits[good]) * scale
        order = np.lexsort((b, -v, a))
        a, b, v = a[order], b[order], v[order]
        first = np.searchsorted(a, np.arange(start, stop_row))
        rank = np.arange(a.size) - first[a - start]
        keep = rank < k
        rows[a[keep], rank[keep]] = b[keep]
        scores[a[keep], rank[keep]] = v[keep]
    return rows, scores
