"""The Milvus store (Milvus Lite files, started inside the tests): against numpy brute force, inside an index
(same top-10 and duplicate groups as the embedded store), repaired from the catalogue after a crash."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.index import Index, MilvusStore, NumpyFlatStore, build_index, load_store, vectors_backend
from tests.index.conftest import PHOTOS, embedder, photo
from tests.integration.runner import run_cli

pytest.importorskip("pymilvus", reason="pymilvus is not installed: pip install 'lookalike[scale]'")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'lookalike[scale]'")
__all__ = ["embedder"]  # the fixture, shared with tests/index


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_flat_milvus_store_equals_numpy_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors, queries = _unit(rng, 3000, 64), _unit(rng, 20, 64)
    ids = rng.permutation(10_000)[:3000].astype(np.int64)
    store = MilvusStore(64, metric="ip", uri=str(tmp_path / "v.db"), collection="t")
    reference = NumpyFlatStore(64, metric="ip")
    for target in (store, reference):
        target.add(ids, vectors)
    assert store.exact and len(store) == 3000 and set(store.ids().tolist()) == set(ids.tolist())
    d, i = store.search(queries, 10)
    d_ref, i_ref = reference.search(queries, 10)
    assert np.array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, atol=1e-5)  # float32 inner products, summed in another order
    assert store.remove(np.concatenate([ids[:100], [10**9]])) == 100 and reference.remove(ids[:100]) == 100
    assert np.array_equal(store.search(queries, 10)[1], reference.search(queries, 10)[1])
    store.add(ids[100:110], vectors[100:110])  # written again: an upsert, so a replayed change is harmless
    assert len(store) == 2900
    d, i = store.search(queries[:2], 5000)  # more than held: padded FAISS-style
    assert (i[:, 2900:] == -1).all() and np.isneginf(d[:, 2900:]).all()
    store.save(tmp_path / "pointer.milvus")
    again = load_store("milvus", tmp_path / "pointer.milvus")
    assert len(again) == 2900 and np.array_equal(again.search(queries, 10)[1], reference.search(queries, 10)[1])
    with pytest.raises(ParameterError, match="holds another program's vectors"):  # made without an owner
        MilvusStore(64, uri=str(tmp_path / "v.db"), collection="t", owner="someone")
    store._client.drop_collection("t")
    with pytest.raises(IndexFormatError, match="gone"):
        load_store("milvus", tmp_path / "pointer.milvus")


def test_vectors_urls() -> None:
    backend, params = vectors_backend("milvus://127.0.0.1:19530/photos")
    assert (backend, params["uri"], params["collection"]) == ("milvus", "http://127.0.0.1:19530", "photos")
    again = vectors_backend("milvus://db")[1]
    assert (again["uri"], again["collection"]) == ("http://db:19530", "lookalike_embedding")
    assert again["owner"] != params["owner"]
    assert vectors_backend("milvus-lite:rel/v.db")[1]["uri"].endswith("/rel/v.db")
    for bad in ("milvus-lite:///no-suffix", "qdrant://x", "milvus:///nohost", "milvus://h/bad-name"):
        with pytest.raises(ParameterError):
            vectors_backend(bad)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 photos, a crop and a re-encoding of each (near duplicates), and one byte-identical copy."""
    folder = tmp_path_factory.mktemp("milvus-photos")
    for name in PHOTOS:
        pixels = photo(name, longest=224)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        Image.fromarray(np.ascontiguousarray(pixels[10:-10, 12:])).save(folder / f"{name}-crop.png")
        Image.fromarray(pixels).save(folder / f"{name}-q60.jpg", quality=60)
    shutil.copy(folder / f"{PHOTOS[0]}.png", folder / "copy.png")
    return folder


def _groups(index: Index) -> list[tuple[str, ...]]:
    from lookalike.pipelines import find_duplicates

    report = find_duplicates(index)
    return sorted(tuple(sorted(Path(m.path).name for m in g.files)) for g in report.groups)


def _assert_same_top(got: Any, want: Any, got_paths: Any, want_paths: Any) -> None:
    """The same top-k files at the same cosines, in the same order; where files tie at the k-th cosine
    (copy.png is astronaut.png byte for byte), they may come in either order, and either may take the last place."""
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)  # float32 sums in another order
    for d, g, w in zip(want[0], got[1], want[1], strict=True):
        sure = d > d[-1] + 1e-5  # above the last place: no tie can swap these
        assert set(got_paths(g[sure])) == set(want_paths(w[sure]))


def test_an_index_on_milvus_answers_as_the_embedded_one(embedder: Any, folder: Path, tmp_path: Path) -> None:
    local, _ = build_index(folder, tmp_path / "local", descriptors=["phash", "embedding"], jobs=1)
    backend, params = vectors_backend(f"milvus-lite://{tmp_path}/v.db")
    milvus, report = build_index(folder, tmp_path / "milvus", descriptors=["phash", "embedding"], backend=backend,
                                 backend_params=params, jobs=1)
    with local:
        with milvus:
            assert report.added == 3 * len(PHOTOS) + 1
            assert milvus.info().stores["embedding"]["backend"] == "milvus"
            _ids, vectors = local.vectors("embedding")
            queries = np.concatenate([vectors, embedder.embed([photo(n, longest=160)[::-1] for n in PHOTOS[:4]])])
            want = local.search_vectors(queries, 10)
            _assert_same_top(milvus.search_vectors(queries, 10), want, milvus.paths, local.paths)
            groups = _groups(milvus)
            assert groups == _groups(local) and len(groups) >= len(PHOTOS) // 2
        with Index.open(tmp_path / "milvus") as reopened:  # remembered by the index: only the folder is needed
            _assert_same_top(reopened.search_vectors(queries, 10), want, reopened.paths, local.paths)
    other = vectors_backend(f"milvus-lite://{tmp_path}/v.db")[1]  # the same collection, for another index
    with pytest.raises(ParameterError, match=r"holds another index's \(owner [0-9a-f]+\) vectors; lookalike never"):
        build_index(folder, tmp_path / "other", descriptors=["phash", "embedding"], backend=backend,
                    backend_params=other, jobs=1)


def test_update_repairs_a_collection_that_fell_behind(folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    images = tmp_path / "images"
    images.mkdir()
    for name in PHOTOS[:4]:
        shutil.copy(folder / f"{name}.png", images)
    backend, params = vectors_backend(f"milvus-lite://{tmp_path}/v.db")
    index, _ = build_index(images, tmp_path / "idx", descriptors=["embedding"], backend=backend,
                           backend_params=params, jobs=1)
    index.close()
    for name in PHOTOS[4:]:
        shutil.copy(folder / f"{name}.png", images)

    def crash(self: MilvusStore, ids: Any, vectors: Any) -> None:
        raise KeyboardInterrupt("killed between the catalogue commit and the store write")

    monkeypatch.setattr(MilvusStore, "add", crash)
    with Index.open(tmp_path / "idx") as index, pytest.raises(KeyboardInterrupt):
        index.update(images, jobs=1)
    monkeypatch.undo()
    with Index.open(tmp_path / "idx") as index:
        assert len(index) == len(PHOTOS)  # the catalogue has them all
        store = MilvusStore.load(next((tmp_path / "idx" / "vectors").glob("embedding-*.milvus")))
        assert len(store) == 4  # the collection fell behind
        report = index.update(images, jobs=1)
        assert (report.added, report.processed, report.unchanged) == (0, 0, len(PHOTOS))
        assert len(store) == len(PHOTOS)
        ids, vectors = index.vectors("embedding")
        _d, found = index.search_vectors(vectors, 1)
        assert np.array_equal(found[:, 0], ids)


def test_the_cli_builds_on_milvus_lite_and_searches_with_the_index_alone(folder: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    idx = str(tmp_path / "idx")
    code, out, err = run_cli("index", "build", str(folder), "--index", idx, "--vectors", "milvus-lite:v.db",
                             "--jobs", "1")
    assert code == 0, err
    assert (tmp_path / "v.db").exists()
    code, out, err = run_cli("index", "info", "--index", idx, "--json")
    assert code == 0 and '"backend": "milvus"' in out
    code, out, err = run_cli("search", str(folder / f"{PHOTOS[1]}-crop.png"), "--index", idx, "--top", "3",
                             "--json")
    assert code == 0, err
    assert f"{PHOTOS[1]}" in out.split('"path"')[1]
    code, _out, err = run_cli("index", "build", str(folder), "--index", str(tmp_path / "x"), "--vectors",
                              "milvus-lite:v.db", "--backend", "hnsw")
    assert code == 2 and "--vectors" in err
    code, out, err = run_cli("index", "build", str(folder), "--index", idx, "--vectors", "milvus-lite:v.db")
    assert code == 0 and "0 added" in out, err  # the same store: an update
    code, _out, err = run_cli("index", "build", str(folder), "--index", idx, "--vectors", "milvus-lite:other.db")
    assert code == 2 and "keeps its vectors in" in err and "index import --vectors" in err
