"""Vector stores: exact, HNSW and IVF search over float vectors, and Hamming search over packed hashes.

Every store speaks one small protocol, :class:`VectorStore`, with FAISS's
conventions: vectors carry caller-chosen int64 ids, and :meth:`~VectorStore.search`
returns ``(distances, ids)`` arrays of shape ``(n_queries, k)``, best first,
with id ``-1`` where fewer than ``k`` vectors exist. What a "distance" is depends
on the store's ``metric``:

``"ip"``
    inner product, **higher is more similar** (the cosine for unit vectors);
    missing results carry ``-inf``.
``"l2"``
    squared Euclidean distance, lower is more similar; missing results carry ``inf``.
``"hamming"``
    number of differing bits between packed ``uint8`` hashes (int32), lower is
    more similar; missing results carry ``2**31 - 1``.

The stores are a cache of the index's SQLite catalogue, which stays the source
of truth: a store can always be rebuilt from it. FAISS (Johnson, Douze and
Jegou, "Billion-scale similarity search with GPUs", IEEE TBD 2019) is imported
where it is used; without it the numpy stores (exact, brute force) still work.

HNSW: Malkov and Yashunin, "Efficient and robust approximate nearest neighbor
search using Hierarchical Navigable Small World graphs", IEEE TPAMI 2018.
IVF: Jegou, Douze and Schmid, "Product quantization for nearest neighbor
search", IEEE TPAMI 2011 (the inverted file; here its cells hold 8-bit scalar
codes, "IVF-SQ8"; 4-bit product-quantization codes scanned with SIMD lookup
tables and re-ranked on 8-bit codes, "IVF-PQ fast-scan"; or the float vectors,
"IVF-Flat").
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from lookalike.errors import IndexFormatError, MissingDependencyError, ParameterError

__all__ = [
    "BACKENDS",
    "EXACT_MAX",
    "HNSW_MAX",
    "INDEX_IVF_STORAGE",
    "BinaryFlatStore",
    "FlatStore",
    "HNSWStore",
    "IVFStore",
    "NumpyBinaryStore",
    "NumpyFlatStore",
    "VectorStore",
    "choose_backend",
    "faiss_available",
    "index_params",
    "load_store",
    "make_store",
]

#: Up to this many float vectors, ``backend="auto"`` searches exactly (brute force). An exact query
#: reads every vector (5 KB each at 1280 dimensions): 100,000 of them took 130 ms a query on the
#: project's shared 2-core machine under load (benchmarks/bench_index.py), so half that here.
EXACT_MAX = 50_000
#: From :data:`EXACT_MAX` to this many float vectors ``"auto"`` builds an HNSW graph (fast queries,
#: about 0.26 KB of graph per vector beyond the vectors themselves). Building one took 80-220 s per
#: 100,000 1280-d vectors on the shared 2-core machine, growing a little faster than n: roughly 4-10
#: minutes at 250,000 and 15-40 at 1,000,000 (not measured there). Above it, an IVF store of fast-scan
#: codes re-ranked on 8-bit codes (:class:`IVFStore`, ``storage="fastscan"``): at 1,000,000 realistic
#: 1280-d vectors (benchmarks/bench_million.py, 2-core machine, load about 1.3) it built in 9.5
#: minutes, held 1.6 GB (a third of the float vectors), and its median single query took 3.4 ms at
#: recall@10 0.951 (126 probes) and 3.6 ms at 0.954 (140), against 11.2 ms at 0.954 for 8-bit codes
#: alone and 418 ms for exact search.
HNSW_MAX = 250_000

#: The built-in backend names (and ``"auto"``); :func:`backend_names` lists every registered one.
BACKENDS: tuple[str, ...] = ("auto", "flat", "hnsw", "ivf", "binary", "numpy", "numpy-binary")

_INSTALL_HINT = "install the index extra: pip install 'lookalike[index]'"
_MISSING_HAMMING = np.iinfo(np.int32).max
_FLOAT_METRICS = ("ip", "l2")


@runtime_checkable
class VectorStore(Protocol):
    """What every vector store offers (FAISS conventions; see the module docstring).

    Attributes
    ----------
    backend : str
        The backend name (``"flat"``, ``"hnsw"``, ...), as :func:`make_store` takes it.
    dim : int
        Float dimensions, or bits for a Hamming store.
    metric : {"ip", "l2", "hamming"}
    exact : bool
        True when :meth:`search` returns the exact top-k.
    """

    backend: str
    dim: int
    metric: str
    exact: bool

    def add(self, ids: Any, vectors: Any) -> None:
        """Add ``vectors`` (n, d) under ``ids`` (n,) int64; an id already present is an error."""

    def remove(self, ids: Any) -> int:
        """Remove the vectors of ``ids`` (absent ids are ignored); returns how many were removed."""

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, ids)`` of the ``k`` nearest vectors of each query, shape (n_queries, k)."""

    def ids(self) -> np.ndarray:
        """The ids held, int64, in no particular order."""

    def __len__(self) -> int:
        """The number of vectors held."""


@runtime_checkable
class PersistentStore(VectorStore, Protocol):
    """A :class:`VectorStore` that can also be written to one file and read back (every built-in store).

    Persistence is optional: a store registered without a file suffix (a
    server that keeps its own data, such as Milvus) is rebuilt from the
    catalogue by an :class:`~lookalike.index.Index` instead of snapshotted.
    """

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the store to ``path`` atomically (a temporary file renamed into place)."""

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> VectorStore:
        """Read a store written by :meth:`save`."""


# -- helpers ---------------------------------------------------------------------------------------

def faiss_available() -> bool:
    """True when FAISS can be imported (the ``index`` extra)."""
    try:
        _faiss()
    except MissingDependencyError:
        return False
    return True


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError(f"this vector index needs FAISS ({exc}); {_INSTALL_HINT}") from None
    return faiss


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_metric(metric: str) -> str:
    if metric not in _FLOAT_METRICS:
        raise ParameterError(f"metric must be 'ip' (inner product) or 'l2' (squared Euclidean), got {metric!r}")
    return metric


def _as_ids(ids: Any, n: int | None = None) -> np.ndarray:
    array = np.asarray(ids)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ParameterError(f"ids must be a 1-D sequence of integers, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ParameterError(f"ids must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if n is not None and array.shape[0] != n:
        raise ParameterError(f"got {array.shape[0]} ids for {n} vectors; give one id per vector")
    if array.size and array.min() < 0:
        raise ParameterError("ids must be >= 0 (-1 marks a missing result)")
    if np.unique(array).size != array.size:
        raise ParameterError("ids must be unique; the same id was given twice")
    return np.ascontiguousarray(array)


def _as_float(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    array = np.asarray(vectors)
    if array.ndim == 1 and array.size == dim:
        array = array.reshape(1, dim)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ParameterError(f"{what} must have shape (n, {dim}), got {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ParameterError(f"{what} must be numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not all(np.isfinite(array[i : i + 65536]).all() for i in range(0, array.shape[0], 65536)):
        raise ParameterError(f"{what} contain NaN or infinite values")
    return array


def _as_codes(vectors: Any, bits: int, what: str = "hashes") -> np.ndarray:
    nbytes = bits // 8
    array = np.asarray(vectors)
    if array.ndim == 1 and array.size == nbytes:
        array = array.reshape(1, nbytes)
    if array.ndim != 2 or array.shape[1] != nbytes or array.dtype != np.uint8:
        raise ParameterError(
            f"{what} must be packed uint8 of shape (n, {nbytes}) ({bits} bits), got {array.dtype} {array.shape}; "
            "pack bits with numpy.packbits or use lookalike.features.image_hash"
        )
    return np.ascontiguousarray(array)


def _check_new(existing: np.ndarray, new: np.ndarray) -> None:
    if existing.size and new.size:
        clash = np.intersect1d(existing, new)
        if clash.size:
            raise ParameterError(
                f"ids already in the store: {clash[:5].tolist()}{' ...' if clash.size > 5 else ''}; remove them first"
            )


def _empty_result(n: int, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((n, k), -1, np.int64)
    if metric == "hamming":
        return np.full((n, k), _MISSING_HAMMING, np.int32), ids
    return np.full((n, k), -np.inf if metric == "ip" else np.inf, np.float32), ids


def _clean(distances: np.ndarray, ids: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """FAISS marks missing results with id -1 and +-FLT_MAX; make the distance an explicit infinity."""
    ids = np.asarray(ids, dtype=np.int64)
    missing = ids < 0
    if metric == "hamming":
        distances = np.asarray(distances, dtype=np.int32)
        if missing.any():
            distances = distances.copy()
            distances[missing] = _MISSING_HAMMING
        return distances, ids
    distances = np.asarray(distances, dtype=np.float32)
    if missing.any():
        distances = distances.copy()
        distances[missing] = -np.inf if metric == "ip" else np.inf
    return distances, ids


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int, *, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each row of ``scores`` (n_q, n), ties broken by smaller id."""
    n_q, n = scores.shape
    take = min(k, n)
    key = -scores if descending else scores
    if take < n:
        part = np.argpartition(key, take - 1, axis=1)[:, :take]
        # ties at the k-th value: argpartition chose arbitrarily; widen to every tied entry, then sort
        kth = np.take_along_axis(key, part, axis=1).max(axis=1, keepdims=True)
        rows = []
        for r in range(n_q):
            candidates = np.flatnonzero(key[r] <= kth[r])
            order = np.lexsort((ids[candidates], key[r, candidates]))[:take]
            rows.append(candidates[order])
        chosen = np.stack(rows) if rows else np.zeros((0, take), np.int64)
    else:
        chosen = np.stack([np.lexsort((ids, key[r])) for r in range(n_q)]) if n_q else np.zeros((0, n), np.int64)
    return np.take_along_axis(scores, chosen, axis=1), ids[chosen]


def _pad(distances: np.ndarray, found: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    n_q = distances.shape[0]
    if distances.shape[1] == k:
        return distances, found
    out_d, out_i = _empty_result(n_q, k, metric)
    out_d[:, : distances.shape[1]] = distances
    out_i[:, : found.shape[1]] = found
    return out_d, out_i


def _write_atomic(path: str, writer: Any) -> None:
    """Call ``writer(tmp_path)``, then rename the temporary file onto ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


#: Fewer queries than this are searched on one FAISS thread: a parallel region for one query costs a
#: thread hand-off that, on a busy machine, takes a scheduler tick (single HNSW queries took 0.3 ms on
#: one thread and 6-8 ms on two, benchmarks/bench_index.py). Results do not depend on the thread count.
_PARALLEL_MIN_QUERIES = 16


@contextmanager
def _threads_for(n_queries: int) -> Iterator[None]:
    faiss = _faiss()
    if n_queries >= _PARALLEL_MIN_QUERIES:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _read_faiss(path: str, binary: bool) -> Any:
    faiss = _faiss()
    try:
        return faiss.read_index_binary(path) if binary else faiss.read_index(path)
    except RuntimeError as exc:
        raise IndexFormatError(f"cannot read the vector index {path!r}: {str(exc).splitlines()[0]}") from None


# -- numpy (exact, no FAISS) -----------------------------------------------------------------------

class NumpyFlatStore:
    """Exact search by brute force in numpy: the reference every other store is tested against.

    Parameters
    ----------
    dim : int
        Vector dimensions.
    metric : {"ip", "l2"}, keyword-only
        Inner product (higher = more similar) or squared Euclidean distance.

    Examples
    --------
    >>> import numpy as np
    >>> store = NumpyFlatStore(2)
    >>> store.add([10, 11], np.array([[1, 0], [0, 1]], np.float32))
    >>> store.search(np.array([[0.9, 0.1]], np.float32), 3)
    (array([[ 0.9,  0.1, -inf]], dtype=float32), array([[10, 11, -1]]))
    """

    backend = "numpy"
    exact = True
    _CHUNK = 1 << 24  # query x base products computed at once

    def __init__(self, dim: int, *, metric: str = "ip") -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ParameterError(f"dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self.metric = _check_metric(metric)
        self._ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, dim), np.float32)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, n={len(self)})"

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def add(self, ids: Any, vectors: Any) -> None:
        vectors = _as_float(vectors, self.dim)
        ids = _as_ids(ids, vectors.shape[0])
        _check_new(self._ids, ids)
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, vectors])

    def remove(self, ids: Any) -> int:
        gone = np.isin(self._ids, _as_ids(ids))
        self._ids, self._vectors = self._ids[~gone], self._vectors[~gone]
        return int(gone.sum())

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        queries = _as_float(queries, self.dim, "queries")
        n_q, n = queries.shape[0], len(self)
        if n == 0 or n_q == 0:
            return _empty_result(n_q, k, self.metric)
        step = max(1, self._CHUNK // max(1, n))
        parts_d, parts_i = [], []
        for start in range(0, n_q, step):
            q = queries[start : start + step].astype(np.float64)
            scores = q @ self._vectors.T.astype(np.float64)
            if self.metric == "l2":
                scores = (q * q).sum(1)[:, None] - 2 * scores + (self._vectors.astype(np.float64) ** 2).sum(1)[None]
                scores = np.maximum(scores, 0.0)
            d, i = _top_k(scores, self._ids, k, descending=self.metric == "ip")
            parts_d.append(d.astype(np.float32))
            parts_i.append(i)
        return _pad(np.concatenate(parts_d), np.concatenate(parts_i), k, self.metric)

    def save(self, path: str | os.PathLike[str]) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, ids=self._ids, vectors=self._vectors, metric=np.array(self.metric))

        _write_atomic(os.fspath(path), write)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> NumpyFlatStore:
        data = _load_npz(os.fspath(path), ("ids", "vectors", "metric"))
        vectors = data["vectors"]
        store = cls(int(vectors.shape[1]), metric=str(data["metric"]))
        store._ids, store._vectors = data["ids"].astype(np.int64), vectors.astype(np.float32)
        return store


def _load_npz(path: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in keys}
    except (OSError, ValueError, KeyError) as exc:
        raise IndexFormatError(f"cannot read the vector index {path!r}: {exc}") from None


def _hamming(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(n_q, n) Hamming distances between packed codes (:func:`lookalike.features.hamming_distance`)."""
    from lookalike.features import hamming_distance

    return hamming_distance(queries[:, None, :], codes[None, :, :], dtype=np.int32)


class NumpyBinaryStore:
    """Exact Hamming search over packed hashes with numpy's popcount (no FAISS needed).

    Parameters
    ----------
    bits : int
        Hash length in bits (a multiple of 8): 64 for an 8 x 8 perceptual hash.

    Examples
    --------
    >>> import numpy as np
    >>> store = NumpyBinaryStore(8)
    >>> store.add([1, 2], np.array([[0b1111_0000], [0b0000_0000]], np.uint8))
    >>> store.search(np.array([[0b1110_0000]], np.uint8), 2)
    (array([[1, 3]], dtype=int32), array([[1, 2]]))
    """

    backend = "numpy-binary"
    exact = True
    metric = "hamming"
    _CHUNK = 1 << 24

    def __init__(self, bits: int) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 8 or bits % 8:
            raise ParameterError(f"bits must be a positive multiple of 8, got {bits!r}")
        self.dim = bits
        self._ids = np.zeros(0, np.int64)
        self._codes = np.zeros((0, bits // 8), np.uint8)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.dim}, n={len(self)})"

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def add(self, ids: Any, vectors: Any) -> None:
        codes = _as_codes(vectors, self.dim)
        ids = _as_ids(ids, codes.shape[0])
        _check_new(self._ids, ids)
        self._ids = np.concatenate([self._ids, ids])
        self._codes = np.concatenate([self._codes, codes])

    def remove(self, ids: Any) -> int:
        gone = np.isin(self._ids, _as_ids(ids))
        self._ids, self._codes = self._ids[~gone], self._codes[~gone]
        return int(gone.sum())

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        queries = _as_codes(queries, self.dim, "queries")
        n_q, n = queries.shape[0], len(self)
        if n == 0 or n_q == 0:
            return _empty_result(n_q, k, "hamming")
        step = max(1, self._CHUNK // max(1, n * queries.shape[1]))
        parts_d, parts_i = [], []
        for start in range(0, n_q, step):
            d, i = _top_k(_hamming(queries[start : start + step], self._codes), self._ids, k, descending=False)
            parts_d.append(d.astype(np.int32))
            parts_i.append(i)
        return _pad(np.concatenate(parts_d), np.concatenate(parts_i), k, "hamming")

    def save(self, path: str | os.PathLike[str]) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, ids=self._ids, codes=self._codes)

        _write_atomic(os.fspath(path), write)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> NumpyBinaryStore:
        data = _load_npz(os.fspath(path), ("ids", "codes"))
        store = cls(int(data["codes"].shape[1]) * 8)
        store._ids, store._codes = data["ids"].astype(np.int64), data["codes"].astype(np.uint8)
        return store


# -- FAISS -----------------------------------------------------------------------------------------

class _FaissStore:
    """Shared parts of the FAISS float stores: an index holding ids, searched with optional parameters."""

    backend: ClassVar[str] = ""
    exact: ClassVar[bool] = False
    dim: int
    metric: str
    _index: Any

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, n={len(self)})"

    def _faiss_metric(self) -> int:
        faiss = _faiss()
        return int(faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2)

    def ids(self) -> np.ndarray:
        return _faiss().vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: Any, vectors: Any) -> None:
        vectors = _as_float(vectors, self.dim)
        ids = _as_ids(ids, vectors.shape[0])
        if not ids.size:
            return
        _check_new(self.ids(), ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Any) -> int:
        ids = _as_ids(ids)
        if not ids.size or not len(self):
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))

    def _params(self) -> Any:
        return None

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        queries = _as_float(queries, self.dim, "queries")
        if len(self) == 0 or queries.shape[0] == 0:
            return _empty_result(queries.shape[0], k, self.metric)
        params = self._params()
        with _threads_for(queries.shape[0]):
            if params is None:
                distances, ids = self._index.search(queries, k)
            else:
                distances, ids = self._index.search(queries, k, params=params)
        return _clean(distances, ids, self.metric)

    def save(self, path: str | os.PathLike[str]) -> None:
        faiss = _faiss()
        _write_atomic(os.fspath(path), lambda tmp: faiss.write_index(self._index, tmp))


class FlatStore(_FaissStore):
    """Exact search with FAISS (``IndexFlatIP`` or ``IndexFlatL2`` in an ``IndexIDMap2``).

    Parameters
    ----------
    dim : int
        Vector dimensions.
    metric : {"ip", "l2"}, keyword-only
        Inner product (higher = more similar; the cosine for unit vectors) or squared L2.

    Examples
    --------
    >>> import numpy as np
    >>> store = FlatStore(2)  # doctest: +SKIP
    >>> store.add([7], np.array([[0.6, 0.8]], np.float32))  # doctest: +SKIP
    >>> store.search(np.array([[0.6, 0.8]], np.float32), 1)  # doctest: +SKIP
    (array([[1.]], dtype=float32), array([[7]]))
    """

    backend = "flat"
    exact = True

    def __init__(self, dim: int, *, metric: str = "ip", _index: Any = None) -> None:
        faiss = _faiss()
        self.dim, self.metric = int(dim), _check_metric(metric)
        if _index is None:
            flat = faiss.IndexFlatIP(self.dim) if metric == "ip" else faiss.IndexFlatL2(self.dim)
            _index = faiss.IndexIDMap2(flat)
        self._index = _index

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> FlatStore:
        index = _read_faiss(os.fspath(path), binary=False)
        metric = "ip" if index.metric_type == _faiss().METRIC_INNER_PRODUCT else "l2"
        return cls(int(index.d), metric=metric, _index=index)


class HNSWStore(_FaissStore):
    """Approximate search on a Hierarchical Navigable Small World graph (FAISS ``IndexHNSWFlat``).

    Queries cost roughly ``log(n)``; recall grows with ``ef_search`` (the
    candidate list kept while searching; 128 gives recall@10 >= 0.95 on the
    benchmark's clustered 1280-d vectors). HNSW cannot delete a node: removed
    ids are hidden from results with an id filter and the graph is rebuilt
    without them once they reach a quarter of it.

    Parameters
    ----------
    dim : int
        Vector dimensions.
    metric : {"ip", "l2"}, keyword-only
    m : int, keyword-only
        Graph degree (links per node; 2*m on the bottom layer). 32 by default.
    ef_construction : int, keyword-only
        Candidate list while building: higher builds a better graph, slower.
    ef_search : int, keyword-only
        Candidate list while searching (at least ``k``); tunable later through
        the ``ef_search`` attribute.

    Examples
    --------
    >>> import numpy as np
    >>> store = HNSWStore(8, ef_search=64)  # doctest: +SKIP
    >>> store.add(np.arange(100), np.random.default_rng(0).normal(size=(100, 8)))  # doctest: +SKIP
    >>> store.search(np.zeros((1, 8)), 5)[1].shape  # doctest: +SKIP
    (1, 5)
    """

    backend = "hnsw"
    exact = False
    _REBUILD_FRACTION = 0.25

    def __init__(
        self, dim: int, *, metric: str = "ip", m: int = 32, ef_construction: int = 80, ef_search: int = 128,
        _index: Any = None, _deleted: np.ndarray | None = None,
    ) -> None:
        faiss = _faiss()
        self.dim, self.metric = int(dim), _check_metric(metric)
        for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        if _index is None:
            hnsw = faiss.IndexHNSWFlat(self.dim, m, self._faiss_metric())
            hnsw.hnsw.efConstruction = ef_construction
            _index = faiss.IndexIDMap2(hnsw)
        self._index = _index
        self._deleted = np.zeros(0, np.int64) if _deleted is None else np.unique(_deleted.astype(np.int64))

    def __len__(self) -> int:
        return int(self._index.ntotal) - int(self._deleted.size)

    def ids(self) -> np.ndarray:
        held = super().ids()
        return held[~np.isin(held, self._deleted)] if self._deleted.size else held

    def add(self, ids: Any, vectors: Any) -> None:
        vectors = _as_float(vectors, self.dim)
        ids = _as_ids(ids, vectors.shape[0])
        if self._deleted.size and np.isin(ids, self._deleted).any():
            self._compact()  # a removed id comes back: drop the hidden copy first
        super().add(ids, vectors)

    def remove(self, ids: Any) -> int:
        ids = _as_ids(ids)
        present = np.intersect1d(self.ids(), ids)
        if present.size:
            self._deleted = np.union1d(self._deleted, present)
            if self._deleted.size > self._REBUILD_FRACTION * self._index.ntotal:
                self._compact()
        return int(present.size)

    def _compact(self) -> None:
        """Rebuild the graph without the removed vectors."""
        faiss = _faiss()
        held = super().ids()
        keep = ~np.isin(held, self._deleted)
        vectors = self._index.index.reconstruct_n(0, int(self._index.ntotal))[keep]
        fresh = faiss.IndexHNSWFlat(self.dim, self.m, self._faiss_metric())
        fresh.hnsw.efConstruction = self.ef_construction
        self._index = faiss.IndexIDMap2(fresh)
        self._deleted = np.zeros(0, np.int64)
        if keep.any():
            self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), held[keep])

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        queries = _as_float(queries, self.dim, "queries")
        if len(self) == 0 or queries.shape[0] == 0:
            return _empty_result(queries.shape[0], k, self.metric)
        faiss = _faiss()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(int(self.ef_search), k)
        selector = None
        if self._deleted.size:
            batch = faiss.IDSelectorBatch(self._deleted)
            selector = faiss.IDSelectorNot(batch)
            params.sel = selector
        with _threads_for(queries.shape[0]):
            distances, ids = self._index.search(queries, k, params=params)
        del selector
        return _clean(distances, ids, self.metric)

    def state(self) -> dict[str, Any]:
        """Parameters to keep next to the saved file (the graph file does not hold them all)."""
        return {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def save(self, path: str | os.PathLike[str]) -> None:
        if self._deleted.size:
            self._compact()  # the saved file holds no hidden vectors
        super().save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> HNSWStore:
        index = _read_faiss(os.fspath(path), binary=False)
        metric = "ip" if index.metric_type == _faiss().METRIC_INNER_PRODUCT else "l2"
        hnsw = _faiss().downcast_index(index.index)
        return cls(
            int(index.d), metric=metric, m=int(params.get("m", 32)),
            ef_construction=int(params.get("ef_construction", hnsw.hnsw.efConstruction)),
            ef_search=int(params.get("ef_search", 128)), _index=index,
        )


#: From this many cells on, an IVF store finds a query's nearest cells with an HNSW graph over the cell
#: centres rather than by comparing with all of them (at 4,000 cells of 1280 dimensions: 0.3-0.4 ms
#: instead of 1.8 ms a query on the shared 2-core machine under load).
IVF_HNSW_QUANTIZER_MIN = 1024


def ivf_nlist(n: int) -> int:
    """Cells of an IVF store first trained on ``n`` vectors: ``4 sqrt(n)``, at least 39 vectors per cell.

    At most 65,536 cells. 1,000,000 vectors get 4,000 cells of 250 vectors.

    Examples
    --------
    >>> ivf_nlist(1_000_000), ivf_nlist(100_000), ivf_nlist(1000)
    (4000, 1264, 25)
    """
    return max(1, min(int(4 * math.sqrt(n)), n // 39, 65536))


def ivf_nprobe(nlist: int) -> int:
    """Cells an IVF store with ``nlist`` cells scans per query by default: ``2.25 sqrt(nlist)``, at least 32.

    With :func:`ivf_nlist`'s ``4 sqrt(n)`` cells, recall at a fixed number of probes falls as ``n``
    grows. On 1,000,000 realistic 1280-d embeddings (benchmarks/bench_million.py, 4,000 cells)
    recall@10 was 0.905 at 48 probes, 0.924 at 64, 0.944 at 95, 0.954 at 126, 0.957 at 140 and
    0.960 at 160 with 8-bit codes, and 0.941, 0.951, 0.954 and 0.957 at 95, 126, 140 and 160 with
    fast-scan codes re-ranked (20 candidates a result): this rule gives 142 there, for recall@10
    >= 0.95 with a margin.

    Examples
    --------
    >>> ivf_nprobe(4000), ivf_nprobe(1264), ivf_nprobe(128), ivf_nprobe(20)
    (142, 80, 32, 20)
    """
    return max(1, min(nlist, max(32, round(2.25 * math.sqrt(nlist)))))


class IVFStore(_FaissStore):
    """Approximate search with an inverted file (FAISS ``IndexIVFScalarQuantizer``, ``IndexIVFPQFastScan``, ...).

    The vectors are split into ``nlist`` cells by k-means (spherical for
    ``metric="ip"``), trained on the first batch of vectors added (a random
    sample of at most 64 per cell, 10 iterations); a query scans the ``nprobe``
    cells whose centres are nearest. From :data:`IVF_HNSW_QUANTIZER_MIN` cells
    on, those centres are found with a small HNSW graph instead of comparing
    the query with every centre. Building and adding are much cheaper than
    HNSW for millions of vectors.

    Parameters
    ----------
    dim : int
    metric : {"ip", "l2"}, keyword-only
    nlist : int, optional, keyword-only
        Number of cells; default :func:`ivf_nlist` of the first batch's size.
    nprobe : int, optional, keyword-only
        Cells scanned per query (attribute, tunable later); default
        :func:`ivf_nprobe` of ``nlist``, set when the cells are trained.
    storage : {"sq8", "fastscan", "flat"}, keyword-only
        What the cells hold and how a query scores them:

        ``"sq8"`` (default; ``IndexIVFScalarQuantizer``)
            one byte per dimension (each dimension's range over the training
            sample in 255 steps), every vector of the scanned cells scored from
            it: a quarter of the memory of the floats, scores within about 1e-3
            of the exact ones.
        ``"fastscan"`` (``IndexIVFPQFastScan``, what ``backend="auto"`` builds
        above :data:`HNSW_MAX`)
            4-bit product-quantization codes of each vector's offset from its
            cell centre, one code per two dimensions, scored 32 vectors at a
            time from SIMD lookup tables. Those rough scores pick ``rerank * k``
            candidates, which are scored again from 8-bit codes kept beside the
            cells (as ``"sq8"``), and the best ``k`` are returned. About 1.6 KB a
            vector at 1280 dimensions (a third of the floats). On 1,000,000
            realistic 1280-d embeddings it reached the recall of ``"sq8"`` at
            the same probes in a quarter of the time (see :data:`HNSW_MAX`); on
            tight synthetic clusters in 16-256 dimensions, where neighbours are
            near ties, its short list lost 5-15 points of recall@10 against
            ``"sq8"`` (raise ``rerank`` there, or use ``"sq8"``).
        ``"flat"`` (``IndexIVFFlat``)
            the float32 vectors themselves (exact scores).
    rerank : int, keyword-only
        ``"fastscan"`` only: candidates re-scored per result wanted
        (attribute, tunable later). 20 by default.

    Notes
    -----
    Product quantization: Jegou, Douze and Schmid, "Product quantization for
    nearest neighbor search", IEEE TPAMI 2011; its fast scan with SIMD
    in-register lookup tables: Andre, Kermarrec and Le Scouarnec, "Cache
    locality is not enough: high-performance nearest neighbor search with
    product quantization fast scan", VLDB 2015; re-ranking a compressed-domain
    short list: Jegou, Tavenard, Douze and Amsaleg, "Searching in one billion
    vectors: re-rank with source coding", ICASSP 2011. Scalar quantization as in
    FAISS's ``IndexScalarQuantizer``; the HNSW coarse quantizer as in Baranchuk,
    Babenko and Malkov, "Revisiting the Inverted Indices for Billion-Scale
    Approximate Nearest Neighbors", ECCV 2018.

    Examples
    --------
    >>> import numpy as np
    >>> store = IVFStore(8, nprobe=8)  # doctest: +SKIP
    >>> store.add(np.arange(1000), np.random.default_rng(0).normal(size=(1000, 8)))  # doctest: +SKIP
    >>> len(store)  # doctest: +SKIP
    1000
    """

    backend = "ivf"
    exact = False
    #: Training sample: at most this many vectors per cell (FAISS asks for at least 39).
    _TRAIN_PER_CELL = 64
    #: k-means iterations.
    _TRAIN_ITERATIONS = 10
    _STORAGES = ("sq8", "fastscan", "flat")
    #: Default candidates re-scored per result of a ``"fastscan"`` store: on 1,000,000 realistic
    #: 1280-d embeddings (benchmarks/bench_million.py, 4,000 cells, 126 probes) recall@10 was
    #: 0.689 with 10 x 10 candidates, 0.952 with 20 x 10 and 0.954 with 50 x 10 (8-bit codes at
    #: the same probes: 0.954), for 2.3, 2.6 and 3.1 ms a query.
    RERANK = 20

    def __init__(
        self, dim: int, *, metric: str = "ip", nlist: int | None = None, nprobe: int | None = None,
        storage: str = "sq8", rerank: int = RERANK, _index: Any = None, _refine: Any = None,
    ) -> None:
        _faiss()
        self.dim, self.metric = int(dim), _check_metric(metric)
        for name, value in (("nlist", nlist), ("nprobe", nprobe)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ParameterError(f"{name} must be a positive integer or None, got {value!r}")
        if isinstance(rerank, bool) or not isinstance(rerank, int) or rerank < 1:
            raise ParameterError(f"rerank must be a positive integer, got {rerank!r}")
        if storage not in self._STORAGES:
            raise ParameterError(
                f"storage must be 'sq8' (8-bit scalar quantizer), 'fastscan' (4-bit fast-scan codes re-ranked on "
                f"8-bit ones) or 'flat' (float32), got {storage!r}"
            )
        self.nlist = nlist
        self.nprobe: int | None = nprobe
        self.storage = storage
        self.rerank = rerank
        self._index = _index  # built (and trained) on the first add
        self._refine = _refine  # "fastscan": the 8-bit codes that re-rank, by id (IndexIDMap2)
        if _index is not None and self.nprobe is None:
            self.nprobe = ivf_nprobe(int(_index.nlist))

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        if self._index is None or self._index.ntotal == 0:
            return np.zeros(0, np.int64)
        faiss = _faiss()
        if self._refine is not None:
            return faiss.vector_to_array(self._refine.id_map).astype(np.int64)
        invlists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(c), invlists.list_size(c)).copy()
            for c in range(self._index.nlist) if invlists.list_size(c)
        ]
        return np.concatenate(parts).astype(np.int64)

    def _train(self, vectors: np.ndarray) -> None:
        faiss = _faiss()
        n = vectors.shape[0]
        nlist = self.nlist or ivf_nlist(n)
        metric = self._faiss_metric()
        if nlist >= IVF_HNSW_QUANTIZER_MIN:
            quantizer = faiss.IndexHNSWFlat(self.dim, 32, metric)
            quantizer.hnsw.efConstruction = 80
        else:
            quantizer = faiss.IndexFlatIP(self.dim) if self.metric == "ip" else faiss.IndexFlatL2(self.dim)
        refine = None
        if self.storage == "fastscan":
            index = faiss.IndexIVFPQFastScan(quantizer, self.dim, nlist, _pq_codes(self.dim), 4, metric, 32)
            index.pq.cp.min_points_per_centroid = 1  # no stderr warning for a small first batch
            index.pq.cp.seed = 1234
            refine = faiss.IndexIDMap2(faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, metric))
        elif self.storage == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, metric,
                                                  False)
        else:
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, metric)
        # k-means assigns with an exact index; the centres then go into the quantizer (HNSW or flat)
        clustering = faiss.IndexFlatIP(self.dim) if self.metric == "ip" else faiss.IndexFlatL2(self.dim)
        index.clustering_index = clustering
        index.cp.max_points_per_centroid = self._TRAIN_PER_CELL
        index.cp.min_points_per_centroid = 1  # no stderr warning for a small first batch
        index.cp.niter = self._TRAIN_ITERATIONS
        index.cp.spherical = self.metric == "ip"  # unit centres: no cell wins a query by its centre's norm
        index.cp.seed = 1234
        sample = vectors
        limit = nlist * self._TRAIN_PER_CELL
        if self.storage == "fastscan":
            limit = max(limit, _PQ_TRAIN)  # each 16-code book wants a few thousand residuals
        if n > limit:
            sample = vectors[np.sort(np.random.default_rng(1234).choice(n, limit, replace=False))]
        if self.storage == "fastscan" and sample.shape[0] < _PQ_CENTROIDS:
            sample = np.resize(sample, (_PQ_CENTROIDS, self.dim))  # k-means needs as many points as codes
        sample = np.ascontiguousarray(sample, np.float32)
        index.train(sample)
        index.clustering_index = None
        if refine is not None:
            refine.train(sample)
        self._quantizer = quantizer  # the index points at it: keep it alive as long as the index
        self._index, self._refine = index, refine
        self.nlist = nlist
        if self.nprobe is None:
            self.nprobe = ivf_nprobe(nlist)

    def add(self, ids: Any, vectors: Any) -> None:
        vectors = _as_float(vectors, self.dim)
        ids = _as_ids(ids, vectors.shape[0])
        if not ids.size:
            return
        if self._index is None:
            self._train(vectors)
        else:
            _check_new(self.ids(), ids)
        self._index.add_with_ids(vectors, ids)
        if self._refine is not None:
            self._refine.add_with_ids(vectors, ids)

    def remove(self, ids: Any) -> int:
        if self._index is None:
            return 0
        removed = super().remove(ids)
        if self._refine is not None and removed:
            self._refine.remove_ids(_faiss().IDSelectorBatch(_as_ids(ids)))
        return removed

    def _params(self) -> Any:
        faiss = _faiss()
        params = faiss.SearchParametersIVF()
        nprobe = ivf_nprobe(int(self._index.nlist)) if self.nprobe is None else int(self.nprobe)
        params.nprobe = min(nprobe, int(self._index.nlist))
        if isinstance(faiss.downcast_index(self._index.quantizer), faiss.IndexHNSW):
            quantizer = faiss.SearchParametersHNSW()
            quantizer.efSearch = max(params.nprobe, 64)
            params.quantizer_params = quantizer
            params._keep = quantizer  # the C++ struct holds a bare pointer: keep the object alive with it
        return params

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._refine is None:
            return super().search(queries, k)
        k = _check_k(k)
        queries = _as_float(queries, self.dim, "queries")
        n_q = queries.shape[0]
        if len(self) == 0 or n_q == 0:
            return _empty_result(n_q, k, self.metric)
        wide = min(k * int(self.rerank), len(self))
        with _threads_for(n_q):
            _approximate, candidates = self._index.search(queries, wide, params=self._params())
        distances, found = _empty_result(n_q, k, self.metric)
        for row in range(n_q):
            listed = candidates[row][candidates[row] >= 0]
            if listed.size:
                distances[row, : min(k, listed.size)], found[row, : min(k, listed.size)] = self._rerank(
                    queries[row], listed, k)
        return distances, found

    def _rerank(self, query: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of ``candidates`` (ids) by their scores from the 8-bit codes, ties by smaller id."""
        vectors = self._refine.reconstruct_batch(np.ascontiguousarray(candidates))
        if self.metric == "ip":
            scores = vectors @ query
            order = np.lexsort((candidates, -scores))[:k]
        else:
            offsets = vectors - query
            scores = np.einsum("cd,cd->c", offsets, offsets)
            order = np.lexsort((candidates, scores))[:k]
        return scores[order], candidates[order]

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"nlist": self.nlist, "nprobe": self.nprobe, "storage": self.storage}
        if self.storage == "fastscan":
            state["rerank"] = self.rerank
        return state

    def save(self, path: str | os.PathLike[str]) -> None:
        if self._index is None:
            raise ParameterError("an empty IVF store has no trained cells to save; add vectors first")
        if self._refine is None:
            super().save(path)
            return
        faiss = _faiss()

        def write(tmp: str) -> None:  # one file: the cells, then the re-ranking codes, each a FAISS index
            writer = faiss.FileIOWriter(tmp)
            faiss.write_index(self._index, writer)
            faiss.write_index(self._refine, writer)
            del writer  # closes the file

        _write_atomic(os.fspath(path), write)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> IVFStore:
        faiss = _faiss()
        path = os.fspath(path)
        refine = None
        try:  # FAISS's own file reader: 7x faster than through Python for a 1.3 GB store
            reader = faiss.FileIOReader(path)
            index = faiss.read_index(reader)  # read_index returns the concrete class
            if isinstance(index, faiss.IndexIVFPQFastScan):
                refine = faiss.read_index(reader)  # the re-ranking codes follow the cells
            del reader  # closes the file
        except (RuntimeError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IndexFormatError(f"cannot read the vector index {path!r}: {first}") from None
        if not hasattr(index, "nlist"):
            raise IndexFormatError(f"{path!r} does not hold an IVF index")
        if refine is not None and (not isinstance(refine, faiss.IndexIDMap2) or refine.ntotal != index.ntotal):
            raise IndexFormatError(f"{path!r}: the re-ranking codes do not match the cells; rebuild the index")
        metric = "ip" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
        if isinstance(index, faiss.IndexIVFPQFastScan):
            storage = "fastscan"
        elif isinstance(index, faiss.IndexIVFScalarQuantizer):
            storage = "sq8"
        else:
            storage = "flat"
        nprobe = params.get("nprobe")
        return cls(int(index.d), metric=metric, nlist=int(index.nlist),
                   nprobe=None if nprobe is None else int(nprobe), storage=storage,
                   rerank=int(params.get("rerank", cls.RERANK)), _index=index, _refine=refine)


#: A ``"fastscan"`` IVF store's product quantizer: 16 centroids (4 bits) per code ...
_PQ_CENTROIDS = 16
#: ... and at least this many training vectors when the first batch has them.
_PQ_TRAIN = 65_536


def _pq_codes(dim: int) -> int:
    """4-bit codes per vector of a ``"fastscan"`` store: one per two dimensions (one per dimension if odd)."""
    return dim // 2 if dim % 2 == 0 else dim


class BinaryFlatStore:
    """Exact Hamming search over packed hashes with FAISS (``IndexBinaryFlat`` in an ``IndexBinaryIDMap2``).

    A 64-bit hash is 8 bytes: a million of them is 8 MB, and a query scans them
    all in about a millisecond, so no approximate structure is needed.

    Parameters
    ----------
    bits : int
        Hash length in bits (a multiple of 8).

    Examples
    --------
    >>> import numpy as np
    >>> store = BinaryFlatStore(8)  # doctest: +SKIP
    >>> store.add([1, 2], np.array([[0b1111_0000], [0]], np.uint8))  # doctest: +SKIP
    >>> store.search(np.array([[0b1110_0000]], np.uint8), 2)  # doctest: +SKIP
    (array([[1, 3]], dtype=int32), array([[1, 2]]))
    """

    backend = "binary"
    exact = True
    metric = "hamming"

    def __init__(self, bits: int, *, _index: Any = None) -> None:
        faiss = _faiss()
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 8 or bits % 8:
            raise ParameterError(f"bits must be a positive multiple of 8, got {bits!r}")
        self.dim = bits
        self._index = _index if _index is not None else faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.dim}, n={len(self)})"

    def ids(self) -> np.ndarray:
        return _faiss().vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: Any, vectors: Any) -> None:
        codes = _as_codes(vectors, self.dim)
        ids = _as_ids(ids, codes.shape[0])
        if not ids.size:
            return
        _check_new(self.ids(), ids)
        self._index.add_with_ids(codes, ids)

    def remove(self, ids: Any) -> int:
        ids = _as_ids(ids)
        if not ids.size or not len(self):
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _check_k(k)
        queries = _as_codes(queries, self.dim, "queries")
        if len(self) == 0 or queries.shape[0] == 0:
            return _empty_result(queries.shape[0], k, "hamming")
        with _threads_for(queries.shape[0]):
            distances, ids = self._index.search(queries, k)
        return _clean(distances, ids, "hamming")

    def save(self, path: str | os.PathLike[str]) -> None:
        faiss = _faiss()
        _write_atomic(os.fspath(path), lambda tmp: faiss.write_index_binary(self._index, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> BinaryFlatStore:
        index = _read_faiss(os.fspath(path), binary=True)
        return cls(int(index.d), _index=index)


# -- the registry of backends ----------------------------------------------------------------------

@dataclass(frozen=True)
class Backend:
    """A vector-store backend, as :func:`register_backend` records it.

    Attributes
    ----------
    name : str
    cls : type
        Made as ``cls(dim, metric=metric, **params)`` (float backends) or ``cls(dim, **params)``
        (Hamming backends); its instances follow :class:`VectorStore`.
    binary : bool
        Searches packed hashes by Hamming distance (``metric="hamming"``) instead of float vectors.
    suffix : str or None
        File suffix of a saved store; ``None``: not persistent (no ``save``/``load``).
    """

    name: str
    cls: type
    binary: bool = False
    suffix: str | None = None

    @property
    def persistent(self) -> bool:
        return self.suffix is not None


_REGISTRY: dict[str, Backend] = {}


def register_backend(name: str, cls: type, *, binary: bool = False, suffix: str | None = None,
                     replace: bool = False) -> Backend:
    """Make a vector-store class available by name to :func:`make_store` and :class:`~lookalike.index.Index`.

    Parameters
    ----------
    name : str
        The backend name (``Index.create(..., backend=name)``, :func:`make_store`).
    cls : type
        The store class: ``cls(dim, metric=..., **params)`` for float vectors (``cls(dim, **params)``
        with ``binary``) gives an empty :class:`VectorStore` whose ``backend`` is ``name``.
    binary : bool, keyword-only
        A Hamming store of packed hashes.
    suffix : str, optional, keyword-only
        Persistence, an optional capability: the file suffix of ``store.save(path)``, read back by
        ``cls.load(path, **params)``. Without it, an index rebuilds the store from its catalogue.
    replace : bool, keyword-only
        Allow replacing a backend already registered under ``name``.

    Raises
    ------
    ParameterError
        ``name`` is taken (without ``replace``) or is ``"auto"``, or ``suffix`` is given for a class
        without ``save`` and ``load``.

    Examples
    --------
    >>> class Mine(NumpyFlatStore):
    ...     backend = "mine"
    >>> register_backend("mine", Mine, suffix=".npz").persistent
    True
    >>> make_store("mine", 4).backend
    'mine'
    >>> unregister_backend("mine")
    """
    if not isinstance(name, str) or not name or name == "auto":
        raise ParameterError(f"a backend name is a non-empty string other than 'auto', got {name!r}")
    if name in _REGISTRY and not replace:
        raise ParameterError(f"vector backend {name!r} is already registered; pass replace=True to replace it")
    if suffix is not None and not (callable(getattr(cls, "save", None)) and callable(getattr(cls, "load", None))):
        raise ParameterError(f"{cls.__name__} has no save() and load(): register it without a suffix")
    backend = Backend(name, cls, bool(binary), suffix)
    _REGISTRY[name] = backend
    return backend


def unregister_backend(name: str) -> None:
    """Forget a backend registered with :func:`register_backend` (a built-in one cannot be removed)."""
    if name in _BUILT_IN:
        raise ParameterError(f"{name!r} is a built-in vector backend")
    _REGISTRY.pop(name, None)


def backend_info(name: str) -> Backend:
    """The registered backend ``name``.

    Raises
    ------
    ParameterError
        No backend of that name is registered.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown vector backend {name!r}; choose one of {', '.join(_REGISTRY)}") from None


def backend_names() -> tuple[str, ...]:
    """Every registered backend name (the built-in ones first), ``"auto"`` not included."""
    return tuple(_REGISTRY)


for _name, _cls, _binary, _suffix in (
    ("flat", FlatStore, False, ".faiss"), ("hnsw", HNSWStore, False, ".faiss"), ("ivf", IVFStore, False, ".faiss"),
    ("binary", BinaryFlatStore, True, ".faissb"), ("numpy", NumpyFlatStore, False, ".npz"),
    ("numpy-binary", NumpyBinaryStore, True, ".npz"),
):
    register_backend(_name, _cls, binary=_binary, suffix=_suffix)
_BUILT_IN = frozenset(_REGISTRY)


def choose_backend(n: int, *, metric: str, exact_max: int = EXACT_MAX, hnsw_max: int = HNSW_MAX) -> str:
    """The backend ``"auto"`` picks for ``n`` vectors of ``metric``.

    Hashes (``metric="hamming"``) are always searched exactly (``"binary"``).
    Float vectors: ``"flat"`` (exact) up to ``exact_max``, ``"hnsw"`` up to
    ``hnsw_max``, ``"ivf"`` beyond. Without FAISS, the numpy stores (exact).

    Examples
    --------
    >>> choose_backend(5_000, metric="ip") in ("flat", "numpy")
    True
    """
    if not faiss_available():
        return "numpy-binary" if metric == "hamming" else "numpy"
    if metric == "hamming":
        return "binary"
    if n <= exact_max:
        return "flat"
    return "hnsw" if n <= hnsw_max else "ivf"


#: The storage of the IVF stores an :class:`~lookalike.index.Index` builds (``backend="auto"`` above
#: :data:`HNSW_MAX`, or ``"ivf"``): fast-scan codes re-ranked on 8-bit ones (:class:`IVFStore`), 4x faster
#: than 8-bit codes alone at the same recall on 1,000,000 realistic embeddings (benchmarks/bench_million.py).
INDEX_IVF_STORAGE = "fastscan"


def index_params(backend: str) -> dict[str, Any]:
    """Parameters an :class:`~lookalike.index.Index` gives a new store of ``backend`` beyond the class defaults.

    Examples
    --------
    >>> index_params("ivf"), index_params("hnsw")
    ({'storage': 'fastscan'}, {})
    """
    return {"storage": INDEX_IVF_STORAGE} if backend == "ivf" else {}


def make_store(backend: str, dim: int, *, metric: str = "ip", **params: Any) -> VectorStore:
    """A new, empty store.

    Parameters
    ----------
    backend : {"flat", "hnsw", "ivf", "binary", "numpy", "numpy-binary"}
        ``"auto"`` is resolved by the caller with :func:`choose_backend`.
    dim : int
        Float dimensions, or bits for the binary backends.
    metric : {"ip", "l2", "hamming"}, keyword-only
        Must be ``"hamming"`` for the binary backends and only for them.
    **params
        Backend parameters (``m``, ``ef_construction``, ``ef_search`` for HNSW;
        ``nlist``, ``nprobe``, ``storage`` for IVF).

    Examples
    --------
    >>> make_store("numpy", 4)
    NumpyFlatStore(dim=4, metric='ip', n=0)
    """
    info = backend_info(backend)
    binary = info.binary
    if binary != (metric == "hamming"):
        raise ParameterError(
            f"backend {backend!r} cannot search with metric {metric!r}: binary backends take packed hashes "
            "(metric 'hamming'), the others float vectors ('ip' or 'l2')"
        )
    cls = info.cls
    store: VectorStore = cls(dim, **params) if binary else cls(dim, metric=metric, **params)
    return store


def store_suffix(backend: str) -> str | None:
    """File suffix of a saved store of ``backend`` (``None``: the backend is not persistent)."""
    return backend_info(backend).suffix


def store_state(store: VectorStore) -> dict[str, Any]:
    """The parameters to record beside a saved store (search-time settings)."""
    state = getattr(store, "state", None)
    return dict(state()) if callable(state) else {}


def load_store(backend: str, path: str | os.PathLike[str], **params: Any) -> VectorStore:
    """Read a store saved by ``store.save(path)``; ``params`` as returned by :func:`store_state`.

    Raises
    ------
    IndexFormatError
        The file is missing or damaged.
    """
    info = _REGISTRY.get(backend)
    if info is None or not info.persistent:
        raise IndexFormatError(f"unknown vector backend {backend!r} in {os.fspath(path)!r}")
    if not os.path.exists(path):
        raise IndexFormatError(f"vector index file {os.fspath(path)!r} is missing")
    store: VectorStore = info.cls.load(path, **params)  # type: ignore[attr-defined]
    return store


def describe(store: VectorStore) -> str:
    """One line about a store, for ``index info``."""
    return json.dumps({"backend": store.backend, "n": len(store), **store_state(store)})
