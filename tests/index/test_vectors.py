"""Every vector store against exact numpy brute force: same top-k (approximate ones within their recall),
after save/load, add and remove; the binary stores against a popcount written here independently."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.index import (
    EXACT_MAX,
    HNSW_MAX,
    INDEX_IVF_STORAGE,
    BinaryFlatStore,
    FlatStore,
    HNSWStore,
    IVFStore,
    NumpyBinaryStore,
    NumpyFlatStore,
    VectorStore,
    _vectors,
    choose_backend,
    load_store,
    make_store,
)
from lookalike.index._vectors import ivf_nlist, ivf_nprobe

faiss = pytest.importorskip("faiss")


def clustered(n: int, dim: int, *, seed: int, clusters: int = 50, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around random centres: neighbourhoods with structure, like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def brute_force(base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Exact top-k ids, written independently of the stores (float64)."""
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "ip":
        order = np.argsort(-(q @ b.T), axis=1, kind="stable")
    else:
        order = np.argsort(((q[:, None, :] - b[None]) ** 2).sum(-1), axis=1, kind="stable")
    return ids[order[:, :k]]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


EXACT_FLOAT = [
    pytest.param(lambda d, m: NumpyFlatStore(d, metric=m), id="numpy"),
    pytest.param(lambda d, m: FlatStore(d, metric=m), id="faiss-flat"),
]


@pytest.mark.parametrize("make", EXACT_FLOAT)
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_stores_return_the_brute_force_top_k(tmp_path: Path, make, metric: str) -> None:
    base = clustered(1500, 48, seed=1)
    ids = np.random.default_rng(2).permutation(100_000)[:1500].astype(np.int64)  # sparse, unordered ids
    queries = clustered(40, 48, seed=3)
    store: VectorStore = make(48, metric)
    store.add(ids[:1000], base[:1000])
    store.add(ids[1000:], base[1000:])  # added in two batches
    assert len(store) == 1500 and store.exact
    distances, found = store.search(queries, 10)
    assert distances.shape == found.shape == (40, 10)
    np.testing.assert_array_equal(found, brute_force(base, ids, queries, 10, metric))
    # the distances are the metric's values for the ids returned (float32 tolerance)
    by_id = dict(zip(ids.tolist(), base, strict=True))
    expected = np.array([[(q @ by_id[i]) if metric == "ip" else ((q - by_id[i]) ** 2).sum() for i in row]
                         for q, row in zip(queries, found, strict=True)])
    np.testing.assert_allclose(distances, expected, rtol=1e-4, atol=1e-4)
    # save / load keeps everything
    store.save(tmp_path / "s")
    loaded = load_store(store.backend, tmp_path / "s")
    assert len(loaded) == 1500 and loaded.metric == metric
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
    # remove a third (including some of the current results), then add new vectors
    gone = ids[::3]
    assert loaded.remove(gone) == gone.size
    assert loaded.remove(gone) == 0  # absent ids are ignored
    kept = np.setdiff1d(np.arange(1500), np.arange(0, 1500, 3))
    extra = clustered(200, 48, seed=4)
    extra_ids = np.arange(200_000, 200_200)
    loaded.add(extra_ids, extra)
    all_base = np.concatenate([base[kept], extra])
    all_ids = np.concatenate([ids[kept], extra_ids])
    assert sorted(loaded.ids().tolist()) == sorted(all_ids.tolist())
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], brute_force(all_base, all_ids, queries, 10, metric))


def test_hnsw_recall_against_brute_force_after_save_load_add_and_remove(tmp_path: Path) -> None:
    base = clustered(2000, 64, seed=5)
    ids = np.arange(2000, dtype=np.int64) * 7 + 3
    queries = clustered(200, 64, seed=6)
    store = HNSWStore(64)  # the default parameters (m=32, ef_construction=80, ef_search=128)
    store.add(ids, base)
    truth = brute_force(base, ids, queries, 10, "ip")
    first = recall(store.search(queries, 10)[1], truth)
    assert first >= 0.95, f"HNSW recall@10 {first:.3f} < 0.95"
    store.save(tmp_path / "h.faiss")
    loaded = load_store("hnsw", tmp_path / "h.faiss", **store.state())
    assert isinstance(loaded, HNSWStore) and (loaded.m, loaded.ef_search) == (32, 128)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], store.search(queries, 10)[1])
    # remove 10% (hidden by a filter), and they never come back in results
    model = dict(zip(ids.tolist(), base, strict=True))  # what the store should hold
    gone = ids[::10]
    assert loaded.remove(gone) == gone.size
    for i in gone.tolist():
        del model[i]
    assert len(loaded) == len(model)
    _, found = loaded.search(queries, 10)
    assert not np.isin(found, gone).any()
    assert recall(found, _truth(model, queries)) >= 0.95
    # a removed id may come back with a new vector
    loaded.add(gone[:5], queries[:5])
    model.update(zip(gone[:5].tolist(), queries[:5], strict=True))
    d, found = loaded.search(queries[:5], 1)
    np.testing.assert_array_equal(found[:, 0], gone[:5])
    np.testing.assert_allclose(d[:, 0], 1.0, atol=1e-5)
    # removing past a quarter compacts the graph; results stay right
    loaded.remove(ids[1::3])
    for i in ids[1::3].tolist():
        model.pop(i, None)
    assert sorted(loaded.ids().tolist()) == sorted(model)
    assert recall(loaded.search(queries, 10)[1], _truth(model, queries)) >= 0.95


def _truth(model: dict[int, np.ndarray], queries: np.ndarray) -> np.ndarray:
    ids = np.array(list(model), np.int64)
    return brute_force(np.stack(list(model.values())), ids, queries, 10, "ip")


def test_hnsw_ef_search_trades_recall_for_speed() -> None:
    base = clustered(2000, 64, seed=7, spread=0.6)
    queries = clustered(200, 64, seed=8, spread=0.6)
    ids = np.arange(2000, dtype=np.int64)
    truth = brute_force(base, ids, queries, 10, "ip")
    store = HNSWStore(64, m=8, ef_construction=40, ef_search=10)
    store.add(ids, base)
    low = recall(store.search(queries, 10)[1], truth)
    store.ef_search = 200
    high = recall(store.search(queries, 10)[1], truth)
    assert high >= 0.95 and high >= low


@pytest.mark.parametrize("storage", ["fastscan", "sq8", "flat"])
def test_ivf_recall_against_brute_force_after_save_load_add_and_remove(tmp_path: Path, storage: str) -> None:
    base = clustered(6000, 32, seed=9)
    ids = np.arange(6000, dtype=np.int64) + 10
    queries = clustered(200, 32, seed=10)
    store = IVFStore(32, storage=storage)  # defaults: nlist from the first batch (128 cells), nprobe from nlist
    assert store.nprobe is None  # not trained yet
    store.add(ids[:5000], base[:5000])  # trained on the first batch
    store.add(ids[5000:], base[5000:])
    assert store.nlist == ivf_nlist(5000) == min(int(4 * np.sqrt(5000)), 5000 // 39)
    assert store.nprobe == ivf_nprobe(store.nlist)
    truth = brute_force(base, ids, queries, 10, "ip")
    assert recall(store.search(queries, 10)[1], truth) >= 0.95
    store.save(tmp_path / "i.faiss")
    loaded = load_store("ivf", tmp_path / "i.faiss", **store.state())
    assert (loaded.nlist, loaded.nprobe, loaded.storage) == (store.nlist, store.nprobe, storage)
    assert load_store("ivf", tmp_path / "i.faiss").nprobe == ivf_nprobe(store.nlist)  # no state: the rule
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], store.search(queries, 10)[1])
    gone = ids[::4]
    assert loaded.remove(gone) == gone.size
    keep = ~np.isin(ids, gone)
    found = loaded.search(queries, 10)[1]
    assert not np.isin(found, gone).any()
    assert recall(found, brute_force(base[keep], ids[keep], queries, 10, "ip")) >= 0.95
    assert sorted(loaded.ids().tolist()) == sorted(ids[keep].tolist())
    # nprobe = nlist scans every cell: exact with float32 storage; 8-bit codes move scores by about
    # 1e-3 (here, in 32 dimensions, where near ties are common, a few neighbours swap places)
    loaded.nprobe = loaded.nlist
    if storage == "fastscan":
        # every vector a candidate: the result is the exact top-k of the 8-bit codes' scores, ties by id
        loaded.rerank = len(loaded)
        decoded = loaded._refine.reconstruct_batch(ids[keep])
        distances, found = loaded.search(queries, 10)
        scores = queries.astype(np.float64) @ decoded.astype(np.float64).T
        column = {int(i): c for c, i in enumerate(ids[keep])}
        for q in range(queries.shape[0]):
            np.testing.assert_allclose(distances[q], scores[q, [column[int(i)] for i in found[q]]], atol=1e-5)
            assert (np.diff(distances[q]) <= 0).all()
            better = set(ids[keep][scores[q] > distances[q, -1] + 1e-5].tolist())
            assert better <= set(found[q].tolist())
    distances, found = loaded.search(queries, 10)
    exact = brute_force(base[keep], ids[keep], queries, 10, "ip")
    assert found.shape == (200, 10)
    if storage == "flat":
        np.testing.assert_array_equal(found, exact)
    else:
        assert recall(found, exact) >= 0.97
        position = {int(i): row for row, i in enumerate(ids)}
        true_scores = np.einsum("qd,qkd->qk", queries, base[[[position[int(i)] for i in r] for r in found]])
        np.testing.assert_allclose(distances, true_scores, atol=0.02)


def test_ivf_hnsw_quantizer_from_many_cells(tmp_path: Path) -> None:
    base = clustered(60_000, 16, seed=12, clusters=300)
    queries = clustered(100, 16, seed=13, clusters=300)
    ids = np.arange(60_000, dtype=np.int64)
    store = IVFStore(16, nlist=_vectors.IVF_HNSW_QUANTIZER_MIN)
    store.add(ids, base)
    assert isinstance(faiss.downcast_index(store._index.quantizer), faiss.IndexHNSW)
    truth = brute_force(base, ids, queries, 10, "ip")
    assert recall(store.search(queries, 10)[1], truth) >= 0.95
    loaded = _reloaded(store, tmp_path)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], store.search(queries, 10)[1])


def test_ivf_default_nprobe_rule() -> None:
    probes = [ivf_nprobe(ivf_nlist(n)) for n in (1000, 10_000, 100_000, 1_000_000, 10_000_000)]
    assert probes == sorted(probes)  # more cells, more of them scanned
    assert all(1 <= ivf_nprobe(nlist) <= nlist for nlist in (1, 2, 25, 128, 4000, 65536))
    with pytest.raises(ParameterError, match="storage must be"):
        IVFStore(8, storage="pq")


def popcount_distances(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Hamming distances via unpackbits (independent of the stores' popcount)."""
    return np.unpackbits(queries[:, None, :] ^ codes[None], axis=2).sum(axis=2)


@pytest.mark.parametrize("cls", [NumpyBinaryStore, BinaryFlatStore], ids=["numpy", "faiss"])
def test_binary_stores_match_popcount_ties_included(tmp_path: Path, cls) -> None:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (3000, 8), dtype=np.uint8)
    ids = rng.permutation(10**6)[:3000].astype(np.int64)
    # queries near some codes (a few flipped bits) and random ones
    queries = codes[:30].copy()
    queries[:, 0] ^= 0b101
    queries = np.concatenate([queries, rng.integers(0, 256, (30, 8), dtype=np.uint8)])
    store = cls(64)
    store.add(ids, codes)
    for s in (store, _reloaded(store, tmp_path)):
        distances, found = s.search(queries, 15)
        assert distances.dtype == np.int32
        truth = popcount_distances(queries, codes)
        expected = np.sort(truth, axis=1)[:, :15]
        np.testing.assert_array_equal(distances, expected)  # the same k best distances
        by_id = dict(zip(ids.tolist(), range(3000), strict=True))
        for q in range(queries.shape[0]):
            # each id returned is at the distance reported; every code strictly closer than the k-th is returned
            assert all(truth[q, by_id[i]] == d for i, d in zip(found[q], distances[q], strict=True))
            closer = set(ids[truth[q] < distances[q, -1]].tolist())
            assert closer <= set(found[q].tolist())
        assert (distances[:30, 0] == 2).all()  # the near copies at 2 bits
    # remove and add
    assert store.remove(ids[:30]) == 30
    distances, found = store.search(queries[:30], 1)
    assert not np.isin(found, ids[:30]).any() and (distances > 2).all()


def _reloaded(store: VectorStore, folder: Path) -> VectorStore:
    path = folder / f"b-{store.backend}"
    store.save(path)
    return load_store(store.backend, path)


@pytest.mark.parametrize("backend", ["numpy", "flat", "hnsw", "ivf", "binary", "numpy-binary"])
def test_fewer_vectors_than_k_pad_with_minus_one(backend: str) -> None:
    binary = "binary" in backend
    store = make_store(backend, 64 if binary else 4, metric="hamming" if binary else "ip")
    _, empty_i = store.search(np.zeros((2, 8), np.uint8) if binary else np.zeros((2, 4), np.float32), 3)
    assert (empty_i == -1).all() and empty_i.shape == (2, 3)
    if binary:
        store.add([5, 6], np.array([[1] * 8, [3] * 8], np.uint8))
        d, i = store.search(np.array([[1] * 8], np.uint8), 4)
        assert i.tolist() == [[5, 6, -1, -1]]
        assert d[0, :2].tolist() == [0, 8] and (d[0, 2:] == np.iinfo(np.int32).max).all()
    else:
        store.add([5, 6], np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32))
        d, i = store.search(np.array([[1, 0, 0, 0]], np.float32), 4)
        assert i.tolist() == [[5, 6, -1, -1]]
        # an IVF store's 8-bit codes (the default) move scores by up to half a step of each dimension's range
        np.testing.assert_allclose(d[0, :2], [1, 0], atol=5e-3 if getattr(store, "storage", None) == "sq8" else 1e-6)
        assert np.isneginf(d[0, 2:]).all()


@pytest.mark.parametrize("backend", ["numpy", "flat", "hnsw", "ivf", "binary", "numpy-binary"])
def test_bad_input_is_refused_with_a_clear_error(backend: str) -> None:
    binary = "binary" in backend
    dim = 64 if binary else 4
    store = make_store(backend, dim, metric="hamming" if binary else "ip")
    good = np.zeros((2, 8), np.uint8) if binary else np.eye(2, 4, dtype=np.float32)
    store.add([1, 2], good)
    with pytest.raises(ParameterError, match="already in the store"):
        store.add([2, 3], good)
    with pytest.raises(ParameterError, match="unique"):
        store.add([7, 7], good)
    with pytest.raises(ParameterError, match="one id per vector"):
        store.add([8], good)
    with pytest.raises(ParameterError, match="shape"):
        store.add([9], np.zeros((1, 5), np.uint8 if binary else np.float32))
    with pytest.raises(ParameterError, match="k must be"):
        store.search(good, 0)
    if not binary:
        with pytest.raises(ParameterError, match="NaN"):
            store.search(np.full((1, 4), np.nan, np.float32), 1)
    else:
        with pytest.raises(ParameterError, match="packed uint8"):
            store.search(np.zeros((1, 64), np.float32), 1)
    assert len(store) == 2


def test_make_store_refuses_a_metric_the_backend_cannot_search() -> None:
    with pytest.raises(ParameterError, match="hamming"):
        make_store("flat", 64, metric="hamming")
    with pytest.raises(ParameterError, match="unknown vector backend"):
        make_store("annoy", 64)
    with pytest.raises(ParameterError, match="metric must be"):
        make_store("numpy", 8, metric="cosine")


def test_auto_backend_thresholds() -> None:
    assert choose_backend(10, metric="hamming") == "binary"
    assert choose_backend(10 * HNSW_MAX, metric="hamming") == "binary"
    assert choose_backend(EXACT_MAX, metric="ip") == "flat"
    assert choose_backend(EXACT_MAX + 1, metric="ip") == "hnsw"
    assert choose_backend(HNSW_MAX, metric="ip") == "hnsw"
    assert choose_backend(HNSW_MAX + 1, metric="ip") == "ivf"
    assert choose_backend(50, metric="ip", exact_max=10, hnsw_max=40) == "ivf"


def test_a_damaged_or_missing_store_file_is_an_index_format_error(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match="missing"):
        load_store("flat", tmp_path / "none.faiss")
    (tmp_path / "bad.faiss").write_bytes(b"garbage" * 10)
    with pytest.raises(IndexFormatError, match="cannot read"):
        load_store("flat", tmp_path / "bad.faiss")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match="cannot read"):
        load_store("numpy", tmp_path / "bad.npz")


def test_saving_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = NumpyFlatStore(4)
    store.add([1], np.ones((1, 4), np.float32))
    store.save(tmp_path / "a.npz")
    store.add([2], np.ones((1, 4), np.float32))
    store.save(tmp_path / "a.npz")  # replaced in one rename
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    assert len(load_store("numpy", tmp_path / "a.npz")) == 2


def test_an_index_changes_backend_as_it_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Any) -> None:
    """flat -> hnsw -> ivf as files are added (thresholds lowered to 2 and 4 vectors), each photo finding itself;
    the index's IVF store holds fast-scan codes re-ranked on 8-bit ones, and reads back."""
    import json
    import shutil

    from lookalike.index import Index
    from lookalike.index import _index as index_module
    from tests.index.conftest import make_photos

    monkeypatch.setattr(index_module, "choose_backend",
                        lambda n, *, metric: choose_backend(n, metric=metric, exact_max=2, hnsw_max=4))
    all_photos = make_photos(tmp_path / "all")
    folder = tmp_path / "photos"
    folder.mkdir()
    with Index.create(tmp_path / "idx", descriptors=["embedding"]) as index:
        for count, backend in ((2, "flat"), (4, "hnsw"), (8, "ivf")):
            for path in all_photos[:count]:
                if not (folder / path.name).exists():
                    shutil.copy(path, folder / path.name)
            index.update(folder, jobs=1)
            ids, vectors = index.vectors("embedding")
            assert ids.size == count
            distances, found = index.search_vectors(vectors, 1)
            np.testing.assert_array_equal(found[:, 0], ids)
            np.testing.assert_allclose(distances[:, 0], 1.0, atol=1e-2)  # 8-bit codes in the IVF store
            assert index.info().stores["embedding"]["backend"] == backend
    snapshot = json.loads((tmp_path / "idx" / "vectors" / "embedding.json").read_text())
    assert snapshot["params"]["storage"] == INDEX_IVF_STORAGE == "fastscan"
    with Index.open(tmp_path / "idx") as index:  # the saved store (cells and re-ranking codes) reads back
        np.testing.assert_array_equal(index.search_vectors(vectors, 1)[1][:, 0], ids)


def test_a_truncated_fast_scan_store_is_an_index_format_error(tmp_path: Path) -> None:
    store = IVFStore(16, storage="fastscan")
    store.add(np.arange(500), clustered(500, 16, seed=14))
    path = tmp_path / "fs.faiss"
    store.save(path)
    assert load_store("ivf", path).storage == "fastscan"
    whole = path.read_bytes()
    for cut in (len(whole) // 3, len(whole) - 10):  # in the cells; in the re-ranking codes after them
        path.write_bytes(whole[:cut])
        with pytest.raises(IndexFormatError, match="cannot read the vector index"):
            load_store("ivf", path)


# -- the registry: a store from outside plugs in by name -------------------------------------------

class _RemoteStore:
    """A store with no save/load (as a server-backed one would be): exact numpy search underneath."""

    backend = "test-remote"
    exact = True
    made: ClassVar[list[_RemoteStore]] = []

    def __init__(self, dim: int, *, metric: str = "ip") -> None:
        from lookalike.index import NumpyFlatStore

        self._inner = NumpyFlatStore(dim, metric=metric)
        self.dim, self.metric = dim, metric
        _RemoteStore.made.append(self)

    def add(self, ids: Any, vectors: Any) -> None:
        self._inner.add(ids, vectors)

    def remove(self, ids: Any) -> int:
        return self._inner.remove(ids)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._inner.search(queries, k)

    def ids(self) -> np.ndarray:
        return self._inner.ids()

    def __len__(self) -> int:
        return len(self._inner)


def test_a_registered_backend_serves_an_index_and_is_rebuilt_when_not_persistent(
    tmp_path: Path, photos: Path, embedder: Any
) -> None:
    from lookalike.index import (
        Index,
        PersistentStore,
        VectorStore,
        backend_info,
        backend_names,
        register_backend,
        unregister_backend,
    )
    folder = photos
    register_backend("test-remote", _RemoteStore)
    try:
        assert "test-remote" in backend_names() and not backend_info("test-remote").persistent
        with pytest.raises(ParameterError, match="already registered"):
            register_backend("test-remote", _RemoteStore)
        with pytest.raises(ParameterError, match="no save"):
            register_backend("test-remote-2", _RemoteStore, suffix=".bin")
        with Index.create(tmp_path / "idx", descriptors=["phash", "embedding"], backend="test-remote") as index:
            index.update(folder, jobs=1)
            store = index._store("embedding")
            assert isinstance(store, _RemoteStore) and isinstance(store, VectorStore)
            assert not isinstance(store, PersistentStore)
            ids, vectors = index.vectors("embedding")
            distances, found = index.search_vectors(vectors, 2, descriptor="embedding")
            scores = vectors @ vectors.T  # exact reference: numpy brute force over the catalogue
            want = ids[np.argsort(-scores, axis=1, kind="stable")[:, :2]]
            np.testing.assert_allclose(distances, np.sort(scores, axis=1)[:, ::-1][:, :2], rtol=1e-5)
            assert np.array_equal(found[:, 0], want[:, 0])
        assert not list((tmp_path / "idx" / "vectors").glob("embedding*"))  # nothing snapshotted for it
        before = len(_RemoteStore.made)
        with Index.open(tmp_path / "idx") as index:
            again, _ = index.search_vectors(vectors, 2, descriptor="embedding")
        assert len(_RemoteStore.made) == before + 1  # rebuilt from the catalogue on open
        np.testing.assert_array_equal(again, distances)
    finally:
        unregister_backend("test-remote")
    assert "test-remote" not in backend_names()
    with pytest.raises(ParameterError, match="built-in"):
        unregister_backend("numpy")
