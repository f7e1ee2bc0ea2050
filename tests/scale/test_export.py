"""Export then import: the new index holds the same rows and descriptors and answers searches the same,
on the embedded store and on Milvus Lite; a damaged export is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IndexFormatError, ParameterError
from lookalike.index import Index, build_index, export_index, import_index
from tests.index.conftest import PHOTOS, photo
from tests.integration.runner import run_cli


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("export")
    folder = root / "images"
    folder.mkdir()
    for name in PHOTOS[:5]:
        pixels = photo(name, longest=200)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        Image.fromarray(np.ascontiguousarray(pixels[8:, 8:])).save(folder / f"{name}-crop.jpg", quality=85)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    index, report = build_index(folder, root / "idx", jobs=1)  # phash, embedding, rootsift
    index.close()
    assert report.added == 10 and len(report.errors) == 1
    return root


def _same_index(a: Index, b: Index) -> None:
    rows = {r.path: (r.size, r.mtime_ns, r.content_hash, r.width, r.height, r.status, r.error) for r in a.records()}
    assert rows == {r.path: (r.size, r.mtime_ns, r.content_hash, r.width, r.height, r.status, r.error)
                    for r in b.records()}
    for name in ("phash", "embedding"):
        ids_a, va = a.vectors(name)
        ids_b, vb = b.vectors(name)
        by_path_a = {p: v.tobytes() for p, v in zip(a.paths(ids_a), va, strict=True)}
        by_path_b = {p: v.tobytes() for p, v in zip(b.paths(ids_b), vb, strict=True)}
        assert by_path_a == by_path_b
    indexed = [r.path for r in a.records(status="ok")]
    ids_a, ids_b = a.ids_of(indexed), b.ids_of(indexed)
    fa, fb = a.local_features(ids_a), b.local_features(ids_b)
    assert len(fa) == len(fb) == 10
    for i, j in zip(ids_a, ids_b, strict=True):
        assert np.array_equal(fa[int(i)].keypoints, fb[int(j)].keypoints)
        assert np.array_equal(fa[int(i)].descriptors, fb[int(j)].descriptors)


def _search(index: str, query: Path) -> list[tuple[str, float]]:
    code, out, err = run_cli("search", str(query), "--index", index, "--top", "5", "--json")
    assert code == 0, err
    [line] = out.splitlines()  # JSON Lines: one query
    return [(hit["path"], hit["similarity"]) for hit in json.loads(line)["results"]]


def test_export_then_import_gives_the_same_index(built: Path, tmp_path: Path) -> None:
    with Index.open(built / "idx") as source:
        summary = export_index(source, tmp_path / "out")
        assert (summary["files"], summary["errors"]) == (10, 1)
        with pytest.raises(ParameterError, match="not an empty folder"):
            export_index(source, tmp_path / "out")
        with import_index(tmp_path / "out", tmp_path / "copy") as copy:
            _same_index(source, copy)
            vectors = source.vectors("embedding")[1]
            got, want = copy.search_vectors(vectors, 4), source.search_vectors(vectors, 4)
            np.testing.assert_array_equal(got[0], want[0])
            assert [copy.paths(r) for r in got[1]] == [source.paths(r) for r in want[1]]
    query = built / "images" / f"{PHOTOS[2]}-crop.jpg"
    assert _search(str(tmp_path / "copy"), query) == _search(str(built / "idx"), query)


def test_the_cli_moves_an_index_onto_milvus_lite(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'lookalike[scale]'")
    code, out, err = run_cli("index", "export", "--index", str(built / "idx"), str(tmp_path / "out"))
    assert code == 0 and "exported 10 images (1 unreadable)" in out, err
    code, out, err = run_cli("index", "import", str(tmp_path / "out"), "--index", str(tmp_path / "m"),
                             "--vectors", f"milvus-lite://{tmp_path}/m.db")
    assert code == 0 and "10 images" in out, err
    with Index.open(tmp_path / "m") as moved, Index.open(built / "idx") as source:
        assert moved.info().stores["embedding"]["backend"] == "milvus"
        _same_index(source, moved)
    query = built / "images" / f"{PHOTOS[0]}-crop.jpg"
    got, want = _search(str(tmp_path / "m"), query), _search(str(built / "idx"), query)
    assert [p for p, _ in got] == [p for p, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-4)


def test_a_damaged_export_is_refused(built: Path, tmp_path: Path) -> None:
    with Index.open(built / "idx") as source:
        export_index(source, tmp_path / "out")
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "out", damaged)
    data = (damaged / "embedding.npz").read_bytes()
    (damaged / "embedding.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="damaged"):
        import_index(damaged, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    summary = json.loads((tmp_path / "out" / "export.json").read_text())
    summary["format_version"] = 99
    (tmp_path / "out" / "export.json").write_text(json.dumps(summary))
    with pytest.raises(IndexFormatError, match="upgrade lookalike"):
        import_index(tmp_path / "out", tmp_path / "y")


def test_an_export_missing_a_descriptor_is_named_and_leaves_no_half_imported_index(built: Path, tmp_path: Path) -> None:
    """Checksums right, but a row's descriptor missing: the message said "has no 7 descriptor" (the KeyError's
    id) and the half-imported index stayed on disk, against import_index's promise."""
    import hashlib

    with Index.open(built / "idx") as source:
        export_index(source, tmp_path / "out")
    out = tmp_path / "out"
    with np.load(out / "phash.npz") as data:
        ids, vectors = data["ids"], data["vectors"]
    np.savez(out / "phash.npz", ids=ids[1:], vectors=vectors[1:])
    summary = json.loads((out / "export.json").read_text())
    summary["checksums"]["phash.npz"] = hashlib.sha256((out / "phash.npz").read_bytes()).hexdigest()
    (out / "export.json").write_text(json.dumps(summary))
    with pytest.raises(IndexFormatError, match="has no phash descriptor for"):
        import_index(out, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()  # an empty folder given: it stays, empty
    with pytest.raises(IndexFormatError, match="has no phash descriptor for"):
        import_index(out, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
